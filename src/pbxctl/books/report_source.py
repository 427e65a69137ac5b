"""Reading the books for the reports: SQL sums for the queue report, rows for the rest.

The queue report over a month of a million calls is summed by the database (three GROUP
BYs: stints, agent legs, callback requests), into the same tallies `queue_tally.tally_rows`
computes in Python; the agent report and the call log read the window's rows into
`report_rows` dataclasses. Only SQL both SQLite and PostgreSQL run alike.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from pbxctl.books.agent_time import ALL_QUEUES, intervals
from pbxctl.books.queue_tally import CALLBACK, TALK, WAIT_BINS, Tally, TallyKey
from pbxctl.books.report_rows import AgentLeg, AgentSpan, Books, Call, CallEvent, RingAttempt, Stint
from pbxctl.books.report_window import ReportWindow

DEFAULT_SERVICE_LEVEL = 20
# Legs of an agent are ordered over this much more than the window, so the wrap-up of the
# window's last call is still cut short by a next call just after the window.
_NEXT_CALL_MARGIN = 86400

_TRANSFER_KINDS = {"blind": "transfer_blind", "attended": "transfer_attended", "with_return": "transfer_with_return",
                   "returned": "returned"}
_PBXCTL_KINDS = {"PBXCTLCONF": "conference", "PBXCTLHELP": "help", "PBXCTLCALLBACK": "callback"}


def _sl_case(service_levels: dict[str, int], params: dict) -> str:
    whens = []
    for i, (queue, seconds) in enumerate(sorted(service_levels.items())):
        params[f"slq{i}"], params[f"sls{i}"] = queue, seconds
        whens.append(f"WHEN :slq{i} THEN :sls{i}")
    if not whens:
        return str(DEFAULT_SERVICE_LEVEL)
    return f"CASE s.queue {' '.join(whens)} ELSE {DEFAULT_SERVICE_LEVEL} END"


def _node_filter(alias: str, node: str | None, params: dict) -> str:
    if node is None:
        return ""
    params["node"] = node
    return f" AND {alias}.node = :node"


def tally_books(
    engine: Engine,
    window: ReportWindow,
    queues: list[str],
    service_levels: dict[str, int],
    short_abandon: int,
    node: str | None = None,
) -> dict[TallyKey, Tally]:
    """`queue_tally.tally_rows` in SQL: the database groups by local hour/day itself."""
    params: dict = {"start": window.start_epoch, "end": window.end_epoch, "short": short_abandon,
                    "queues": list(queues)}
    sl = _sl_case({q: service_levels.get(q, DEFAULT_SERVICE_LEVEL) for q in queues}, params)
    bins = ", ".join(
        f"SUM(CASE WHEN s.wait_seconds >= {lo} AND s.wait_seconds < {hi} THEN 1 ELSE 0 END)"
        for lo, hi in zip((0, *WAIT_BINS), (*WAIT_BINS, 1 << 40))
    )
    unit = window.sql_unit("s.entered_at")
    stints = text(
        f"""
        SELECT s.queue, {unit} AS unit, s.outcome, COALESCE(s.exit_to, ''), COALESCE(c.entry, ''), COUNT(*),
               SUM(CASE WHEN s.wait_seconds <= {sl} THEN 1 ELSE 0 END),
               SUM(CASE WHEN s.outcome = 'abandoned' AND s.wait_seconds < :short THEN 1 ELSE 0 END),
               SUM(s.wait_seconds), MAX(s.wait_seconds), {bins}
        FROM books_queue_stints s
        LEFT JOIN books_calls c ON c.node = s.node AND c.callid = s.callid
        WHERE s.entered_at >= :start AND s.entered_at < :end AND s.queue IN :queues
              {window.sql_filters("s.entered_at")}{_node_filter('s', node, params)}
        GROUP BY s.queue, {unit}, s.outcome, COALESCE(s.exit_to, ''), COALESCE(c.entry, '')
        """
    ).bindparams(bindparam("queues", expanding=True))
    # Wrap-up is cut short by the agent's next call: LEAD over the agent's legs, ordered
    # a day past the window so the window's last calls see their successor.
    legs = text(
        f"""
        SELECT l.queue, {window.sql_unit("l.entered_at")} AS unit, COUNT(*), SUM(l.talk_seconds),
               SUM(CASE WHEN l.wrapup_seconds IS NULL THEN 0
                        WHEN l.next_at IS NOT NULL AND l.next_at - l.ended_at < l.wrapup_seconds
                             THEN CASE WHEN l.next_at > l.ended_at THEN l.next_at - l.ended_at ELSE 0 END
                        ELSE l.wrapup_seconds END)
        FROM (
            SELECT node, queue, entered_at, ended_at, talk_seconds, wrapup_seconds,
                   LEAD(connected_at) OVER (PARTITION BY node, agent ORDER BY connected_at) AS next_at
            FROM books_agent_legs
            WHERE entered_at >= :start AND entered_at < :end + {_NEXT_CALL_MARGIN}
        ) l
        WHERE l.entered_at >= :start AND l.entered_at < :end AND l.queue IN :queues
              {window.sql_filters("l.entered_at")}{_node_filter('l', node, params)}
        GROUP BY l.queue, {window.sql_unit("l.entered_at")}
        """
    ).bindparams(bindparam("queues", expanding=True))
    callbacks = text(
        f"""
        SELECT e.queue, {window.sql_unit("e.at")} AS unit, COUNT(*) FROM books_pbxctl_events e
        WHERE e.event = 'PBXCTLCALLBACK' AND e.at >= :start AND e.at < :end AND e.queue IN :queues
              {window.sql_filters("e.at")}{_node_filter('e', node, params)}
        GROUP BY e.queue, {window.sql_unit("e.at")}
        """
    ).bindparams(bindparam("queues", expanding=True))
    out: dict[TallyKey, Tally] = {}
    with engine.connect() as conn:
        for row in conn.execute(stints, params):
            queue, unit_, outcome, exit_to, entry, n, in_sl, short, wait_sum, wait_max = row[:10]
            out[TallyKey(queue, int(unit_), outcome, exit_to, entry)] = Tally(
                n=n, in_sl=int(in_sl), short=int(short), wait_sum=float(wait_sum), wait_max=float(wait_max),
                bins=[int(b) for b in row[10:]])
        for queue, unit_, n, talk_sum, wrapup_sum in conn.execute(legs, params):
            t = out.setdefault(TallyKey(queue, int(unit_), TALK), Tally())
            t.talked, t.talk_sum, t.wrapup_sum = n, float(talk_sum or 0), float(wrapup_sum or 0)
        for queue, unit_, n in conn.execute(callbacks, params):
            out.setdefault(TallyKey(queue, int(unit_), CALLBACK), Tally()).callbacks = n
    return out


def capped_wrapups(legs: list[tuple]) -> dict[tuple, float]:
    """(node, callid, member, connected_at) -> wrap-up seconds, cut short by the agent's next call.

    `legs`: (node, agent, callid, member, connected_at, ended_at, wrapup_seconds)."""
    by_agent: dict[tuple, list] = defaultdict(list)
    for leg in legs:
        by_agent[(leg[0], leg[1])].append(leg)
    out = {}
    for rows in by_agent.values():
        rows.sort(key=lambda r: r[4])
        for i, (node, _agent, callid, member, connected, ended, wrapup) in enumerate(rows):
            w = wrapup or 0
            if wrapup is not None and i + 1 < len(rows) and rows[i + 1][4] - ended < w:
                w = max(0, rows[i + 1][4] - ended)
            out[(node, callid, member, connected)] = float(w)
    return out


def load_books(engine: Engine, window: ReportWindow, node: str | None = None) -> Books:
    """Every row of the calls that started in the window (the call log, the agent report)."""
    params: dict = {"start": window.start_epoch, "end": window.end_epoch, "margin": _NEXT_CALL_MARGIN}
    nodes = _node_filter("c", node, params)
    in_calls = f"SELECT c.node, c.callid FROM books_calls c WHERE c.started_at >= :start AND c.started_at < :end{nodes}"
    books = Books()
    with engine.connect() as conn:
        ivr: dict[tuple, list[str]] = defaultdict(list)
        events = conn.execute(text(
            f"SELECT e.node, e.callid, e.at, e.event, e.data, e.queue, e.agent FROM books_pbxctl_events e "
            f"JOIN ({in_calls}) w ON w.node = e.node AND w.callid = e.callid ORDER BY e.at"), params)
        for n, callid, at, event, data, queue, agent in events:
            if event == "PBXCTLIVR":
                parts = (data.split("|") + ["", "", ""])[:3]
                ivr[(n, callid)].append(f"{parts[0]}:{parts[1]}={parts[2]}")
            elif event in _PBXCTL_KINDS:
                books.events.append(CallEvent(callid, at, _PBXCTL_KINDS[event], agent or None, queue or None,
                                              detail=data or None))
        for n, callid, started, ended, number, name, entry in conn.execute(text(
                "SELECT c.node, c.callid, c.started_at, c.ended_at, c.caller_number, c.caller_name, c.entry "
                f"FROM books_calls c WHERE c.started_at >= :start AND c.started_at < :end{nodes}"), params):
            books.calls.append(Call(callid, started, ended, number, name, entry, " > ".join(ivr.get((n, callid), []))
                                    or None, n))
        entries = {c.call_id: c.entry_number for c in books.calls}
        for callid, queue, entered, outcome, wait, agent, exit_to in conn.execute(text(
                "SELECT s.callid, s.queue, s.entered_at, s.outcome, s.wait_seconds, s.agent, s.exit_to "
                f"FROM books_queue_stints s JOIN ({in_calls}) w ON w.node = s.node AND w.callid = s.callid"), params):
            books.stints.append(Stint(callid, queue, entered, outcome, float(wait), agent, exit_to, entries.get(callid)))
        for callid, queue, agent, at, outcome, ring in conn.execute(text(
                "SELECT r.callid, r.queue, r.agent, r.at, r.outcome, r.ring_seconds "
                f"FROM books_agent_rings r JOIN ({in_calls}) w ON w.node = r.node AND w.callid = r.callid"), params):
            books.rings.append(RingAttempt(callid, queue, agent, at, float(ring), outcome == "answered"))
        legs = list(conn.execute(text(
            "SELECT l.node, l.agent, l.callid, l.member, l.connected_at, l.ended_at, l.wrapup_seconds, l.queue, "
            "l.talk_seconds, l.entered_at FROM books_agent_legs l "
            "WHERE l.entered_at >= :start AND l.entered_at < :end + :margin" + _node_filter("l", node, params)), params))
        wrapups = capped_wrapups([leg[:7] for leg in legs])
        wanted = {(c.node, c.call_id) for c in books.calls}
        for n, agent, callid, member, connected, _ended, _w, queue, talk, entered in legs:
            if (n, callid) in wanted:
                books.legs.append(AgentLeg(callid, agent, queue, connected, float(talk),
                                           wrapups[(n, callid, member, connected)], entered))
        for callid, at, kind, queue, agent, target in conn.execute(text(
                "SELECT t.callid, t.at, t.kind, t.queue, t.agent, t.target "
                f"FROM books_transfers t JOIN ({in_calls}) w ON w.node = t.node AND w.callid = t.callid"), params):
            books.events.append(CallEvent(callid, at, _TRANSFER_KINDS.get(kind, kind), agent or None, queue or None,
                                          target or None))
    return books


def load_spans(engine: Engine, window: ReportWindow, node: str | None = None) -> list[AgentSpan]:
    """Login and pause spans overlapping the window, from books_agent_events
    (paired by `agent_time.intervals`)."""
    params: dict = {"end": window.end_epoch}
    query = text(
        "SELECT a.at, a.queue, a.event, a.agent, a.reason FROM books_agent_events a "
        f"WHERE a.at < :end{_node_filter('a', node, params)}"
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query, params))
    return [
        AgentSpan(i.agent, i.start, i.end, None if i.queue == ALL_QUEUES else i.queue,
                  i.reason if i.kind == "pause" else None)
        for i in intervals(rows, window.start_epoch, window.end_epoch)
    ]
