"""The callback list's operations for a site, shared by the CLI, the HTTP API and the
desk-phone code: feed it from the books, list and show entries, take, record an attempt,
close. Each is one transaction on the database; the rules are the domain's.

Backend-neutral: it knows the site and the database, never the PBX.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Callable, Iterable

import structlog

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from pbxctl.books.site_view import node_name
from pbxctl.domain.callbacks import (
    ATTEMPT_RESULTS,
    Attempt,
    CallbackEntry,
    CallbackError,
    CallbackResult,
    QueueRules,
    Status,
    close,
    next_for_agent,
    record_attempt,
    release,
    take,
)
from pbxctl.domain.outbound_numbers import OutboundDecision, check_outbound
from pbxctl.domain.phone_numbers import NumberingPlan
from pbxctl.site.callbacks_model import DEFAULT_QUEUE
from pbxctl.site.load import LoadedSite
from pbxctl.storage.callback_feed import FeedResult, feed_from_books
from pbxctl.storage.callback_list import change_entry, get_entry, linked_calls, list_entries
from pbxctl.storage.callback_list import record_result as stored_result
from pbxctl.storage.failure import failure_kind

log = structlog.get_logger("pbxctl.callbacks")

# The service feeds the list from the books this often (the books follow queue_log every second).
FEED_SECONDS = 5.0
STATUSES = tuple(s.value for s in Status)
# What `list` shows without --status: what still needs someone.
PENDING_STATUSES = ("open", "in_progress", "unanswered")
UTC = dt.timezone.utc


def now_utc() -> dt.datetime:
    return dt.datetime.now(UTC)


def rules_of(loaded: LoadedSite, queue: str) -> QueueRules:
    return loaded.site.callbacks.queues.get(queue, DEFAULT_QUEUE).rules(loaded.hours)


def configured_rules(loaded: LoadedSite) -> dict[str, QueueRules]:
    """The queues whose abandoned calls go on the list."""
    return {q: c.rules(loaded.hours) for q, c in loaded.site.callbacks.queues.items()}


def plan_of(loaded: LoadedSite) -> NumberingPlan:
    n = loaded.site.numbering
    return NumberingPlan(n.country_code, n.international_prefix, n.national_prefix)


def feed(loaded: LoadedSite, engine: Engine, now: dt.datetime | None = None) -> FeedResult:
    args = (engine, node_name(loaded.site), configured_rules(loaded), plan_of(loaded), now or now_utc())
    try:
        return feed_from_books(*args)
    except IntegrityError:  # another feeder (the service, a CLI) wrote the same call first: read again
        return feed_from_books(*args)


async def keep_fed(site: Callable[[], LoadedSite], engine: Engine, interval: float = FEED_SECONDS) -> None:
    """The service's loop: the list fed from the books, in a worker thread (database work)."""
    while True:
        try:
            result = await asyncio.to_thread(feed, site(), engine)
            if result.added or result.closed:
                log.info("callbacks_fed", added=result.added, closed=result.closed, skipped=result.skipped)
        except OperationalError as exc:  # the database locked, full or stopped for a while: next time
            log.warning("callback_feed_failed", fault=failure_kind(exc), error=str(exc.orig or exc))
        except Exception:  # anything else: said in full, and tried again next time
            log.exception("callback_feed_failed")
        await asyncio.sleep(interval)


def check_statuses(statuses: Iterable[str]) -> list[str]:
    out = []
    for status in statuses:
        if status == "all":
            return list(STATUSES)
        if status not in STATUSES:
            raise CallbackError(f"unknown status {status!r} (one of {', '.join(STATUSES)}, or all)")
        out.append(status)
    return out or list(PENDING_STATUSES)


def check_queues(loaded: LoadedSite, queues: Iterable[str]) -> list[str]:
    queues = list(queues)
    for queue in queues:
        if queue not in loaded.site.queues:
            raise CallbackError(f"unknown queue {queue!r} (known: {', '.join(sorted(loaded.site.queues))})")
    return queues


