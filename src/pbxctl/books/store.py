"""Writing the books: finished calls, agent events, rejected lines and the checkpoint in
one transaction, so a crash or a failed write never leaves facts without the checkpoint
that says they were read (or the reverse).

Every row is INSERTed with ON CONFLICT DO NOTHING on its natural key (SQLite and
PostgreSQL alike), so replaying lines, or two ingestors writing the same node's lines at
once, never counts anything twice. `books_calls` rows merge instead (earliest start,
latest end, first non-empty caller fields): a call's stints may be written in pieces.

Two facts the reports need are stored here rather than computed per report: each stint
carries its call's entry number (as books_calls has it after the merge), and each agent
leg its wrap-up cut short by the agent's next call (`write_legs`: a leg's cut is set when
it is written and lowered when an earlier leg's successor arrives later). The quarter-hour
sums the queue report reads (`quarter_sums.py`) are kept up to date in the same transaction.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time
from collections import defaultdict

import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from pbxctl.books.assembler import AgentEvent
from pbxctl.books.calls import Call
from pbxctl.books.quarter_sums import (
    LEG_SUMMED, QUARTER, STINT_SUMMED, Thresholds, add_legs, add_stints, hold_sums, leg_sums, merge_sums,
    stint_sums,
)
from pbxctl.books.rows import BatchRows, Checkpoint, Reject
from pbxctl.books.tables import (
    BooksAgentEvent,
    BooksAgentLeg,
    BooksAgentRing,
    BooksCall,
    BooksCdr,
    BooksCheckpoint,
    BooksPbxctlEvent,
    BooksQueueStint,
    BooksReject,
    BooksTransfer,
)
from pbxctl.storage.failure import failure_kind

log = structlog.get_logger("pbxctl.books")

CALLS = BooksCall.__table__
STINTS = BooksQueueStint.__table__
RINGS = BooksAgentRing.__table__
LEGS = BooksAgentLeg.__table__
TRANSFERS = BooksTransfer.__table__
AGENT_EVENTS = BooksAgentEvent.__table__
PBXCTL_EVENTS = BooksPbxctlEvent.__table__
REJECTS = BooksReject.__table__
CHECKPOINTS = BooksCheckpoint.__table__
CDR = BooksCdr.__table__


class StoreFailed(Exception):
    """The database did not take a batch after every retry (full disk, locked, gone)."""


STINT_COLUMNS = (
    "node", "callid", "queue", "entered_at", "ended_at", "outcome", "ended_by", "wait_seconds", "answered_at",
    "agent", "member", "position", "exit_position", "exit_key", "exit_status", "exit_to", "caller_number", "entry",
)
RING_COLUMNS = ("node", "callid", "member", "at", "outcome", "queue", "entered_at", "agent", "ring_seconds")
LEG_COLUMNS = (
    "node", "callid", "member", "connected_at", "queue", "entered_at", "agent", "ended_at", "talk_seconds",
    "ended_by", "wrapup_seconds", "wrapup_cut_seconds",
)
TRANSFER_COLUMNS = (
    "node", "callid", "at", "kind", "queue", "agent", "member", "target", "wait_seconds", "talk_seconds",
)
PBXCTL_COLUMNS = ("node", "callid", "at", "event", "data", "queue", "agent")
CALL_COLUMNS = ("node", "callid", "linkedid", "started_at", "ended_at", "caller_number", "caller_name", "entry")
AGENT_EVENT_COLUMNS = ("node", "at", "queue", "member", "event", "agent", "reason")
CHECKPOINT_COLUMNS = (
    "node", "source", "path", "inode", "read_offset", "read_line_no", "replay_offset", "replay_line_no", "head",
    "updated_at",
)
REJECT_COLUMNS = ("node", "source", "file", "line_no", "digest", "reason", "text", "at")
CDR_COLUMNS = (
    "node", "uniqueid", "record_key", "linkedid", "start_at", "answer_at", "end_at", "duration", "billsec",
    "disposition", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "accountcode",
    "userfield",
)


def _sql(conn: Connection, table, columns: tuple[str, ...], conflict: str) -> str:
    """INSERT ... ON CONFLICT as DBAPI text: 1 M calls are millions of rows, and the
    statement is the same every time (SQLAlchemy's per-row parameter work would be most
    of the ingest time)."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) {conflict}"
    )


