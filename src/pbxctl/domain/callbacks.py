"""The callback list's rules, as pure functions over plain entries: which calls make an
entry, how the same number joins its entry, when an entry closes by itself, which entry an
agent takes next, when an automatic callback is tried again, and how many may start at
once. Storage (storage/callback_list.py) and the adapters only carry these decisions out.

An entry is per queue and number: every abandoned call (that waited long enough) and every
callback request of that number in that queue, while the entry is pending, is one more
call on it (`times_called`), not a second entry — so a customer who calls again while a
callback is pending is matched, never called twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import Enum
from typing import Iterable, Mapping

from pbxctl.domain.opening_hours import OpeningHours


class Status(str, Enum):
    open = "open"                # waiting for an agent (manual) or its next attempt (automatic)
    in_progress = "in_progress"  # an agent has it, or pbxctl is dialling it
    answered = "answered"        # the customer answered (and accepted) a callback
    unanswered = "unanswered"    # the last attempt failed: stays on the manual list
    closed = "closed"            # closed by someone (closed_by, close_reason)


# An entry a new call of the same number joins (a finished one does not: that call makes a
# new entry).
PENDING = frozenset({Status.open, Status.in_progress, Status.unanswered})
FINISHED = frozenset({Status.answered, Status.closed})

# What an attempt came to. `not_accepted`: answered but the accept key never came (an
# answering machine); `agent_gone`: the agent hung up before the customer answered;
# `refused`: the number was not allowed (never dialled); `failed`: the PBX could not dial.
ATTEMPT_RESULTS = ("answered", "no_answer", "busy", "not_accepted", "agent_gone", "refused", "failed")
SOURCES = ("abandoned", "ivr", "keep_place")


class CallbackError(ValueError):
    """A change the entry's state does not allow; the message says why."""


@dataclass(frozen=True)
class Attempt:
    at: dt.datetime  # when it ended (retries count from here)
    result: str
    agent: str | None = None
    call_id: str | None = None  # the callback call's uniqueid: with the entry, the attempt's natural key
    started_at: dt.datetime | None = None  # when the customer was dialled
    answered_at: dt.datetime | None = None  # when the customer answered


@dataclass(frozen=True)
class CallbackEntry:
    queue: str
    number: str  # E.164; "" for an anonymous caller (listed when the queue says so, never dialled)
    first_call_at: dt.datetime
    last_call_at: dt.datetime
    source: str = "abandoned"  # how the entry began
    times_called: int = 1
    status: Status = Status.open
    attempts: tuple[Attempt, ...] = ()
    agent: str | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    closed_at: dt.datetime | None = None
    call_ids: tuple[str, ...] = ()
    id: int | None = None
    # The call (its uniqueid) that holds an in-progress entry: its result, however late it
    # arrives, is told from another take's.
    take_call: str | None = None

    @property
    def attempts_since_last_call(self) -> tuple[Attempt, ...]:
        """The attempts that count against the queue's `attempts`: a new call of the
        customer starts the count again."""
        return tuple(a for a in self.attempts if a.at >= self.last_call_at and a.result != "refused")


@dataclass(frozen=True)
class CallbackRequest:
    """A fact that asks for a callback: an abandoned queue call, an IVR request, a caller
    who left the queue to be called back."""

    queue: str
    number: str
    at: dt.datetime
    source: str
    call_id: str | None = None


@dataclass(frozen=True)
class QueueRules:
    """One queue's callback settings, as the rules need them (from `callbacks.queues.X`)."""

    min_wait: int = 0
    exclude_anonymous: bool = True
    automatic: bool = False
    retry_interval: int = 600
    attempts: int = 3
    hours: OpeningHours | None = None
    during: frozenset[str] = frozenset({"open"})


# A queue without callback settings (IVR requests are listed there too).
DEFAULT_RULES = QueueRules()


def abandon_counts(rules: QueueRules, wait_seconds: float, number: str) -> tuple[bool, str]:
    """Does an abandoned call make (or join) an entry? With the reason either way."""
    if wait_seconds < rules.min_wait:
        return False, f"waited {wait_seconds:.0f} s, less than min_wait {rules.min_wait} s"
    if not number and rules.exclude_anonymous:
        return False, "anonymous caller (exclude_anonymous)"
    return True, f"abandoned after {wait_seconds:.0f} s"


def merge(entries: Iterable[CallbackEntry], request: CallbackRequest) -> CallbackEntry:
    """The entry `request` makes or joins. Anonymous callers never join one another: each
    anonymous abandon is an entry of its own. The same call twice (a log read again)
    changes nothing."""
    for entry in entries:
        if entry.queue != request.queue or entry.status not in PENDING:
            continue
        if not request.number or entry.number != request.number:
            continue
        if request.call_id is not None and request.call_id in entry.call_ids:
            return entry
        # A new call puts an unanswered entry back on the open list, with fresh attempts.
        return replace(
            entry,
            times_called=entry.times_called + 1,
            first_call_at=min(entry.first_call_at, request.at),
            last_call_at=max(entry.last_call_at, request.at),
            status=Status.open if entry.status is Status.unanswered else entry.status,
            call_ids=entry.call_ids + ((request.call_id,) if request.call_id else ()),
        )
    return CallbackEntry(
        queue=request.queue, number=request.number, first_call_at=request.at, last_call_at=request.at,
        source=request.source, call_ids=(request.call_id,) if request.call_id else (),
    )


