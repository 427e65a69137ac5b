"""The callback list fed from the books: an abandoned stint (in a queue under
`callbacks.queues`, past its min_wait) puts the caller's number on the list; an answered
stint of a number with a pending entry in that queue closes it. Reading the books, never
live events: a call abandoned while pbxctl's service was down is in queue_log, and so on
the list once the books have it.

The feed remembers per node how far it has read (the stints' end times), and reads again
from a little before that: a stint may reach the books a moment after a later one, and a
call fed twice is a no-op (callback_calls' key). IVR requests come straight from the
decision service instead (`record_ivr_request`): only that service knows them.

The callback calls' results come from the books too (`feed_results`: pbxctl's
PBXCTLCBRESULT lines, which the dialplan's hangup handler writes whether or not the
service runs); the service also records them live from the same handler's UserEvent.
Either way a result is one attempt (its entry and the callback call's uniqueid).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

import structlog
from sqlalchemy import and_, select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from pbxctl.books.callback_line import EVENT as RESULT_EVENT, parse_result
from pbxctl.books.tables import BooksCall, BooksPbxctlEvent, BooksQueueStint
from pbxctl.domain.callbacks import DEFAULT_RULES, CallbackRequest, QueueRules, abandon_counts, close_on_answered_call
from pbxctl.domain.phone_numbers import InvalidNumber, NumberingPlan, normalize_number
from pbxctl.storage.callback_list import (
    CallbackFeedRow,
    save_entry,
    add_request,
    link_call,
    moment,
    pending_for,
    record_result,
    seconds,
)

log = structlog.get_logger("pbxctl.callbacks")

# Read again this far behind the last stint fed (seconds): the books write a call's stints
# when its lines arrive, not strictly in end-time order.
OVERLAP_S = 3600
# A new database (or node) starts this far back.
FIRST_LOOK_BACK_S = 86400


@dataclass
class FeedResult:
    added: int = 0
    closed: int = 0
    skipped: int = 0
    results: int = 0  # callback results that changed an entry


def caller_e164(number: str, plan: NumberingPlan) -> str:
    """The caller's number as the list keeps it; "" for anonymous or unreadable ones."""
    text = (number or "").strip()
    if not text or text.lower() in ("anonymous", "unknown", "restricted", "private", "unavailable"):
        return ""
    try:
        return normalize_number(text, plan)
    except InvalidNumber:
        return ""


def feed_from_books(engine: Engine, node: str, rules: Mapping[str, QueueRules], plan: NumberingPlan,
                    now: dt.datetime) -> FeedResult:
    """One pass over the stints that ended since the last one; one transaction."""
    result = FeedResult()
    with Session(engine) as session:
        mark = session.get(CallbackFeedRow, (node, "stints"))
        start = (mark.last_at - OVERLAP_S) if mark else seconds(now) - FIRST_LOOK_BACK_S
        stints = session.execute(
            sa_select(BooksQueueStint.callid, BooksQueueStint.queue, BooksQueueStint.entered_at,
                      BooksQueueStint.ended_at, BooksQueueStint.outcome, BooksQueueStint.wait_seconds,
                      BooksQueueStint.answered_at, BooksCall.caller_number)
            .join(BooksCall, and_(BooksCall.node == BooksQueueStint.node, BooksCall.callid == BooksQueueStint.callid))
            .where(BooksQueueStint.node == node, BooksQueueStint.ended_at >= start,
                   BooksQueueStint.outcome.in_(("abandoned", "answered")))
            .order_by(BooksQueueStint.ended_at)
        ).all()
        last = mark.last_at if mark else start
        for callid, queue, entered, ended, outcome, wait, answered_at, caller in stints:
            last = max(last, ended)
            number = caller_e164(caller, plan)
            if outcome == "abandoned":
                queue_rules = rules.get(queue)
                if queue_rules is None:
                    continue
                counted, why = abandon_counts(queue_rules, wait or 0, number)
                if not counted:
                    result.skipped += 1
                    continue
                entry = add_request(session, node, CallbackRequest(queue, number, moment(entered), "abandoned", callid), now)
                if entry is not None:
                    result.added += 1
                    log.info("callback_listed", queue=queue, number=number or "anonymous", call_id=callid,
                             entry=entry.id, times_called=entry.times_called, why=why)
            elif number:
                when = moment(answered_at or ended)
                for entry in pending_for(session, queue, number):
                    closed = close_on_answered_call(entry, queue, number, when, callid)
                    if closed is None:
                        continue
                    closed = save_entry(session, closed, now)
                    link_call(session, node, closed, callid, when, "answered_in")
                    result.closed += 1
                    log.info("callback_closed", queue=queue, number=number, entry=entry.id, why=closed.close_reason)
        _set_mark(session, mark, node, "stints", last)
        result.results = _feed_results(session, node, rules, now)
        session.commit()
    return result


def _set_mark(session: Session, mark: CallbackFeedRow | None, node: str, source: str, last: int) -> None:
    if mark is None:
        session.add(CallbackFeedRow(node=node, source=source, last_at=last))
    else:
        mark.last_at = last
        session.add(mark)


def _feed_results(session: Session, node: str, rules: Mapping[str, QueueRules], now: dt.datetime) -> int:
    """The PBXCTLCBRESULT lines the books got since the last pass (from a little before:
    a line may be booked after a later one), each applied to its entry."""
    mark = session.get(CallbackFeedRow, (node, "results"))
    start = (mark.last_at - OVERLAP_S) if mark else seconds(now) - FIRST_LOOK_BACK_S
    lines = session.execute(
        sa_select(BooksPbxctlEvent.at, BooksPbxctlEvent.data, BooksPbxctlEvent.agent, BooksPbxctlEvent.callid)
        .where(BooksPbxctlEvent.event == RESULT_EVENT, BooksPbxctlEvent.at >= start, BooksPbxctlEvent.node == node)
        .order_by(BooksPbxctlEvent.at)
    ).all()
    last = mark.last_at if mark else start
    changed = 0
    for at, data, agent, callid in lines:
        last = max(last, at)
        told = parse_result(data, at, agent, callid)
        if told is None:
            continue
        done = record_result(session, told, lambda queue: rules.get(queue, DEFAULT_RULES), now)
        if done is not None and done[0] != done[1]:
            changed += 1
            log.info("callback_result_from_books", entry=told.entry_id, call_id=told.call_id,
                     result=told.outcome or "given_back", status=done[1].status.value)
    _set_mark(session, mark, node, "results", last)
    return changed


def record_ivr_request(session: Session, node: str, queue: str, number: str, at: dt.datetime,
                       call_id: str | None, now: dt.datetime) -> int | None:
    """An IVR `callback` request on the list, in the caller's session (the request row and
    the entry are written together)."""
    entry = add_request(session, node, CallbackRequest(queue, number, at, "ivr", call_id), now)
    return entry.id if entry is not None else None
