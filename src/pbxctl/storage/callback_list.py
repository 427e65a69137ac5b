"""The callback list in the database: entries, their attempts and the calls of the books
they belong to. The rules are pbxctl.domain.callbacks'; this module loads entries into the
domain's dataclasses, lets a rule change them and writes them back, one transaction per
change.

Times are integer Unix seconds (UTC), as in the books. `callback_calls` ties an entry to
calls in the books by (node, callid) — the caller channel's uniqueid, queue_log's callid —
and its key makes feeding the same call twice a no-op.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from sqlalchemy import BigInteger, Index
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, func, select

from pbxctl.domain.callbacks import (
    PENDING,
    Attempt,
    CallbackEntry,
    CallbackError,
    CallbackRequest,
    CallbackResult,
    QueueRules,
    Status,
    apply_result,
    merge,
)

UTC = dt.timezone.utc


class CallbackEntryRow(SQLModel, table=True):
    __tablename__ = "callback_entries"

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(index=True)
    number: str = Field(index=True)  # E.164; "" for an anonymous caller
    status: str = Field(index=True)  # open | in_progress | answered | unanswered | closed
    source: str  # abandoned | ivr | keep_place: how the entry began
    first_call_at: int = Field(sa_type=BigInteger)
    last_call_at: int = Field(sa_type=BigInteger)
    times_called: int = 1
    agent: str | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    closed_at: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
    take_call: str | None = None  # the uniqueid of the call holding an in-progress entry (0006)


class CallbackAttemptRow(SQLModel, table=True):
    __tablename__ = "callback_attempts"
    # An attempt's natural key: the same callback call told live and read from queue_log
    # is one attempt (0006; attempts recorded by hand have no call and are not unique).
    __table_args__ = (Index("ux_callback_attempts_entry_call", "entry_id", "call_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(index=True, foreign_key="callback_entries.id")
    at: int = Field(sa_type=BigInteger)
    result: str  # pbxctl.domain.callbacks.ATTEMPT_RESULTS
    agent: str | None = None
    call_id: str | None = None  # the callback call's uniqueid, when pbxctl dialled it
    started_at: int | None = Field(default=None, sa_type=BigInteger)  # the customer dialled (0006)
    answered_at: int | None = Field(default=None, sa_type=BigInteger)  # the customer answered (0006)


class CallbackCallRow(SQLModel, table=True):
    """A call of the books on an entry: the abandoned calls and requests that made or
    joined it, and the answered call that closed it."""

    __tablename__ = "callback_calls"

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    queue: str = Field(primary_key=True)
    at: int = Field(sa_type=BigInteger, primary_key=True)
    kind: str = Field(primary_key=True)  # abandoned | ivr | keep_place | answered_in
    entry_id: int = Field(index=True, foreign_key="callback_entries.id")


class CallbackFeedRow(SQLModel, table=True):
    """How far the list has been fed from a node's books (stints that ended up to `last_at`)."""

    __tablename__ = "callback_feed"

    node: str = Field(primary_key=True)
    source: str = Field(primary_key=True)  # stints
    last_at: int = Field(sa_type=BigInteger)


class CallbackPlaceRow(SQLModel, table=True):
    """A caller who left the queue to keep their place (migration 0008): the entry, and the
    original caller's join time and position, from which the placeholder's place in the
    queue is recomputed whenever it has to be (re-)created."""

    __tablename__ = "callback_places"

    entry_id: int = Field(primary_key=True, foreign_key="callback_entries.id")
    queue: str
    call_id: str  # the original caller's uniqueid
    joined_ms: int = Field(sa_type=BigInteger)  # when the caller joined the queue, epoch milliseconds
    position: int  # QUEUEPOSITION when the key was pressed
    left_at: int = Field(sa_type=BigInteger)


CALLBACK_TABLES = [CallbackEntryRow, CallbackAttemptRow, CallbackCallRow, CallbackFeedRow, CallbackPlaceRow]