def close_on_answered_call(entry: CallbackEntry, queue: str, number: str, answered_at: dt.datetime,
                           call_id: str | None) -> CallbackEntry | None:
    """The customer called the queue again and an agent answered: the entry is done. None
    when that call does not close this entry (another queue or number, an earlier call,
    an entry already finished, or one an agent is calling back right now)."""
    if entry.status not in (Status.open, Status.unanswered) or not number:
        return None
    if entry.queue != queue or entry.number != number or answered_at < entry.last_call_at:
        return None
    return replace(entry, status=Status.closed, closed_by="pbxctl", closed_at=answered_at,
                   close_reason=f"called in again and was answered (call {call_id or '?'})",
                   call_ids=entry.call_ids + ((call_id,) if call_id and call_id not in entry.call_ids else ()))


def take(entry: CallbackEntry, agent: str, call: str | None = None) -> CallbackEntry:
    """An agent takes the entry (manual list, `*47`, or an automatic callback's agent);
    `call`: the uniqueid of the call that will dial it."""
    if entry.status not in (Status.open, Status.unanswered):
        held = f" by {entry.agent}" if entry.agent else ""
        raise CallbackError(f"callback {entry.id or ''} is {entry.status.value}{held}: only open or unanswered ones can be taken")
    if not entry.number:
        raise CallbackError(f"callback {entry.id or ''} has no number (an anonymous caller): it can only be closed")
    return replace(entry, status=Status.in_progress, agent=agent, take_call=call)


def release(entry: CallbackEntry) -> CallbackEntry:
    """An agent gives an entry back without an attempt (the agent's phone did not answer)."""
    if entry.status is not Status.in_progress:
        return entry
    return replace(entry, status=Status.open, take_call=None)


def record_attempt(entry: CallbackEntry, attempt: Attempt, rules: QueueRules) -> CallbackEntry:
    """An attempt's result on the entry: answered ends it, a failure leaves it open for the
    next attempt or, after the last one, unanswered on the manual list."""
    if attempt.result not in ATTEMPT_RESULTS:
        raise ValueError(f"unknown attempt result {attempt.result!r}")
    if entry.status in FINISHED:
        raise CallbackError(f"callback {entry.id or ''} is already {entry.status.value}")
    done = replace(entry, attempts=entry.attempts + (attempt,), agent=attempt.agent or entry.agent, take_call=None)
    if attempt.result == "answered":
        return replace(done, status=Status.answered)
    if attempt.result == "refused":  # never dialable as it stands: a person must look at it
        return replace(done, status=Status.unanswered)
    left = rules.attempts - len(done.attempts_since_last_call)
    return replace(done, status=Status.open if left > 0 else Status.unanswered)


# A customer who answers and hangs up within this many seconds has not been spoken to.
MIN_TALK_S = 3


def dial_outcome(dial_status: str, answered_seconds: float, accepted: bool | None = None) -> str | None:
    """An attempt's result from how the dialling ended (Asterisk's DIALSTATUS and
    ANSWEREDTIME; `accepted`: whether the customer pressed the accept key, None when none
    was asked for); None when the customer was never dialled (the agent hung up before)."""
    status = dial_status.strip().upper()
    if not status:
        return None
    if status == "ANSWER":
        if accepted is not None:  # answered but never accepted: a machine, or a hang-up at once
            return "answered" if accepted else "not_accepted"
        return "answered" if answered_seconds >= MIN_TALK_S else "not_accepted"
    return {"NOANSWER": "no_answer", "BUSY": "busy", "CANCEL": "agent_gone"}.get(status, "failed")


@dataclass(frozen=True)
class CallbackResult:
    """How one callback call ended, as the dialplan's hangup handler tells it (live as an
    AMI UserEvent, and in queue_log as a PBXCTLCBRESULT line): the same facts either way,
    so the two are one attempt (its natural key: entry and `call_id`)."""

    entry_id: int
    call_id: str              # the callback call's uniqueid (the agent's channel)
    ended_at: dt.datetime
    dial_status: str          # DIALSTATUS; "" when the customer was never dialled
    dialed_seconds: float = 0.0
    answered_seconds: float = 0.0
    accept_key: str = ""      # the key the customer was asked for ("" for `*47`: none asked)
    accepted: bool = False
    agent: str | None = None
    customer_call: str | None = None  # the customer's call it was logged on (queue_log's callid)

    @property
    def outcome(self) -> str | None:
        return dial_outcome(self.dial_status, self.answered_seconds, self.accepted if self.accept_key else None)

    def attempt(self) -> Attempt:
        started = self.ended_at - dt.timedelta(seconds=self.dialed_seconds) if self.dialed_seconds else None
        answered = (self.ended_at - dt.timedelta(seconds=self.answered_seconds)
                    if self.dial_status.strip().upper() == "ANSWER" else None)
        return Attempt(self.ended_at, self.outcome or "failed", self.agent, self.call_id, started, answered)