def listing(loaded: LoadedSite, engine: Engine, queues: Iterable[str] = (), statuses: Iterable[str] = ()) -> list[CallbackEntry]:
    return list_entries(engine, check_queues(loaded, queues), check_statuses(statuses))


def entry_or_fail(engine: Engine, entry_id: int) -> CallbackEntry:
    entry = get_entry(engine, entry_id)
    if entry is None:
        raise CallbackError(f"no callback {entry_id}")
    return entry


def dial_check(loaded: LoadedSite, entry: CallbackEntry) -> OutboundDecision:
    """May pbxctl (or an agent on its behalf) dial this entry's number?"""
    outbound = loaded.site.callbacks.outbound_for(entry.queue)
    if not outbound.allowed:
        return OutboundDecision(None, "not_allowed", f"queue {entry.queue!r} has no callbacks.outbound.allowed patterns")
    return check_outbound(entry.number, outbound.policy(loaded.site.numbering))


def _check_agent(loaded: LoadedSite, agent: str, queue: str | None = None) -> None:
    site = loaded.site
    if agent not in site.agents:
        raise CallbackError(f"unknown agent {agent!r}")
    if queue is not None and not any(m.agent == agent for m in site.queues[queue].members):
        raise CallbackError(f"agent {agent!r} is not a member of queue {queue!r}")


def agent_queues(loaded: LoadedSite, agent: str) -> list[str]:
    return [name for name, q in loaded.site.queues.items() if any(m.agent == agent for m in q.members)]


class NothingToTake(CallbackError):
    """No open callback in the agent's queues."""


def take_entry(loaded: LoadedSite, engine: Engine, entry_id: int | None, agent: str,
               now: dt.datetime | None = None, call: str | None = None) -> CallbackEntry:
    """An agent takes entry `entry_id`, or (None) the next open one of the agent's queues;
    `call`: the uniqueid of the call that will dial it (it holds the entry until its result).
    A number that may not be dialled is refused: the entry gets a `refused` attempt and
    stays unanswered for a person to look at (so it is not offered again and again); for
    the next one, the one after it is taken instead."""
    _check_agent(loaded, agent)
    when = now or now_utc()
    if entry_id is not None:
        return _take(loaded, engine, entry_or_fail(engine, entry_id), agent, when, call)
    mine = agent_queues(loaded, agent)
    while True:
        candidate = next_for_agent(list_entries(engine, mine, ["open"]), mine)
        if candidate is None:
            raise NothingToTake(f"no open callback in {agent}'s queues ({', '.join(mine) or 'none'})")
        try:
            return _take(loaded, engine, candidate, agent, when, call)
        except RefusedNumber:
            continue


class RefusedNumber(CallbackError):
    """The entry's number may not be dialled (outbound policy)."""


def _take(loaded: LoadedSite, engine: Engine, entry: CallbackEntry, agent: str, when: dt.datetime,
          call: str | None = None) -> CallbackEntry:
    _check_agent(loaded, agent, entry.queue)
    verdict = dial_check(loaded, entry) if entry.number else None
    if verdict is not None and not verdict.allowed:
        change_entry(engine, entry.id, lambda e: record_attempt(e, Attempt(when, "refused", agent),
                                                                rules_of(loaded, e.queue)), when)
        log.warning("callback_number_refused", entry=entry.id, number=entry.number, why=verdict.why)
        raise RefusedNumber(f"callback {entry.id} refused: {verdict.why}")
    return change_entry(engine, entry.id, lambda e: take(e, agent, call), when)


