"""Writing the books: finished calls, agent events, rejected lines and the checkpoint in
one transaction, so a crash or a failed write never leaves facts without the checkpoint
that says they were read (or the reverse).

Every row is INSERTed with ON CONFLICT DO NOTHING on its natural key (SQLite and
PostgreSQL alike), so replaying lines, or two ingestors writing the same node's lines at
once, never counts anything twice. `books_calls` rows merge instead (earliest start,
latest end, first non-empty caller fields): a call's stints may be written in pieces.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Iterable

import structlog
from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from pbxctl.books.assembler import AgentEvent
from pbxctl.books.calls import Call
from pbxctl.books.tables import (
    BooksAgentEvent,
    BooksAgentLeg,
    BooksAgentRing,
    BooksCall,
    BooksCheckpoint,
    BooksPbxctlEvent,
    BooksQueueStint,
    BooksReject,
    BooksTransfer,
)

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


@dataclass(slots=True)
class Reject:
    source: str
    file: str
    line_no: int
    reason: str
    raw: bytes
    text: str
    at: int | None = None

    def message(self) -> str:
        return f"{self.file}:{self.line_no}: {self.reason}"


@dataclass(slots=True)
class Checkpoint:
    source: str
    path: str
    inode: int
    offset: int
    line_no: int
    replay_offset: int
    replay_line_no: int
    head: str


class StoreFailed(Exception):
    """The database did not take a batch after every retry (full disk, locked, gone)."""


def _insert(conn: Connection, table):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def call_rows(node: str, calls: Iterable[Call]) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {"calls": [], "stints": [], "rings": [], "legs": [], "transfers": [], "pbxctl": []}
    merged: dict[str, dict] = {}
    for call in calls:
        row = merged.get(call.callid)
        if row is None:
            merged[call.callid] = {
                "node": node, "callid": call.callid, "linkedid": None, "started_at": call.started_at,
                "ended_at": call.ended_at, "caller_number": call.caller_number, "caller_name": call.caller_name,
                "entry": call.entry,
            }
        else:  # the same call finished twice in one batch (it came back after settling)
            row["started_at"] = min(row["started_at"], call.started_at)
            row["ended_at"] = max(row["ended_at"], call.ended_at)
            row["caller_number"] = row["caller_number"] or call.caller_number
            row["caller_name"] = row["caller_name"] or call.caller_name
            row["entry"] = row["entry"] or call.entry
        key = {"node": node, "callid": call.callid}
        for stint in call.stints:
            rows["stints"].append({
                **key, "queue": stint.queue, "entered_at": stint.entered_at, "ended_at": stint.ended_at,
                "outcome": stint.outcome, "ended_by": stint.ended_by, "wait_seconds": stint.wait_seconds,
                "answered_at": stint.answered_at, "agent": stint.agent, "member": stint.member,
                "position": stint.position, "exit_position": stint.exit_position, "exit_key": stint.exit_key,
                "exit_status": stint.exit_status, "exit_to": stint.exit_to, "caller_number": stint.caller_number,
            })
            for ring in stint.rings:
                rows["rings"].append({
                    **key, "member": ring.member, "at": ring.at, "outcome": ring.outcome, "queue": stint.queue,
                    "entered_at": stint.entered_at, "agent": ring.agent, "ring_seconds": ring.ring_seconds,
                })
            if (leg := stint.leg) is not None:
                rows["legs"].append({
                    **key, "member": leg.member, "connected_at": leg.connected_at, "queue": stint.queue,
                    "entered_at": stint.entered_at, "agent": leg.agent, "ended_at": leg.ended_at,
                    "talk_seconds": leg.talk_seconds, "ended_by": leg.ended_by, "wrapup_seconds": leg.wrapup_seconds,
                })
        for transfer in call.transfers:
            rows["transfers"].append({
                **key, "at": transfer.at, "kind": transfer.kind, "queue": transfer.queue, "agent": transfer.agent,
                "member": transfer.member, "target": transfer.target, "wait_seconds": transfer.wait_seconds,
                "talk_seconds": transfer.talk_seconds,
            })
        for event in call.pbxctl_events:
            rows["pbxctl"].append({
                **key, "at": event.at, "event": event.event, "data": event.data, "queue": event.queue,
                "agent": event.agent,
            })
    rows["calls"] = list(merged.values())
    return rows


def agent_event_rows(node: str, events: Iterable[AgentEvent]) -> list[dict]:
    return [
        {"node": node, "at": e.at, "queue": e.queue, "member": e.member, "event": e.event, "agent": e.agent,
         "reason": e.reason}
        for e in events
    ]


def reject_rows(node: str, rejects: Iterable[Reject]) -> list[dict]:
    return [
        {"node": node, "source": r.source, "file": r.file, "line_no": r.line_no,
         "digest": hashlib.blake2b(r.raw, digest_size=8).hexdigest(), "reason": r.reason, "text": r.text, "at": r.at}
        for r in rejects
    ]


def _merge_calls(conn: Connection, rows: list[dict]) -> None:
    if not rows:
        return
    stmt = _insert(conn, CALLS)
    ex = stmt.excluded
    smaller = func.least if conn.dialect.name == "postgresql" else func.min
    larger = func.greatest if conn.dialect.name == "postgresql" else func.max
    stmt = stmt.on_conflict_do_update(
        index_elements=["node", "callid"],
        set_={
            "started_at": smaller(CALLS.c.started_at, ex.started_at),
            "ended_at": larger(CALLS.c.ended_at, ex.ended_at),
            "caller_number": case((CALLS.c.caller_number == "", ex.caller_number), else_=CALLS.c.caller_number),
            "caller_name": case((CALLS.c.caller_name == "", ex.caller_name), else_=CALLS.c.caller_name),
            "entry": func.coalesce(CALLS.c.entry, ex.entry),
        },
    )
    conn.execute(stmt, rows)


def insert_new(conn: Connection, table, rows: list[dict]) -> None:
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


def write_batch(
    conn: Connection,
    node: str,
    calls: list[Call],
    agent_events: list[AgentEvent],
    rejects: list[Reject],
    checkpoint: Checkpoint | None,
) -> None:
    rows = call_rows(node, calls)
    _merge_calls(conn, rows["calls"])
    insert_new(conn, STINTS, rows["stints"])
    insert_new(conn, RINGS, rows["rings"])
    insert_new(conn, LEGS, rows["legs"])
    insert_new(conn, TRANSFERS, rows["transfers"])
    insert_new(conn, PBXCTL_EVENTS, rows["pbxctl"])
    insert_new(conn, AGENT_EVENTS, agent_event_rows(node, agent_events))
    insert_new(conn, REJECTS, reject_rows(node, rejects))
    if checkpoint is not None:
        save_checkpoint(conn, node, checkpoint)


def save_checkpoint(conn: Connection, node: str, cp: Checkpoint) -> None:
    values = {
        "node": node, "source": cp.source, "path": cp.path, "inode": cp.inode, "offset": cp.offset,
        "line_no": cp.line_no, "replay_offset": cp.replay_offset, "replay_line_no": cp.replay_line_no,
        "head": cp.head, "updated_at": int(time.time()),
    }
    stmt = _insert(conn, CHECKPOINTS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["node", "source"], set_={k: v for k, v in values.items() if k not in ("node", "source")}
    )
    conn.execute(stmt, values)


def load_checkpoint(engine: Engine, node: str, source: str) -> Checkpoint | None:
    with engine.connect() as conn:
        row = conn.execute(
            CHECKPOINTS.select().where(CHECKPOINTS.c.node == node, CHECKPOINTS.c.source == source)
        ).mappings().first()
    if row is None:
        return None
    return Checkpoint(
        source, row["path"], row["inode"], row["offset"], row["line_no"], row["replay_offset"],
        row["replay_line_no"], row["head"],
    )


class BatchWriter:
    """Writes batches with retries: a locked or full database is waited for, never a crash
    and never a lost batch (the caller keeps the lines until a write succeeded)."""

    def __init__(self, engine: Engine, node: str, retries: int = 8, first_delay: float = 0.2,
                 sleep=time.sleep):
        self.engine = engine
        self.node = node
        self.retries = retries
        self.first_delay = first_delay
        self.sleep = sleep
        self.failures = 0

    def write(self, calls, agent_events, rejects, checkpoint) -> None:
        delay = self.first_delay
        for attempt in range(self.retries + 1):
            try:
                with self.engine.begin() as conn:
                    write_batch(conn, self.node, calls, agent_events, rejects, checkpoint)
                return
            except OperationalError as exc:
                self.failures += 1
                reason = str(exc.orig) if exc.orig is not None else str(exc)
                log.warning("books_write_failed", attempt=attempt + 1, retries=self.retries, error=reason,
                            calls=len(calls), agent_events=len(agent_events))
                if attempt == self.retries:
                    raise StoreFailed(f"the database did not take {len(calls)} calls after "
                                      f"{self.retries + 1} tries: {reason}") from exc
                self.sleep(delay)
                delay = min(delay * 2, 10.0)