def _merge_calls(conn: Connection, rows: list[tuple]) -> None:
    """Calls (CALL_COLUMNS order) merged into books_calls; a call whose CDR came first gets
    its linkedid from it here (`link_cdr` does the other order)."""
    if not rows:
        return
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    smaller, larger = ("LEAST", "GREATEST") if conn.dialect.name == "postgresql" else ("min", "max")
    t = CALLS.name
    linked = (f"(SELECT d.linkedid FROM {CDR.name} d WHERE d.node = {mark} AND d.uniqueid = {mark} "
              f"AND d.linkedid IS NOT NULL LIMIT 1)")
    values = ", ".join(linked if column == "linkedid" else mark for column in CALL_COLUMNS)
    conflict = (
        f"ON CONFLICT (node, callid) DO UPDATE SET "
        f"linkedid = COALESCE({t}.linkedid, excluded.linkedid), "
        f"started_at = {smaller}({t}.started_at, excluded.started_at), "
        f"ended_at = {larger}({t}.ended_at, excluded.ended_at), "
        f"caller_number = CASE WHEN {t}.caller_number = '' THEN excluded.caller_number ELSE {t}.caller_number END, "
        f"caller_name = CASE WHEN {t}.caller_name = '' THEN excluded.caller_name ELSE {t}.caller_name END, "
        f"entry = COALESCE({t}.entry, excluded.entry)"
    )
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS and len({r[1] for r in rows}) == len(rows):
        # by COPY, as insert_new does (one statement may not update a row twice: the
        # batch's calls are one row each, call_rows merges them)
        cursor, scratch = _scratch_copy(conn, CALLS, CALL_COLUMNS, rows)
        linked = linked.replace(f"d.node = {mark} AND d.uniqueid = {mark}", "d.node = s.node AND d.uniqueid = s.callid")
        select = ", ".join(linked if column == "linkedid" else f"s.{column}" for column in CALL_COLUMNS)
        cursor.execute(f"INSERT INTO {t} ({', '.join(CALL_COLUMNS)}) SELECT {select} FROM {scratch} s {conflict}")
        cursor.execute(f"TRUNCATE {scratch}")
        return
    sql = f"INSERT INTO {t} ({', '.join(CALL_COLUMNS)}) VALUES ({values}) {conflict}"
    # the linkedid's place takes the subquery's two parameters: node and callid
    conn.exec_driver_sql(sql, [(row[0], row[1], row[0], row[1], *row[3:]) for row in rows])


def link_cdr(conn: Connection, node: str, cdr_rows: list[tuple]) -> None:
    """CDR records (CDR_COLUMNS order) into books_cdr, and their linkedid into the calls of
    their uniqueid that are in the books already and have none."""
    insert_new(conn, CDR, CDR_COLUMNS, cdr_rows)
    links = {(row[3], node, row[1]) for row in cdr_rows if row[3]}
    if links:
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        conn.exec_driver_sql(f"UPDATE {CALLS.name} SET linkedid = {mark} WHERE node = {mark} AND callid = {mark} "
                             "AND linkedid IS NULL", sorted(links))


def _known_entries(conn: Connection, node: str, callids: list[str]) -> dict[str, str | None]:
    """callid -> entry of those calls already in the books (an earlier piece of the call)."""
    found: dict[str, str | None] = {}
    postgres = conn.dialect.name == "postgresql"
    for i in range(0, len(callids), 5000):
        chunk = callids[i:i + 5000]
        if postgres:
            rows = conn.exec_driver_sql(
                "SELECT callid, entry FROM books_calls WHERE node = %s AND callid = ANY(%s)", (node, chunk))
        else:
            rows = conn.exec_driver_sql(
                f"SELECT callid, entry FROM books_calls WHERE node = ? AND callid IN ({', '.join('?' * len(chunk))})",
                (node, *chunk))
        found.update(rows.fetchall())
    return found


def write_calls(conn: Connection, node: str, rows: dict[str, list[tuple]], thresholds: Thresholds) -> None:
    """Merge the calls, then insert their stints with the entry books_calls now holds for
    them (earlier pieces' stints that had none get it too); the stints inserted, and those
    moved to their entry, into the quarter-hour sums."""
    calls = rows["calls"]
    known = _known_entries(conn, node, [row[1] for row in calls])
    entry_of: dict[str, str | None] = {}
    late: list[tuple] = []
    for row in calls:
        callid, entry = row[1], row[7]
        if callid in known and known[callid] is not None:
            entry = known[callid]
        elif callid in known and entry is not None:
            late.append((entry, node, callid))
        entry_of[callid] = entry
    _merge_calls(conn, calls)
    groups: dict[tuple, list[int]] = {}
    if late:
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        moved = [row for args in late for row in conn.exec_driver_sql(
            f"UPDATE {STINTS.name} SET entry = {mark} WHERE node = {mark} AND callid = {mark} AND entry IS NULL "
            f"RETURNING {', '.join(STINT_SUMMED)}", args)]
        groups = stint_sums([(*row[:4], None, row[5]) for row in moved], thresholds, sign=-1)
        merge_sums(groups, stint_sums(moved, thresholds))
    inserted = insert_new(conn, STINTS, STINT_COLUMNS, [(*stint, entry_of[stint[1]]) for stint in rows["stints"]],
                          returning=STINT_SUMMED)
    merge_sums(groups, stint_sums(inserted, thresholds))
    add_stints(conn, node, groups)