def seconds(when: dt.datetime) -> int:
    if when.tzinfo is None:  # pbxctl's clocks are aware; a naive time is taken as UTC
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def moment(value: int | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class LinkedCall:
    node: str
    callid: str
    queue: str
    at: dt.datetime
    kind: str


def _entry(session: Session, row: CallbackEntryRow) -> CallbackEntry:
    attempts = session.exec(select(CallbackAttemptRow).where(CallbackAttemptRow.entry_id == row.id)
                            .order_by(CallbackAttemptRow.at, CallbackAttemptRow.id)).all()
    calls = session.exec(select(CallbackCallRow).where(CallbackCallRow.entry_id == row.id)
                         .order_by(CallbackCallRow.at)).all()
    return CallbackEntry(
        queue=row.queue, number=row.number, first_call_at=moment(row.first_call_at), last_call_at=moment(row.last_call_at),
        source=row.source, times_called=row.times_called, status=Status(row.status),
        attempts=tuple(Attempt(moment(a.at), a.result, a.agent, a.call_id, moment(a.started_at), moment(a.answered_at))
                       for a in attempts),
        agent=row.agent, closed_by=row.closed_by, close_reason=row.close_reason, closed_at=moment(row.closed_at),
        call_ids=tuple(dict.fromkeys(c.callid for c in calls)), id=row.id, take_call=row.take_call,
    )


def save_entry(session: Session, entry: CallbackEntry, now: dt.datetime) -> CallbackEntry:
    """Writes the entry and any attempts it has that are not stored yet."""
    row = session.get(CallbackEntryRow, entry.id) if entry.id is not None else None
    if row is None:
        row = CallbackEntryRow(queue=entry.queue, number=entry.number, status=entry.status.value, source=entry.source,
                               first_call_at=0, last_call_at=0, updated_at=0)
    row.status, row.times_called, row.agent = entry.status.value, entry.times_called, entry.agent
    row.first_call_at, row.last_call_at = seconds(entry.first_call_at), seconds(entry.last_call_at)
    row.closed_by, row.close_reason, row.take_call = entry.closed_by, entry.close_reason, entry.take_call
    row.closed_at = seconds(entry.closed_at) if entry.closed_at else None
    row.updated_at = seconds(now)
    session.add(row)
    session.flush()
    stored = session.exec(select(func.count()).select_from(CallbackAttemptRow)
                          .where(CallbackAttemptRow.entry_id == row.id)).one()
    for attempt in entry.attempts[stored:]:
        session.add(CallbackAttemptRow(entry_id=row.id, at=seconds(attempt.at), result=attempt.result,
                                       agent=attempt.agent, call_id=attempt.call_id,
                                       started_at=seconds(attempt.started_at) if attempt.started_at else None,
                                       answered_at=seconds(attempt.answered_at) if attempt.answered_at else None))
    return replace(entry, id=row.id)


def _pending(session: Session, queue: str, number: str) -> list[CallbackEntry]:
    rows = session.exec(select(CallbackEntryRow).where(
        CallbackEntryRow.queue == queue, CallbackEntryRow.number == number,
        col(CallbackEntryRow.status).in_([s.value for s in PENDING]))).all()
    return [_entry(session, r) for r in rows]


def add_request(session: Session, node: str, request: CallbackRequest, now: dt.datetime) -> CallbackEntry | None:
    """Puts a request on the list (a new entry, or one more call on the number's pending
    entry). None when this call was already fed."""
    key = (node, request.call_id or "", request.queue, seconds(request.at), request.source)
    if request.call_id and session.get(CallbackCallRow, key) is not None:
        return None
    entry = save_entry(session, merge(_pending(session, request.queue, request.number), request), now)
    if request.call_id:
        session.add(CallbackCallRow(node=node, callid=request.call_id, queue=request.queue, at=key[3],
                                    kind=request.source, entry_id=entry.id))
    return entry


def link_call(session: Session, node: str, entry: CallbackEntry, callid: str, at: dt.datetime, kind: str) -> None:
    key = (node, callid, entry.queue, seconds(at), kind)
    if session.get(CallbackCallRow, key) is None:
        session.add(CallbackCallRow(node=node, callid=callid, queue=entry.queue, at=key[3], kind=kind, entry_id=entry.id))


def pending_for(session: Session, queue: str, number: str) -> list[CallbackEntry]:
    return _pending(session, queue, number)


def get_entry(engine: Engine, entry_id: int) -> CallbackEntry | None:
    with Session(engine) as session:
        row = session.get(CallbackEntryRow, entry_id)
        return _entry(session, row) if row is not None else None


def linked_calls(engine: Engine, entry_id: int) -> list[LinkedCall]:
    with Session(engine) as session:
        rows = session.exec(select(CallbackCallRow).where(CallbackCallRow.entry_id == entry_id)
                            .order_by(CallbackCallRow.at)).all()
        return [LinkedCall(r.node, r.callid, r.queue, moment(r.at), r.kind) for r in rows]


def list_entries(engine: Engine, queues: Iterable[str] = (), statuses: Iterable[str] = ()) -> list[CallbackEntry]:
    """Entries, customers who called first first."""
    query = select(CallbackEntryRow)
    if queues := list(queues):
        query = query.where(col(CallbackEntryRow.queue).in_(queues))
    if statuses := list(statuses):
        query = query.where(col(CallbackEntryRow.status).in_(statuses))
    with Session(engine) as session:
        rows = session.exec(query.order_by(CallbackEntryRow.first_call_at, CallbackEntryRow.id)).all()
        return [_entry(session, r) for r in rows]


def change_entry(engine: Engine, entry_id: int, rule: Callable[[CallbackEntry], CallbackEntry],
                 now: dt.datetime) -> CallbackEntry:
    """Applies `rule` to a stored entry in one transaction (the row locked on PostgreSQL, so
    two agents cannot both take it). Raises CallbackError for an unknown id or a change the
    rule refuses."""
    with Session(engine) as session:
        row = session.exec(select(CallbackEntryRow).where(CallbackEntryRow.id == entry_id).with_for_update()).first()
        if row is None:
            raise CallbackError(f"no callback {entry_id}")
        changed = save_entry(session, rule(_entry(session, row)), now)
        session.commit()
        return changed


def record_result(session: Session, result: CallbackResult, rules_of: Callable[[str], QueueRules],
                  now: dt.datetime) -> tuple[CallbackEntry, CallbackEntry] | None:
    """A callback call's result on its entry, in the caller's transaction (the row locked
    on PostgreSQL): (before, after), or None for an entry that is not on the list. Told
    twice (live, then from queue_log), it is one attempt."""
    row = session.exec(select(CallbackEntryRow).where(CallbackEntryRow.id == result.entry_id).with_for_update()).first()
    if row is None:
        return None
    before = _entry(session, row)
    after = apply_result(before, result, rules_of(before.queue))
    if after != before:
        after = save_entry(session, after, now)
    return before, after


def counts(engine: Engine) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """(entries still on the list per queue: open, in progress or unanswered;
    {(queue, outcome): n}) for the metrics: outcomes are the attempts' results and
    `closed` for entries closed by someone (or by an answered call in)."""
    with Session(engine) as session:
        waiting = dict(session.exec(select(CallbackEntryRow.queue, func.count()).where(
            col(CallbackEntryRow.status).in_([s.value for s in PENDING])).group_by(CallbackEntryRow.queue)).all())
        totals = {(q, r): n for q, r, n in session.exec(
            select(CallbackEntryRow.queue, CallbackAttemptRow.result, func.count())
            .join(CallbackEntryRow, CallbackEntryRow.id == CallbackAttemptRow.entry_id)
            .group_by(CallbackEntryRow.queue, CallbackAttemptRow.result)).all()}
        for q, n in session.exec(select(CallbackEntryRow.queue, func.count()).where(
                CallbackEntryRow.status == Status.closed.value).group_by(CallbackEntryRow.queue)).all():
            totals[(q, "closed")] = n
        return waiting, totals
