"""Keep-my-place entries in the database: a caller who left the queue with the key goes on
the callback list (source keep_place) held by a placeholder, with the original join time
and position (callback_places); the placeholder keeper reads the held ones back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pbxctl.domain.callbacks import CallbackEntry, CallbackError, CallbackRequest, Status
from pbxctl.domain.keep_place import hold, holds_place
from pbxctl.storage.callback_list import (
    CallbackEntryRow,
    CallbackPlaceRow,
    _entry,
    add_request,
    pending_for,
    save_entry,
    seconds,
)

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Place:
    entry: CallbackEntry
    queue: str
    joined: float  # epoch seconds
    position: int
    call_id: str


def _listed(session: Session, node: str, request: CallbackRequest, now: dt.datetime) -> CallbackEntry:
    """The entry the request makes or joins (the same call again: the entry it joined)."""
    entry = add_request(session, node, request, now)
    if entry is not None:
        return entry
    same = next((e for e in pending_for(session, request.queue, request.number) if request.call_id in e.call_ids), None)
    if same is None:  # this call's entry is finished already (answered, closed)
        raise CallbackError(f"call {request.call_id} is on a callback that is already finished")
    return same


def record_keep_place(engine: Engine, node: str, queue: str, number: str, joined: float, position: int,
                      call_id: str, now: dt.datetime) -> CallbackEntry:
    """The caller on the list, held by a placeholder (domain.keep_place.hold), in one
    transaction. The same call twice (a retried AGI) changes nothing more."""
    with Session(engine) as session:
        request = CallbackRequest(queue, number, dt.datetime.fromtimestamp(joined, UTC), "keep_place", call_id)
        entry = save_entry(session, hold(_listed(session, node, request, now)), now)
        if holds_place(entry):
            place = session.get(CallbackPlaceRow, entry.id) or CallbackPlaceRow(entry_id=entry.id)
            place.queue, place.call_id, place.position = queue, call_id, position
            place.joined_ms, place.left_at = int(round(joined * 1000)), seconds(now)
            session.add(place)
        session.commit()
        return entry


def record_left_unconfirmed(engine: Engine, node: str, queue: str, number: str, joined: float, call_id: str,
                            now: dt.datetime) -> CallbackEntry:
    """A caller who hung up while confirming: an ordinary request on the list (open), no
    placeholder."""
    with Session(engine) as session:
        request = CallbackRequest(queue, number, dt.datetime.fromtimestamp(joined, UTC), "keep_place", call_id)
        entry = _listed(session, node, request, now)
        session.commit()
        return entry


def held_places(engine: Engine) -> list[Place]:
    """Entries a placeholder holds now, the earliest original caller first."""
    with Session(engine) as session:
        rows = session.exec(select(CallbackEntryRow, CallbackPlaceRow)
                            .join(CallbackPlaceRow, CallbackPlaceRow.entry_id == CallbackEntryRow.id)
                            .where(CallbackEntryRow.status == Status.in_progress.value)
                            .order_by(CallbackPlaceRow.joined_ms)).all()
        out = []
        for row, place in rows:
            entry = _entry(session, row)
            if holds_place(entry):
                out.append(Place(entry, place.queue, place.joined_ms / 1000, place.position, place.call_id))
        return out
