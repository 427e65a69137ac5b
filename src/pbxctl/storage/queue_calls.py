"""Queue calls as they ended (answered, abandoned, timed out, ...): one row per caller
that left a queue, written by the controller. Today's service level is counted from them
after a restart; the reports work reads them later."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from pbxctl.domain.queue_view import CallEnded


class QueueCallRecord(SQLModel, table=True):
    __tablename__ = "queue_calls"

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(index=True)
    uniqueid: str = Field(index=True)
    caller_id: str = ""
    joined_at: dt.datetime
    ended_at: dt.datetime = Field(index=True)
    outcome: str  # answered | abandoned | timed_out | exit_empty | join_refused | other
    wait_seconds: float = 0.0
    agent: str | None = None


def record_queue_calls(engine: Engine, rows: list[QueueCallRecord]) -> None:
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def queue_calls_since(engine: Engine, since: dt.datetime) -> list[QueueCallRecord]:
    with Session(engine) as session:
        return list(session.exec(select(QueueCallRecord).where(QueueCallRecord.ended_at >= since)))


def calls_ended_today(engine: Engine) -> list[CallEnded]:
    """Today's (local date) ended queue calls, to restore the live counters after a restart."""
    midnight = dt.datetime.combine(dt.date.today(), dt.time()).astimezone(dt.timezone.utc)
    return [
        CallEnded(r.queue, r.uniqueid, r.caller_id, _epoch(r.joined_at), _epoch(r.ended_at), r.outcome,
                  r.wait_seconds, r.agent)
        for r in queue_calls_since(engine, midnight)
    ]


def _epoch(when: dt.datetime) -> float:
    # SQLite hands datetimes back naive; they were written in UTC.
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()