def attempt_entry(loaded: LoadedSite, engine: Engine, entry_id: int, result: str, agent: str | None = None,
                  call_id: str | None = None, now: dt.datetime | None = None) -> CallbackEntry:
    if result not in ATTEMPT_RESULTS:
        raise CallbackError(f"unknown result {result!r} (one of {', '.join(ATTEMPT_RESULTS)})")
    if agent is not None:
        _check_agent(loaded, agent)
    when = now or now_utc()
    return change_entry(engine, entry_id, lambda e: record_attempt(e, Attempt(when, result, agent, call_id),
                                                                   rules_of(loaded, e.queue)), when)


def release_entry(engine: Engine, entry_id: int, now: dt.datetime | None = None) -> CallbackEntry:
    """An entry given back without an attempt (the agent hung up before the customer was dialled)."""
    return change_entry(engine, entry_id, release, now or now_utc())


def release_take(engine: Engine, entry_id: int, call: str | None, now: dt.datetime | None = None) -> CallbackEntry:
    """The entry given back if `call` still holds it (another take meanwhile keeps it)."""
    return change_entry(engine, entry_id, lambda e: release(e) if e.take_call == call else e, now or now_utc())


def record_result(loaded: LoadedSite, engine: Engine, result: CallbackResult,
                  now: dt.datetime | None = None) -> tuple[CallbackEntry, CallbackEntry] | None:
    """A callback call's result (told live by the dialplan's UserEvent) on its entry, in
    one transaction: (before, after), None for an unknown entry."""
    with Session(engine) as session:
        done = stored_result(session, result, lambda queue: rules_of(loaded, queue), now or now_utc())
        session.commit()
        return done


def outbound_context(loaded: LoadedSite, queue: str) -> str:
    return loaded.site.callbacks.outbound_for(queue).context or loaded.site.pbx.asterisk.outbound_context


def ring_time(loaded: LoadedSite, queue: str) -> int:
    return loaded.site.callbacks.queues.get(queue, DEFAULT_QUEUE).ring_time


def spoken_digits(loaded: LoadedSite, number: str) -> str:
    """What the agent hears: the national number for the site's own country, else the
    whole international number."""
    country = "+" + loaded.site.numbering.country_code
    return number[len(country):] if number.startswith(country) else number.lstrip("+")


def close_entry(loaded: LoadedSite, engine: Engine, entry_id: int, by: str, why: str,
                now: dt.datetime | None = None) -> CallbackEntry:
    when = now or now_utc()
    return change_entry(engine, entry_id, lambda e: close(e, by, why, when), when)


def _stamp(when: dt.datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def entry_document(entry: CallbackEntry, engine: Engine | None = None) -> dict:
    """An entry as JSON (the API's, the CLI's --format json); with its linked calls when
    the engine is given."""
    doc = {
        "id": entry.id, "queue": entry.queue, "number": entry.number or "anonymous", "status": entry.status.value,
        "source": entry.source, "first_call": _stamp(entry.first_call_at), "last_call": _stamp(entry.last_call_at),
        "times_called": entry.times_called, "attempts": len(entry.attempts),
        "last_attempt": _stamp(entry.attempts[-1].at) if entry.attempts else None,
        "last_result": entry.attempts[-1].result if entry.attempts else None,
        "agent": entry.agent, "closed_by": entry.closed_by, "close_reason": entry.close_reason,
        "closed_at": _stamp(entry.closed_at), "call_ids": list(entry.call_ids),
    }
    if engine is not None and entry.id is not None:
        doc["attempt_list"] = [{"at": _stamp(a.at), "result": a.result, "agent": a.agent, "call_id": a.call_id,
                                "dialled_at": _stamp(a.started_at), "answered_at": _stamp(a.answered_at)}
                               for a in entry.attempts]
        doc["calls"] = [{"node": c.node, "call_id": c.callid, "queue": c.queue, "at": _stamp(c.at), "kind": c.kind}
                        for c in linked_calls(engine, entry.id)]
    return doc


COLUMNS = ["id", "queue", "number", "status", "source", "first_call", "last_call", "times_called", "attempts",
           "last_attempt", "last_result", "agent", "closed_by", "close_reason"]