def belongs(entry: CallbackEntry, result: CallbackResult) -> bool:
    """Is this result about this entry? Entry ids are a database's own: a queue_log line
    written for another database's entry (a list made afresh, a test's) names a customer
    call this entry does not have, and a call that does not hold it."""
    if result.customer_call is None:
        return True
    return result.customer_call in entry.call_ids or entry.take_call == result.call_id


def apply_result(entry: CallbackEntry, result: CallbackResult, rules: QueueRules) -> CallbackEntry:
    """A callback call's end on its entry, however often and in whatever order it is told.
    The same call again changes nothing. A call that never dialled the customer gives the
    entry back only while that call still holds it. A result that arrives after the entry
    was given back and taken by another call (the service was down meanwhile) is kept as an
    attempt, and the entry stays with the call that holds it now; on a finished entry
    (closed by hand meanwhile) it is kept as an attempt too."""
    if any(a.call_id == result.call_id for a in entry.attempts) or not belongs(entry, result):
        return entry
    outcome = result.outcome
    held_by_other = entry.status is Status.in_progress and entry.take_call not in (None, result.call_id)
    if outcome is None:
        if entry.status is Status.in_progress and entry.take_call == result.call_id:
            return release(entry)
        return entry
    if entry.status in FINISHED or held_by_other:
        return replace(entry, attempts=entry.attempts + (result.attempt(),))
    return record_attempt(entry, result.attempt(), rules)


def close(entry: CallbackEntry, by: str, why: str, at: dt.datetime) -> CallbackEntry:
    if entry.status in FINISHED:
        raise CallbackError(f"callback {entry.id or ''} is already {entry.status.value}")
    if not why.strip():
        raise CallbackError("say why the callback is closed")
    return replace(entry, status=Status.closed, closed_by=by, close_reason=why, closed_at=at)


# Opening hours are minute-exact; a week and a day covers every weekly plan plus a holiday.
_SEARCH_MINUTES = 8 * 24 * 60


def next_open_time(hours: OpeningHours, during: frozenset[str], after: dt.datetime) -> dt.datetime | None:
    """The first minute at or after `after` (aware) when `hours` is in one of `during`; None
    when it is not within the next eight days."""
    when = after
    if hours.decide(when).category in during:
        return when
    when = when.replace(second=0, microsecond=0)
    for _ in range(_SEARCH_MINUTES):
        when += dt.timedelta(minutes=1)
        if hours.decide(when).category in during:
            return when
    return None


def next_attempt_at(entry: CallbackEntry, rules: QueueRules) -> dt.datetime | None:
    """When an automatic callback is tried next; None when it is not (manual queue, no
    number, not open, attempts used up, or the hours set never opens)."""
    if not rules.automatic or entry.status is not Status.open or not entry.number:
        return None
    tried = entry.attempts_since_last_call
    if len(tried) >= rules.attempts:
        return None
    earliest = entry.last_call_at if not tried else tried[-1].at + dt.timedelta(seconds=rules.retry_interval)
    if rules.hours is None:
        return earliest
    return next_open_time(rules.hours, rules.during, earliest)


def next_for_agent(entries: Iterable[CallbackEntry], queues: Iterable[str]) -> CallbackEntry | None:
    """What `*47` (or `callbacks take --next`) gives an agent: the open entry with a number
    in one of the agent's queues whose customer has waited longest."""
    mine = set(queues)
    candidates = [e for e in entries if e.status is Status.open and e.number and e.queue in mine]
    return min(candidates, key=lambda e: (e.first_call_at, e.id or 0), default=None)


@dataclass(frozen=True)
class Dispatch:
    entry: CallbackEntry
    agent: str


def dispatch(entries: Iterable[CallbackEntry], rules: Mapping[str, QueueRules], free_agents: Mapping[str, Iterable[str]],
             busy_with_callbacks: Iterable[str], now: dt.datetime) -> list[Dispatch]:
    """Which automatic callbacks start now, each with the free agent it rings first.

    Never more callbacks than free agents: every callback holds one agent of its queue from
    the moment it starts, an agent free in two queues is still one agent, and agents
    already held by a callback in progress (`busy_with_callbacks`, rung but not yet shown
    busy by the PBX) are not free. Customers who called first are called first; each
    queue's free agents are offered in the order given (the caller's choice, e.g. the
    longest idle first)."""
    held = set(busy_with_callbacks)
    due = []
    for entry in entries:
        queue_rules = rules.get(entry.queue)
        if queue_rules is None:
            continue
        when = next_attempt_at(entry, queue_rules)
        if when is not None and when <= now:
            due.append(entry)
    out = []
    for entry in sorted(due, key=lambda e: (e.first_call_at, e.id or 0)):
        agent = next((a for a in free_agents.get(entry.queue, ()) if a not in held), None)
        if agent is None:
            continue
        held.add(agent)
        out.append(Dispatch(entry, agent))
    return out
