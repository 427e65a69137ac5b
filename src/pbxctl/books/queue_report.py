"""The queue report: per queue and interval, what happened to the callers offered to it.

A pure function of the quarter-hour tallies (queue_tally.py) and the report window.

Counting a call that visits several queues (overflow A→B, a transfer into another queue):
each queue counts its own stint — the caller is offered, and timed out, in A (overflowed
to queue:B) and offered, and answered or not, in B (overflow_in); an agent of A who
transfers the caller into B leaves A's stint answered (transferred to queue:B) and B
counts it offered (transfer_in). The "all queues" rows add the stints up; offered −
overflow_in − transfer_in there is the number of callers.
"""

from __future__ import annotations

from collections import Counter

from pbxctl.books.queue_tally import ASTERISK_ABANDONED, Tally, TallyKey, wait_bin_labels
from pbxctl.books.report_window import ReportWindow

ALL_QUEUES = "(all queues)"

DEFINITIONS = {
    "service_level": "answered_in_sl / (offered - short_abandoned) x 100: answered within the queue's "
    "service_level seconds, over every caller who entered the queue (answered, abandoned, timed out, "
    "left when empty, other) except abandons shorter than short_abandon seconds",
    "asterisk_sl": "Asterisk ServiceLevelPerf = callscompletedinsl / callscompleted x 100: answered within "
    "the service level over answered calls only",
    "asterisk_sl2": "Asterisk ServiceLevelPerf2 = (callscompletedinsl + callsabandonedinsl) / "
    "(callscompleted + callsabandoned) x 100: answered or given up within the service level, over answered "
    "and abandoned; app_queue counts timeouts and leave-when-empty as abandoned too",
    "wait": "seconds from entering the queue until answered or leaving it; within SL means wait <= service_level",
    "offered": "callers who entered the queue (callers refused at the door are `refused`, not offered)",
    "transferred": "answered callers an agent transferred into another queue (blind or attended)",
}
MULTI_STINT = (
    "a call that overflows from queue A into queue B is offered in both: A counts it timed out (or exit_empty) "
    "and overflowed to queue:B, B counts it offered and how it ended there (overflow_in). A caller an agent of A "
    "transfers into B is answered in A (transferred to queue:B) and offered in B (transfer_in). The all-queues "
    "row adds the stints up; callers = offered - overflow_in - transfer_in"
)


class _Cell:
    """One (interval, queue) of the report, summed from its tallies. Plain attributes and
    few objects: a month by hour adds up tens of thousands of tallies."""

    __slots__ = ("by_outcome", "n", "wait_sum", "wait_max", "short", "talked", "talk_sum", "wrapup_sum", "callbacks",
                 "answered", "answered_in_sl", "answered_wait", "ab_n", "ab_in_sl", "overflow_to", "transferred_to",
                 "entries", "exits",
                 "bins_answered", "bins_unanswered")

    def __init__(self) -> None:
        self.by_outcome: Counter = Counter()
        self.n = self.short = self.talked = self.callbacks = 0
        self.answered = self.answered_in_sl = self.ab_n = self.ab_in_sl = 0
        self.wait_sum = self.wait_max = self.talk_sum = self.wrapup_sum = self.answered_wait = 0.0
        self.overflow_to: Counter = Counter()
        self.transferred_to: Counter = Counter()
        self.entries: Counter = Counter()
        self.exits: Counter = Counter()
        self.bins_answered = [0] * len(wait_bin_labels())
        self.bins_unanswered = [0] * len(wait_bin_labels())

    def add(self, key: TallyKey, t: Tally) -> None:
        self.talked += t.talked
        self.talk_sum += t.talk_sum
        self.wrapup_sum += t.wrapup_sum
        self.callbacks += t.callbacks
        if not t.n:
            return
        outcome, exit_to = key.outcome, key.exit_to
        self.by_outcome[outcome] += t.n
        # Overflow is being sent on to somewhere else; a hang-up ends the call there
        # (it still shows in the exit paths).
        if exit_to and exit_to != "hangup" and outcome != "answered":
            self.overflow_to[exit_to] += t.n
        elif exit_to and outcome == "answered":   # an agent transferred the caller on
            self.transferred_to[exit_to] += t.n
        self.exits[outcome + (f" -> {exit_to}" if exit_to and outcome != "answered" else "")] += t.n
        if outcome == "refused":
            return
        self.n += t.n
        self.wait_sum += t.wait_sum
        if t.wait_max > self.wait_max:
            self.wait_max = t.wait_max
        self.short += t.short
        self.entries[key.entry or "(unknown)"] += t.n
        bins = self.bins_answered if outcome == "answered" else self.bins_unanswered
        for i, count in enumerate(t.bins):
            bins[i] += count
        if outcome == "answered":
            self.answered += t.n
            self.answered_in_sl += t.in_sl
            self.answered_wait += t.wait_sum
        elif outcome in ASTERISK_ABANDONED:
            self.ab_n += t.n
            self.ab_in_sl += t.in_sl


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole > 0 else None