def cut_wrapup(wrapup: int | None, ended_at: int, next_at: int | None) -> int | None:
    """The wrap-up in force, cut short by the agent's next call (stock app_queue logs no
    end of wrap-up: the next call is the latest it can have ended)."""
    if wrapup is None:
        return None
    if next_at is not None and next_at - ended_at < wrapup:
        return max(0, next_at - ended_at)
    return wrapup


# The agent's legs from the last one before `lo` up to `hi`, and the first connect after `hi`.
_NEAR_LEGS = (
    "SELECT callid, member, connected_at, ended_at, wrapup_seconds, wrapup_cut_seconds, queue, entered_at "
    "FROM books_agent_legs "
    "WHERE node = {m} AND agent = {m} AND connected_at <= {m} AND connected_at >= COALESCE("
    "(SELECT MAX(connected_at) FROM books_agent_legs WHERE node = {m} AND agent = {m} AND connected_at < {m}), {m})"
)
_NEXT_LEG = "SELECT MIN(connected_at) FROM books_agent_legs WHERE node = {m} AND agent = {m} AND connected_at > {m}"
_LOWER_CUT = (
    "UPDATE books_agent_legs SET wrapup_cut_seconds = {m} WHERE node = {m} AND callid = {m} AND member = {m} "
    "AND connected_at = {m} AND (wrapup_cut_seconds IS NULL OR wrapup_cut_seconds > {m})"
)
_LEG_LOCK = 0x6C6567  # "leg": advisory lock class of an agent's legs (PostgreSQL)


def write_legs(conn: Connection, node: str, legs: list[tuple]) -> None:
    """Insert legs (LEG_COLUMNS order, without the cut) with their wrap-up cut at the
    agent's next call as the books know it, and lower the cut of the agent's earlier legs
    that one of these follows. Idempotent: the same legs again change nothing.

    The agent's next call may arrive in a later batch (or, with several ingestors, in
    another transaction): a cut only ever goes down. On PostgreSQL an advisory lock per
    agent (taken in order) makes two writers of the same agent's legs see each other's,
    so a lowered cut's difference, added to the quarter-hour sums, is exact."""
    by_agent: dict[str, dict[tuple, tuple]] = defaultdict(dict)
    for leg in legs:
        by_agent[leg[6]].setdefault((leg[1], leg[2], leg[3]), leg)
    if not by_agent:
        return
    postgres = conn.dialect.name == "postgresql"
    m = "%s" if postgres else "?"
    near_sql, next_sql, lower_sql = (q.format(m=m) for q in (_NEAR_LEGS, _NEXT_LEG, _LOWER_CUT))
    new_rows: list[tuple] = []
    lowered: list[tuple] = []
    groups: dict[tuple, list[int]] = {}  # quarter-hour sums: the lowered cuts' differences
    for agent in sorted(by_agent):
        mine = by_agent[agent]
        if postgres:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LEG_LOCK, f"{node}/{agent}"))
        starts = sorted({key[2] for key in mine})
        lo, hi = starts[0], starts[-1]
        known = {(c, mem, at): rest for c, mem, at, *rest in
                 conn.exec_driver_sql(near_sql, (node, agent, hi, node, agent, lo, lo))}
        after = conn.exec_driver_sql(next_sql, (node, agent, hi)).scalar()
        starts = sorted({*starts, *(key[2] for key in known), *(() if after is None else (after,))})

        def next_at(at: int) -> int | None:
            i = bisect.bisect_right(starts, at)
            return starts[i] if i < len(starts) else None

        for key, (ended, wrapup, cut, queue, entered) in known.items():
            new = cut_wrapup(wrapup, ended, next_at(key[2]))
            if new is not None and (cut is None or new < cut):
                lowered.append((new, node, *key, new))
                sums = groups.setdefault((entered - entered % QUARTER, queue), [0, 0, 0])
                sums[2] += new - (cut or 0)
        for key, leg in mine.items():
            if key not in known:
                new_rows.append((*leg, cut_wrapup(leg[10], leg[7], next_at(key[2]))))
    if lowered:
        conn.exec_driver_sql(lower_sql, lowered)
    for key, sums in leg_sums(insert_new(conn, LEGS, LEG_COLUMNS, new_rows, returning=LEG_SUMMED)).items():
        have = groups.setdefault(key, [0, 0, 0])
        for i, value in enumerate(sums):
            have[i] += value
    add_legs(conn, node, groups)


