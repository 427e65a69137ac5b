"""The queue report's callback columns: what became of the callbacks the callers of each
queue and interval asked for (or were listed for), and how long they waited for one.

Counted from the callback list (`callback_entries` and their attempts: fed from the books'
abandoned stints, the IVR's requests and the dialplan's PBXCTLCBRESULT lines), one small
GROUP BY of its own beside the stints' sums. An entry counts in the queue it is for and
the interval of its first call (the request): a callback made the next morning still
counts for the evening the customer called. Weekday and time-of-day filters look at that
first call too.

- listed: entries made (abandoned calls past `min_wait`, IVR requests, callers who left
  the queue for a callback); the same number again while pending is one entry.
- completed: of those, answered by a callback (the customer answered, and accepted where
  an accept key is asked).
- failed: unanswered after the last attempt, or the number refused by the outbound policy.
- avg_time_to_callback: average over the entries with a dialled attempt of (the first
  attempt's dialling − the first call); avg_time_to_answered_callback: average over the
  completed ones of (the answer of the answered attempt − the first call). Seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from pbxctl.books.queue_report import ALL_QUEUES
from pbxctl.books.report_window import ReportWindow

COLUMNS = ("callbacks_listed", "callbacks_completed", "callbacks_failed", "avg_time_to_callback",
           "avg_time_to_answered_callback")
DEFINITIONS = {
    "callbacks_listed": "callback list entries made for the queue's callers, counted in the interval of the "
    "entry's first call (abandoned calls past min_wait, IVR requests, callers who left for a callback; one per "
    "number while pending)",
    "callbacks_completed": "of those, answered by a callback",
    "callbacks_failed": "of those, unanswered after the last attempt, or the number refused",
    "avg_time_to_callback": "average of (first dialled attempt - first call) over the entries with one, seconds",
    "avg_time_to_answered_callback": "average of (answer of the answered attempt - first call) over completed "
    "entries, seconds",
}


@dataclass
class CallbackTally:
    listed: int = 0
    completed: int = 0
    failed: int = 0
    tried: int = 0              # entries with a dialled attempt
    to_first_sum: float = 0.0   # their (first attempt - first call)
    to_answer_sum: float = 0.0  # completed entries' (answer - first call)

    def add(self, other: "CallbackTally") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def tally_callbacks(engine: Engine, window: ReportWindow, queues: list[str],
                    node: str | None = None) -> dict[tuple[str, int], CallbackTally]:
    """{(queue, local unit of the first call): tally}. With `node`, the entries with a call
    of that node."""
    params: dict = {"start": window.start_epoch, "end": window.end_epoch, "queues": list(queues)}
    on_node = ""
    if node is not None:
        params["node"] = node
        on_node = " AND EXISTS (SELECT 1 FROM callback_calls c WHERE c.entry_id = e.id AND c.node = :node)"
    entries = f"""
        SELECT e.queue AS queue, {window.sql_unit("e.first_call_at")} AS unit, e.status AS status,
               e.first_call_at AS first_call,
               (SELECT MIN(COALESCE(a.started_at, a.at)) FROM callback_attempts a
                WHERE a.entry_id = e.id AND a.result <> 'refused') AS first_try,
               (SELECT MIN(COALESCE(a.answered_at, a.at)) FROM callback_attempts a
                WHERE a.entry_id = e.id AND a.result = 'answered') AS answered
        FROM callback_entries e
        WHERE e.first_call_at >= :start AND e.first_call_at < :end AND e.queue IN :queues
              {window.sql_filters("e.first_call_at")}{on_node}
    """
    query = text(f"""
        SELECT x.queue, x.unit, COUNT(*),
               SUM(CASE WHEN x.status = 'answered' THEN 1 ELSE 0 END),
               SUM(CASE WHEN x.status = 'unanswered' THEN 1 ELSE 0 END),
               COUNT(x.first_try), SUM(x.first_try - x.first_call),
               SUM(CASE WHEN x.status = 'answered' THEN x.answered - x.first_call ELSE 0 END)
        FROM ({entries}) x GROUP BY x.queue, x.unit
    """).bindparams(bindparam("queues", expanding=True))
    with engine.connect() as conn:
        return {(queue, int(unit)): CallbackTally(int(n), int(done or 0), int(failed or 0), int(tried or 0),
                                                  float(to_first or 0), float(to_answer or 0))
                for queue, unit, n, done, failed, tried, to_first, to_answer in conn.execute(query, params)}


def _avg(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None


def columns(t: CallbackTally) -> dict:
    return {
        "callbacks_listed": t.listed,
        "callbacks_completed": t.completed,
        "callbacks_failed": t.failed,
        "avg_time_to_callback": _avg(t.to_first_sum, t.tried),
        "avg_time_to_answered_callback": _avg(t.to_answer_sum, t.completed),
    }


def with_callbacks(doc: dict, tallies: dict[tuple[str, int], CallbackTally], window: ReportWindow) -> dict:
    """The queue report `doc` with the callback columns on every row and total."""
    cells: dict[tuple[str, str], CallbackTally] = {}
    wanted = set(doc["queues"])
    for (queue, unit), t in tallies.items():
        if queue not in wanted:
            continue
        for interval in (window.label_of_unit(unit), "total"):
            for name in (queue, ALL_QUEUES):
                cells.setdefault((interval, name), CallbackTally()).add(t)
    empty = CallbackTally()
    for row in (*doc["rows"], *doc["totals"]):
        row.update(columns(cells.get((row["interval"], row["queue"]), empty)))
    doc["definitions"] = {**doc["definitions"], **DEFINITIONS}
    return doc