def _avg(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None


def _row(interval: str, queue: str, cell: _Cell, overflow_in: int, transfer_in: int) -> dict:
    offered, answered, o = cell.n, cell.answered, cell.by_outcome
    return {
        "interval": interval,
        "queue": queue,
        "offered": offered,
        "answered": answered,
        "answered_in_sl": cell.answered_in_sl,
        "abandoned": o["abandoned"],
        "short_abandoned": cell.short,
        "timed_out": o["timed_out"],
        "exit_empty": o["exit_empty"],
        "exit_key": o["exit_key"],
        "refused": o["refused"],
        "lost": o["lost"],
        "overflowed": sum(cell.overflow_to.values()),
        "overflow_to": dict(sorted(cell.overflow_to.items())),
        "overflow_in": overflow_in,
        "transferred": sum(cell.transferred_to.values()),
        "transferred_to": dict(sorted(cell.transferred_to.items())),
        "transfer_in": transfer_in,
        "callers": offered - overflow_in - transfer_in,
        "callbacks_requested": cell.callbacks,
        "service_level_pct": _pct(cell.answered_in_sl, offered - cell.short),
        "asterisk_sl_pct": _pct(cell.answered_in_sl, answered),
        "asterisk_sl2_pct": _pct(cell.answered_in_sl + cell.ab_in_sl, answered + cell.ab_n),
        "avg_wait": _avg(cell.wait_sum, offered),
        "avg_wait_answered": _avg(cell.answered_wait, answered),
        "longest_wait": round(cell.wait_max, 1) if offered else None,
        "avg_talk": _avg(cell.talk_sum, cell.talked),
        "avg_wrapup": _avg(cell.wrapup_sum, cell.talked),
        "entry_paths": dict(cell.entries.most_common()),
        "exit_paths": dict(cell.exits.most_common()),
    }


def _came_in(cells: dict, interval: str, queues: list[str], sent: str) -> dict[str, int]:
    """Stints each queue got from the other selected queues, by overflow (`sent` =
    "overflow_to") or by an agent's transfer ("transferred_to")."""
    into = {q: 0 for q in queues}
    for q in queues:
        if (interval, q) not in cells:
            continue
        for dest, n in getattr(cells[(interval, q)], sent).items():
            target = dest.removeprefix("queue:")
            if dest.startswith("queue:") and target in into:
                into[target] += n
    into[ALL_QUEUES] = sum(into.values())
    return into


def queue_report(
    tallies: dict[TallyKey, Tally],
    window: ReportWindow,
    queues: list[str],
    service_levels: dict[str, int],
    short_abandon: int,
    target_pct: float,
) -> dict:
    """The report document (JSON-ready). `queues`: the queues to show, in order. The
    tallies are already filtered by the window (its range, weekdays, time of day)."""
    wanted = set(queues)
    cells: dict[tuple[str, str], _Cell] = {}
    labels: dict[int, str] = {}
    for key, t in tallies.items():
        if key.queue not in wanted:
            continue
        bucket = labels.get(key.unit)
        if bucket is None:
            bucket = labels[key.unit] = window.label_of_unit(key.unit)
        for interval in {bucket, "total"}:
            for queue in (key.queue, ALL_QUEUES):
                cell = cells.get((interval, queue))
                if cell is None:
                    cell = cells[(interval, queue)] = _Cell()
                cell.add(key, t)
    order = [*queues, ALL_QUEUES]
    empty = _Cell()

    def rows_of(interval: str) -> list[dict]:
        overflowed = _came_in(cells, interval, queues, "overflow_to")
        transferred = _came_in(cells, interval, queues, "transferred_to")
        return [_row(interval, q, cells.get((interval, q), empty), overflowed[q], transferred[q]) for q in order]

    rows = [row for interval in window.buckets() for row in rows_of(interval)]
    totals = rows_of("total")
    every = cells.get(("total", ALL_QUEUES), empty)
    return {
        "report": "queues",
        "window": window.describe(),
        "queues": {q: {"service_level": service_levels.get(q, 20)} for q in queues},
        "short_abandon": short_abandon,
        "service_level_target_pct": target_pct,
        "definitions": DEFINITIONS,
        "multi_stint": MULTI_STINT,
        "rows": rows,
        "totals": totals,
        "wait_distribution": {"bins": wait_bin_labels(), "answered": every.bins_answered,
                              "unanswered": every.bins_unanswered},
    }
