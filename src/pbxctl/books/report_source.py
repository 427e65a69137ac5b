"""Reading the books for the reports: SQL sums for the queue report, rows for the rest.

The queue report over a month of a million calls is summed by the database (three GROUP
BYs over one table each: the quarter-hour sums of stints and of agent legs the ingestor
keeps, callback requests; or the stints and legs themselves when the sums cannot answer),
into the same tallies `queue_tally.tally_rows` computes in Python; the agent report and the call log read the
window's rows into `report_rows` dataclasses. Only SQL both SQLite and PostgreSQL run
alike. What would need a join or a window function — a stint's entry number, a leg's
wrap-up cut at the agent's next call — the ingestor stores on the row (`store.py`).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Mapping

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from pbxctl.books.agent_time import ALL_QUEUES, PBX_START, intervals, static_logins
from pbxctl.books.callback_line import EVENT as CALLBACK_RESULT, describe_result
from pbxctl.books.quarter_sums import BIN_COLUMNS, Thresholds
from pbxctl.books.queue_tally import CALLBACK, DEFAULT_SERVICE_LEVEL, TALK, WAIT_BINS, Tally, TallyKey
from pbxctl.books.report_rows import AgentLeg, AgentSpan, Books, Call, CallEvent, RingAttempt, Stint
from pbxctl.books.report_window import ReportWindow

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
    """`queue_tally.tally_rows` in SQL: from the quarter-hour sums when they can answer
    (`tally_quarters`), else from the stints and legs themselves (`tally_scan`)."""
    found = tally_quarters(engine, window, queues, service_levels, short_abandon, node)
    if found is None:
        found = tally_scan(engine, window, queues, service_levels, short_abandon, node)
    return found


def _bins(column: str) -> str:
    return ", ".join(f"SUM(CASE WHEN {column} >= {lo} AND {column} < {hi} THEN 1 ELSE 0 END)"
                     for lo, hi in zip((0, *WAIT_BINS), (*WAIT_BINS, 1 << 40)))


def _callbacks(window: ReportWindow, node: str | None, params: dict):
    return text(
        f"""
        SELECT e.queue, {window.sql_unit("e.at")} AS unit, COUNT(*) FROM books_pbxctl_events e
        WHERE e.event = 'PBXCTLCALLBACK' AND e.at >= :start AND e.at < :end AND e.queue IN :queues
              {window.sql_filters("e.at")}{_node_filter('e', node, params)}
        GROUP BY e.queue, {window.sql_unit("e.at")}
        """
    ).bindparams(bindparam("queues", expanding=True))


@contextmanager
def _report_connection(engine: Engine):
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # PostgreSQL guesses ~10^5 groups for GROUP BYs over expressions (it has no
            # statistics for a local day) where a month has a few thousand, and then sorts
            # a million rows (on disk) instead of hashing them: 2-3x slower. Hashing spills
            # to disk by itself if there ever were that many groups. Only this transaction.
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
        yield conn


def _tallies(conn: Connection, stint_rows: Iterable, legs, callbacks, params: dict) -> dict[TallyKey, Tally]:
    """The stints' groups (queue, unit, outcome, exit, entry, n, in SL, short, wait sum and
    max, bins…), then the legs' and the callbacks' (the two queries run here)."""
    out: dict[TallyKey, Tally] = {}
    for row in stint_rows:
        queue, unit_, outcome, exit_to, entry, n, in_sl, short, wait_sum, wait_max = row[:10]
        out[TallyKey(queue, int(unit_), outcome, exit_to, entry)] = Tally(
            n=int(n), in_sl=int(in_sl), short=int(short), wait_sum=float(wait_sum), wait_max=float(wait_max),
            bins=[int(b) for b in row[10:]])
    for queue, unit_, n, talk_sum, wrapup_sum in conn.execute(legs, params):
        t = out.setdefault(TallyKey(queue, int(unit_), TALK), Tally())
        t.talked, t.talk_sum, t.wrapup_sum = int(n), float(talk_sum or 0), float(wrapup_sum or 0)
    for queue, unit_, n in conn.execute(callbacks, params):
        out.setdefault(TallyKey(queue, int(unit_), CALLBACK), Tally()).callbacks = n
    return out


def tally_scan(
    engine: Engine,
    window: ReportWindow,
    queues: list[str],
    service_levels: dict[str, int],
    short_abandon: int,
    node: str | None = None,
) -> dict[TallyKey, Tally]:
    """The tallies from every stint and leg of the window (any window, any thresholds)."""
    params: dict = {"start": window.start_epoch, "end": window.end_epoch, "short": short_abandon,
                    "queues": list(queues)}
    sl = _sl_case({q: service_levels.get(q, DEFAULT_SERVICE_LEVEL) for q in queues}, params)
    unit = window.sql_unit("s.entered_at")
    stints = text(
        f"""
        SELECT s.queue, {unit} AS unit, s.outcome, COALESCE(s.exit_to, ''), COALESCE(s.entry, ''), COUNT(*),
               SUM(CASE WHEN s.wait_seconds <= {sl} THEN 1 ELSE 0 END),
               SUM(CASE WHEN s.outcome = 'abandoned' AND s.wait_seconds < :short THEN 1 ELSE 0 END),
               SUM(s.wait_seconds), MAX(s.wait_seconds), {_bins("s.wait_seconds")}
        FROM books_queue_stints s
        WHERE s.entered_at >= :start AND s.entered_at < :end AND s.queue IN :queues
              {window.sql_filters("s.entered_at")}{_node_filter('s', node, params)}
        GROUP BY s.queue, {unit}, s.outcome, COALESCE(s.exit_to, ''), COALESCE(s.entry, '')
        """
    ).bindparams(bindparam("queues", expanding=True))
    legs = text(
        f"""
        SELECT l.queue, {window.sql_unit("l.entered_at")} AS unit, COUNT(*), SUM(l.talk_seconds),
               SUM(COALESCE(l.wrapup_cut_seconds, 0))
        FROM books_agent_legs l
        WHERE l.entered_at >= :start AND l.entered_at < :end AND l.queue IN :queues
              {window.sql_filters("l.entered_at")}{_node_filter('l', node, params)}
        GROUP BY l.queue, {window.sql_unit("l.entered_at")}
        """
    ).bindparams(bindparam("queues", expanding=True))
    with _report_connection(engine) as conn:
        return _tallies(conn, conn.execute(stints, params), legs, _callbacks(window, node, params), params)


def tally_quarters(
    engine: Engine,
    window: ReportWindow,
    queues: list[str],
    service_levels: dict[str, int],
    short_abandon: int,
    node: str | None = None,
) -> dict[TallyKey, Tally] | None:
    """The tallies from the quarter-hour sums (books_queue_quarters, books_leg_quarters),
    or None when they cannot give them: a window or time-of-day filter not on whole
    quarter hours (or a timezone offset that is not: historical local mean times), or sums
    counted with other thresholds than these (a queue's service level, short_abandon)."""
    if not window.on_quarter_hours():
        return None
    params: dict = {"start": window.start_epoch, "end": window.end_epoch, "queues": list(queues)}
    unit = window.sql_unit("q.quarter")
    where = (f"q.quarter >= :start AND q.quarter < :end AND q.queue IN :queues "
             f"{window.sql_filters('q.quarter')}{_node_filter('q', node, params)}")
    stints = text(
        f"""
        SELECT q.queue, {unit} AS unit, q.outcome, q.exit_to, q.entry, q.sl_seconds, q.short_seconds,
               SUM(q.stints), SUM(q.in_sl), SUM(q.short), SUM(q.wait_sum), MAX(q.wait_max),
               {", ".join(f"SUM(q.{b})" for b in BIN_COLUMNS)}
        FROM books_queue_quarters q WHERE {where}
        GROUP BY q.queue, {unit}, q.outcome, q.exit_to, q.entry, q.sl_seconds, q.short_seconds
        """
    ).bindparams(bindparam("queues", expanding=True))
    legs = text(
        f"""
        SELECT q.queue, {unit} AS unit, SUM(q.legs), SUM(q.talk_sum), SUM(q.wrapup_sum)
        FROM books_leg_quarters q WHERE {where} GROUP BY q.queue, {unit}
        """
    ).bindparams(bindparam("queues", expanding=True))
    wanted = {q: Thresholds(service_levels, short_abandon).of(q) for q in queues}
    with _report_connection(engine) as conn:
        rows = conn.execute(stints, params).fetchall()
        if any((row[5], row[6]) != wanted[row[0]] for row in rows):
            return None
        return _tallies(conn, [(*row[:5], *row[7:]) for row in rows], legs, _callbacks(window, node, params), params)


def load_books(engine: Engine, window: ReportWindow, node: str | None = None) -> Books:
    """Every row of the calls that started in the window (the call log, the agent report)."""
    params: dict = {"start": window.start_epoch, "end": window.end_epoch}
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
            elif event == CALLBACK_RESULT:  # the callback call, linked: its uniqueid and how it went
                call, detail = describe_result(data, at)
                books.events.append(CallEvent(callid, at, "callback_attempt", agent or None, queue or None, call, detail))
            elif event in _PBXCTL_KINDS:
                books.events.append(CallEvent(callid, at, _PBXCTL_KINDS[event], agent or None, queue or None,
                                              detail=data or None))
        for n, callid, started, ended, number, name, entry in conn.execute(text(
                "SELECT c.node, c.callid, c.started_at, c.ended_at, c.caller_number, c.caller_name, c.entry "
                f"FROM books_calls c WHERE c.started_at >= :start AND c.started_at < :end{nodes}"), params):
            books.calls.append(Call(callid, started, ended, number, name, entry, " > ".join(ivr.get((n, callid), []))
                                    or None, n))
        for callid, queue, entered, outcome, wait, agent, exit_to, entry in conn.execute(text(
                "SELECT s.callid, s.queue, s.entered_at, s.outcome, s.wait_seconds, s.agent, s.exit_to, s.entry "
                f"FROM books_queue_stints s JOIN ({in_calls}) w ON w.node = s.node AND w.callid = s.callid"), params):
            books.stints.append(Stint(callid, queue, entered, outcome, float(wait), agent, exit_to, entry))
        for callid, queue, agent, at, outcome, ring in conn.execute(text(
                "SELECT r.callid, r.queue, r.agent, r.at, r.outcome, r.ring_seconds "
                f"FROM books_agent_rings r JOIN ({in_calls}) w ON w.node = r.node AND w.callid = r.callid"), params):
            books.rings.append(RingAttempt(callid, queue, agent, at, float(ring), outcome == "answered"))
        for callid, agent, queue, connected, talk, wrapup, entered in conn.execute(text(
                "SELECT l.callid, l.agent, l.queue, l.connected_at, l.talk_seconds, l.wrapup_cut_seconds, "
                f"l.entered_at FROM books_agent_legs l JOIN ({in_calls}) w ON w.node = l.node AND w.callid = l.callid"),
                params):
            books.legs.append(AgentLeg(callid, agent, queue, connected, float(talk), float(wrapup or 0), entered))
        for callid, at, kind, queue, agent, target in conn.execute(text(
                "SELECT t.callid, t.at, t.kind, t.queue, t.agent, t.target "
                f"FROM books_transfers t JOIN ({in_calls}) w ON w.node = t.node AND w.callid = t.callid"), params):
            books.events.append(CallEvent(callid, at, _TRANSFER_KINDS.get(kind, kind), agent or None, queue or None,
                                          target or None))
    return books


def load_spans(engine: Engine, window: ReportWindow, node: str | None = None,
               static_members: Mapping[str, Iterable[str]] | None = None) -> list[AgentSpan]:
    """Login and pause spans overlapping the window, from books_agent_events (paired by
    `agent_time.intervals`), and the logins of the site's static members (agent -> queues;
    `agent_time.static_logins`)."""
    params: dict = {"end": window.end_epoch}
    query = text(
        "SELECT a.at, a.queue, a.event, a.agent, a.reason FROM books_agent_events a "
        f"WHERE a.at < :end{_node_filter('a', node, params)}"
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query, params))
    found = intervals(rows, window.start_epoch, window.end_epoch)
    if static_members:
        starts = [row.at for row in rows if row.event == PBX_START]
        found += static_logins(static_members, starts, window.start_epoch, window.end_epoch)
    return [
        AgentSpan(i.agent, i.start, i.end, None if i.queue == ALL_QUEUES else i.queue,
                  i.reason if i.kind == "pause" else None)
        for i in found
    ]