# From this many rows on, PostgreSQL gets them by COPY into a scratch table and one
# INSERT ... SELECT: a row-by-row INSERT costs the server far more (the live follower's
# small batches stay row by row).
COPY_FROM_ROWS = 500


# Rows per INSERT … VALUES (…), (…) … RETURNING (SQLite's limit: 32 766 parameters). The
# rest of a batch goes in chunks of 256, 128, … 1 rows: a few statement texts, so the
# driver's statement cache holds a few compiled statements, not one per batch's rest size.
VALUES_ROWS = 512


def insert_new(conn: Connection, table, columns: tuple[str, ...], rows: list[tuple],
               returning: tuple[str, ...] = ()) -> list[tuple]:
    """Rows (tuples in `columns` order) that are not there yet; the others change nothing.
    With `returning`, those columns of the rows really inserted (the quarter-hour sums
    add only those): many rows to one INSERT, as executemany returns no rows."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        return _copy_new(conn, table, columns, rows, returning)
    if not returning:
        conn.exec_driver_sql(_sql(conn, table, columns, "ON CONFLICT DO NOTHING"), rows)
        return []
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    one = f"({', '.join([mark] * len(columns))})"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    tail = f" ON CONFLICT DO NOTHING RETURNING {', '.join(returning)}"
    found: list[tuple] = []
    i, size = 0, VALUES_ROWS
    while i < len(rows):
        while i + size > len(rows):
            size //= 2
        params = tuple(value for row in rows[i:i + size] for value in row)
        found.extend(conn.exec_driver_sql(head + ", ".join([one] * size) + tail, params).fetchall())
        i += size
    return found


def _scratch_copy(conn: Connection, table, columns: tuple[str, ...], rows: list[tuple]):
    """(cursor, name) of a temporary table holding `rows`, by COPY (PostgreSQL)."""
    names = ", ".join(columns)
    scratch = f"scratch_{table.name}"
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} ON COMMIT DELETE ROWS AS "
                   f"SELECT {names} FROM {table.name} WITH NO DATA")
    with cursor.copy(f"COPY {scratch} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return cursor, scratch


def _copy_new(conn: Connection, table, columns: tuple[str, ...], rows: list[tuple],
              returning: tuple[str, ...] = ()) -> list[tuple]:
    """insert_new on PostgreSQL by COPY: a temporary table of the batch's rows (dropped at
    the commit), then the ones not there yet in one statement (ON CONFLICT DO NOTHING also
    skips a row repeated within the batch)."""
    names = ", ".join(columns)
    cursor, scratch = _scratch_copy(conn, table, columns, rows)
    cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {scratch} ON CONFLICT DO NOTHING"
                   + (f" RETURNING {', '.join(returning)}" if returning else ""))
    found = [tuple(row) for row in cursor.fetchall()] if returning else []
    cursor.execute(f"TRUNCATE {scratch}")
    return found


def write_batch(
    conn: Connection,
    node: str,
    calls: list[Call],
    agent_events: list[AgentEvent],
    rejects: list[Reject],
    checkpoint: Checkpoint | None,
    cdr_rows: list[tuple] = (),
    thresholds: Thresholds = Thresholds(),
) -> None:
    write_rows(conn, node, BatchRows.of(node, calls, agent_events, rejects), checkpoint, cdr_rows, thresholds)


def write_rows(conn: Connection, node: str, batch: BatchRows, checkpoint: Checkpoint | None,
               cdr_rows: list[tuple] = (), thresholds: Thresholds = Thresholds()) -> None:
    """`thresholds`: the site's, which the quarter-hour sums are counted with."""
    # First: a `books resum` of this node (which holds it exclusive) is waited for, or waits
    # for this batch (quarter_sums.hold_sums).
    hold_sums(conn, node)
    if cdr_rows:
        link_cdr(conn, node, list(cdr_rows))
    rows = batch.calls
    write_calls(conn, node, rows, thresholds)
    insert_new(conn, RINGS, RING_COLUMNS, rows["rings"])
    insert_new(conn, TRANSFERS, TRANSFER_COLUMNS, rows["transfers"])
    insert_new(conn, PBXCTL_EVENTS, PBXCTL_COLUMNS, rows["pbxctl"])
    insert_new(conn, AGENT_EVENTS, AGENT_EVENT_COLUMNS, batch.agent_events)
    insert_new(conn, REJECTS, REJECT_COLUMNS, batch.rejects)
    # Last: on PostgreSQL it takes the agents' locks, held to the commit.
    write_legs(conn, node, rows["legs"])
    if checkpoint is not None:
        save_checkpoint(conn, node, checkpoint)


