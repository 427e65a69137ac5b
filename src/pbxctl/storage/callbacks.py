"""Callback requests: a caller chose to be called back instead of waiting."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select


class CallbackRequest(SQLModel, table=True):
    __tablename__ = "callback_requests"

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(index=True)
    number: str  # E.164
    requested_at: dt.datetime = Field(index=True)
    source: str  # 'ivr' (chosen by the caller) or 'abandoned'
    ivr: str | None = None
    element: str | None = None
    entry: str | None = None
    call_id: str | None = None
    status: str = Field(default="open", index=True)  # open | answered | unanswered | cancelled
    attempts: int = 0
    last_attempt_at: dt.datetime | None = None


def record_callback(engine: Engine, node: str | None = None, **fields) -> int:
    """The request as the service heard it, and (in the same transaction) on the callback
    list of its queue: a new entry, or one more call on the number's pending one."""
    from pbxctl.books.site_view import node_name
    from pbxctl.storage.callback_feed import record_ivr_request

    with Session(engine) as session:
        row = CallbackRequest(**fields)
        session.add(row)
        session.flush()
        record_ivr_request(session, node or node_name(None), row.queue, row.number, row.requested_at, row.call_id,
                           dt.datetime.now(dt.timezone.utc))
        session.commit()
        session.refresh(row)
        return row.id  # type: ignore[return-value]


def open_callbacks(engine: Engine, queue: str | None = None) -> list[CallbackRequest]:
    with Session(engine) as session:
        query = select(CallbackRequest).where(CallbackRequest.status == "open")
        if queue:
            query = query.where(CallbackRequest.queue == queue)
        return list(session.exec(query.order_by(CallbackRequest.requested_at)))