def save_checkpoint(conn: Connection, node: str, cp: Checkpoint) -> None:
    values = (node, cp.source, cp.path, cp.inode, cp.offset, cp.line_no, cp.replay_offset, cp.replay_line_no,
              cp.head, int(time.time()))
    conflict = "ON CONFLICT (node, source) DO UPDATE SET " + ", ".join(
        f"{c} = excluded.{c}" for c in CHECKPOINT_COLUMNS[2:]
    )
    conn.exec_driver_sql(_sql(conn, CHECKPOINTS, CHECKPOINT_COLUMNS, conflict), [values])


def load_checkpoint(engine: Engine, node: str, source: str) -> Checkpoint | None:
    with engine.connect() as conn:
        row = conn.execute(
            CHECKPOINTS.select().where(CHECKPOINTS.c.node == node, CHECKPOINTS.c.source == source)
        ).mappings().first()
    if row is None:
        return None
    return Checkpoint(
        source, row["path"], row["inode"], row["read_offset"], row["read_line_no"], row["replay_offset"],
        row["replay_line_no"], row["head"],
    )


class BatchWriter:
    """Writes batches with retries: a locked or full database is waited for, never a crash
    and never a lost batch (the caller keeps the lines until a write succeeded).

    `background=True`: batches are written in order by one thread while the caller goes on
    (the database drivers release the GIL); `close()` waits for them and raises the first
    failure. `books import` writes in the foreground: its parsing is in the reader process
    already, which goes on with the next batch meanwhile, and a thread only added batches
    in memory (11 MB on 1 M calls) and GIL contention (about 30 % slower)."""

    def __init__(self, engine: Engine, node: str, retries: int = 8, first_delay: float = 0.2,
                 sleep=time.sleep, background: bool = False, thresholds: Thresholds = Thresholds()):
        self.engine = engine
        self.node = node
        self.thresholds = thresholds
        self.retries = retries
        self.first_delay = first_delay
        self.sleep = sleep
        self.failures = 0
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if background:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._drain, name="books-writer", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        assert self._queue is not None
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(*batch)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller in close()
                    self._error = exc

    def write(self, calls, agent_events, rejects, checkpoint, cdr_rows=()) -> None:
        self.write_rows(BatchRows.of(self.node, calls, agent_events, rejects), checkpoint, cdr_rows)

    def write_rows(self, batch: BatchRows, checkpoint: Checkpoint | None, cdr_rows=()) -> None:
        """A batch whose rows are made already (by `books import`'s reader process)."""
        if self._queue is None:
            self._write(batch, checkpoint, cdr_rows)
            return
        if self._error is not None:
            raise self._error
        self._queue.put((batch, checkpoint, cdr_rows))

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = self._thread = None
        if self._error is not None:
            raise self._error

    def _write(self, batch: BatchRows, checkpoint: Checkpoint | None, cdr_rows=()) -> None:
        delay = self.first_delay
        for attempt in range(self.retries + 1):
            try:
                with self.engine.begin() as conn:
                    write_rows(conn, self.node, batch, checkpoint, cdr_rows, self.thresholds)
                return
            except OperationalError as exc:
                self.failures += 1
                reason = str(exc.orig) if exc.orig is not None else str(exc)
                calls, agent_events, _ = batch.sizes()
                log.warning("books_write_failed", fault=failure_kind(exc), attempt=attempt + 1, retries=self.retries,
                            error=reason, calls=calls, agent_events=agent_events)
                if attempt == self.retries:
                    raise StoreFailed(f"the database did not take {calls} calls after "
                                      f"{self.retries + 1} tries: {reason}") from exc
                self.sleep(delay)
                delay = min(delay * 2, 10.0)
