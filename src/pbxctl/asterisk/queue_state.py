"""The controller's picture of app_queue: queues, their waiting callers, their members and
today's counters, kept in memory and fed one AMI event at a time.

Pure: no sockets and no clock reads; every change takes `now` (epoch seconds) from the
caller. Asterisk publishes queue events on several stasis topics (the caller's channel,
the queue, device state), so events about different channels may reach AMI in any
order. Nothing here assumes otherwise: outcomes are settled per caller uniqueid by
whichever event proves them first, late and duplicate events of a settled caller are
dropped, and a member's call is tracked by the caller it is connected to rather than by
the order of status events. Events about queues or callers never seen before are taken
as they come (a queue is created on first sight); members come from QueueStatus and the
QueueMember* events only.

A caller's time in a queue ends with one outcome, reported once as a CallEnded:
  answered      AgentConnect (HoldTime is the wait; within the service level when ≤ it)
  timed_out, exit_empty, join_refused, other
                the dialplan's `UserEvent: PbxctlQueueExit` (Status: ${QUEUESTATUS}) right
                after Queue() returned
  abandoned     the caller's Hangup after a QueueCallerAbandon and no such UserEvent
A caller out of the queue unanswered is pending until its UserEvent or its Hangup.
App_queue sends QueueCallerAbandon not only when the caller hangs up but also when
Queue() gives up on a caller (timeout, leave-when-empty; seen in recordings of Asterisk
22), so that event alone settles nothing: a caller who hung up has no dialplan left to
send the UserEvent. A pending caller's Hangup settles it as `abandoned` after a
QueueCallerAbandon, else as `other`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Callable, Iterable, Mapping, Sequence

from pbxctl.asterisk.wire import EVENTS, hms_seconds, member_key
from pbxctl.domain.queue_view import CallEnded, CallerView, MemberView, Outcome, QueueCounters, QueueView

Event = Mapping[str, str]

DEFAULT_SERVICE_LEVEL = 20
EXIT_EVENT = EVENTS.queue_exit

# ${QUEUESTATUS} as the PbxctlQueueExit UserEvent reports it. FULL, CONTINUE (the caller
# went on after an answered call) and WITHDRAW count as `other` unless an earlier event
# already settled the caller.
EXIT_STATUS: dict[str, Outcome] = {
    "TIMEOUT": "timed_out",
    "LEAVEEMPTY": "exit_empty",
    "LEAVEUNAVAIL": "exit_empty",
    "JOINEMPTY": "join_refused",
    "JOINUNAVAIL": "join_refused",
}

# enum ast_device_state, as the Status field of QueueMember* events carries it.
DEVICE_UNKNOWN, NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD = range(9)
_UNAVAILABLE = frozenset({INVALID, UNAVAILABLE})
_RINGING = frozenset({RINGING, RINGINUSE})
_BUSY = frozenset({INUSE, BUSY, ONHOLD})

# How many settled caller uniqueids are remembered to drop late duplicates of their events.
ENDED_MEMORY = 20_000


# ------------------------------------------------------------- inside state --


@dataclass(slots=True)
class _Caller:
    queue: str
    uniqueid: str
    channel: str
    caller_id: str
    caller_name: str
    position: int
    joined_at: float
    waiting: bool = True  # False: left the queue unanswered, outcome not known yet
    abandon_wait: float = -1.0  # HoldTime of its QueueCallerAbandon; -1: none came


@dataclass(slots=True)
class _Agent:
    """One device, whatever queue rang it: app_queue connects a device to one caller at a time."""

    interface: str
    device_status: int = DEVICE_UNKNOWN
    in_call: bool = False
    call: CallerView | None = None
    ringing_for: str = ""  # caller uniqueid while app_queue rings this device
    done: str = ""  # uniqueid of the call AgentComplete ended last (a late AgentConnect of it is stale)


@dataclass(slots=True)
class _Member:
    queue: str
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    membership: str = "static"
    paused: bool = False
    pause_reason: str = ""
    calls_taken: int = 0
    last_call: float = 0.0  # on our clock (see _member_fields)
    pbx_last_call: int = -1  # LastCall as Asterisk last sent it; -1: never seen
    own_wrapup: int = 0  # the member's Wrapuptime; 0 = the queue's
    state: str = "available"
    state_since: float = 0.0


@dataclass(slots=True)
class _Queue:
    name: str
    service_level: int
    wrapup: int
    strategy: str = ""
    callers: dict[str, _Caller] = field(default_factory=dict)  # waiting, by uniqueid
    members: dict[str, _Member] = field(default_factory=dict)  # by interface


def _int(value: object, default: int = 0) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


# ---------------------------------------------------------------- the model --


class QueueState:
    def __init__(
        self,
        service_levels: Mapping[str, int] | None = None,
        wrapup: Mapping[str, int] | None = None,
    ) -> None:
        """service_levels and wrapup: queue -> seconds as the site configures them (AMI's
        QueueParams carries the service level but not the queue's wrap-up time). Unknown
        queues get DEFAULT_SERVICE_LEVEL (or QueueParams' value after a resync) and no wrap-up."""
        self._service_levels = dict(service_levels or {})
        self._wrapup = dict(wrapup or {})
        self._queues: dict[str, _Queue] = {}
        self._counters: dict[str, QueueCounters] = {}
        self._callers: dict[str, _Caller] = {}  # every caller in a queue or pending, by uniqueid
        self._agents: dict[str, _Agent] = {}  # by interface
        self._memberships: dict[str, dict[str, _Member]] = {}  # interface -> queue -> member
        self._ringing: dict[str, set[str]] = {}  # caller uniqueid -> interfaces ringing for it
        self._ended: dict[str, str] = {}  # settled caller uniqueid -> queue (recent ones)
        self._now = 0.0
        self._day: dt.date | None = None
        self._day_end = float("-inf")
        # One dict lookup per event picks the handler; events not listed cost nothing more.
        self._handlers: dict[str, Callable[[Event, float], list[CallEnded] | None]] = {
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_ring_no_answer,
            "AgentConnect": self._on_connect,
            "AgentComplete": self._on_complete,
            "AgentDump": self._on_dump,
            "QueueMemberAdded": self._on_member,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberPenalty": self._on_member,
            "QueueMemberRinginuse": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "Hangup": self._on_hangup,
            "UserEvent": self._on_user_event,
        }

    # ------------------------------------------------------------ public --

    def apply(self, event: Event, now: float) -> list[CallEnded]:
        """One AMI event (a panoramisk Message or a plain dict). Returns the callers whose
        time in a queue it settled."""
        handler = self._handlers.get(event.get("Event"))  # type: ignore[arg-type]
        if handler is None:
            return []
        if now >= self._day_end:
            self._roll_day(now)
        if now > self._now:
            self._now = now
        return handler(event, now) or []

    def resync(
        self, queue_status: Sequence[Event], channels: Sequence[Event], now: float
    ) -> list[CallEnded]:
        """Replace queue, member and caller state with what Asterisk lists (every message of
        a QueueStatus action; every CoreShowChannel message). Today's counters stay.

        Callers the old state had that are neither waiting (QueueEntry) nor alive
        (CoreShowChannel) are settled as a pending caller's Hangup would settle them, and
        returned; ones still alive but out of the queue become pending (their UserEvent or
        Hangup settles them)."""
        if now >= self._day_end:
            self._roll_day(now)
        self._now = max(self._now, now)
        params = [m for m in queue_status if m.get("Event") == "QueueParams"]
        member_msgs = [m for m in queue_status if m.get("Event") == "QueueMember"]
        entries = [m for m in queue_status if m.get("Event") == "QueueEntry"]
        alive = {c.get("Uniqueid", ""): c for c in channels if c.get("Event", "CoreShowChannel") == "CoreShowChannel"}

        old_queues, old_callers, old_agents = self._queues, self._callers, self._agents
        self._queues, self._callers, self._agents = {}, {}, {}
        self._memberships, self._ringing = {}, {}
        for p in params:
            name = p.get("Queue", "")
            if not name:
                continue
            q = self._queue(name)
            q.strategy = p.get("Strategy", "") or q.strategy
            if name not in self._service_levels and _int(p.get("ServiceLevel"), 0) > 0:
                q.service_level = _int(p.get("ServiceLevel"))

        for m in member_msgs:
            queue, iface = m.get("Queue", ""), m.get("Location") or m.get("Interface", "")
            if not queue or not iface:
                continue
            q = self._queue(queue)
            old = old_queues.get(queue)
            before = old.members.get(iface) if old else None
            member = self._member(q, iface, m.get("Name") or m.get("MemberName", ""))
            if before is not None:
                member.state, member.state_since = before.state, before.state_since
                member.last_call = before.last_call
            self._member_fields(member, m, now, authoritative=True)
            agent = self._agent(iface)
            agent.device_status = _int(m.get("Status"), agent.device_status)
            if _flag(m.get("InCall")):
                agent.in_call = True
            previous = old_agents.get(iface)
            if previous is not None:
                agent.done = previous.done

        for e in entries:
            queue, uid = e.get("Queue", ""), e.get("Uniqueid", "")
            if not queue or not uid:
                continue
            q = self._queue(queue)
            known = old_callers.get(uid)
            joined = known.joined_at if known is not None and known.queue == queue else now - _int(e.get("Wait"))
            caller = _Caller(
                queue, uid, e.get("Channel", ""), e.get("CallerIDNum", ""), e.get("CallerIDName", ""),
                _int(e.get("Position"), len(q.callers) + 1), joined,
            )
            q.callers[uid] = caller
            self._callers[uid] = caller

        ended: list[CallEnded] = []
        for uid, caller in old_callers.items():
            if uid in self._callers:
                continue
            if uid in alive:
                caller.waiting = False
                self._callers[uid] = caller
            else:
                self._callers[uid] = caller  # to be settled (and dropped) like any other
                caller.waiting = False
                ended.append(self._settle_pending(caller, now))

        self._attach_calls(alive, now)
        for iface in self._agents:
            self._refresh(iface, now)
        return ended

    def queues(self, now: float | None = None) -> dict[str, QueueView]:
        """A snapshot (copies, safe to hand to other code). Time-bound states (wrap-up) are
        judged at `now`, by default the latest time given to apply/resync; a `now` past
        midnight starts the new day's counters even before the day's first event."""
        at = self._now if now is None else max(now, self._now)
        if at >= self._day_end and self._day is not None:
            self._roll_day(at)
        views: dict[str, QueueView] = {}
        for name, q in self._queues.items():
            waiting = sorted(q.callers.values(), key=lambda c: (c.position, c.joined_at))
            callers = [
                CallerView(c.uniqueid, c.channel, c.caller_id, c.caller_name, i, c.joined_at, name)
                for i, c in enumerate(waiting, 1)
            ]
            members = [self._member_view(q, m, at) for m in q.members.values()]
            views[name] = QueueView(name, q.strategy, q.service_level, callers, members, self.counters(name))
        return views

    def counters(self, queue: str) -> QueueCounters:
        found = self._counters.get(queue)
        return replace(found) if found is not None else QueueCounters(day=self._day)

    def restore_today(self, calls: Iterable[CallEnded], now: float) -> int:
        """Today's counters from calls recorded before this process started (the books),
        so a restarted controller does not report a fresh day at 3 pm. Returns how many
        calls counted."""
        self._roll_day(now)
        counted = 0
        for call in calls:
            if dt.datetime.fromtimestamp(call.ended_at).date() != self._day or call.uniqueid in self._ended:
                continue
            self._count(call.queue, call.uniqueid, call.caller_id, call.joined_at, call.outcome,
                        call.wait_seconds, call.agent, call.ended_at)
            counted += 1
        return counted

    def pending(self) -> list[CallerView]:
        """Callers out of a queue whose outcome is not settled yet (awaiting UserEvent/Hangup)."""
        return [
            CallerView(c.uniqueid, c.channel, c.caller_id, c.caller_name, 0, c.joined_at, c.queue)
            for c in self._callers.values()
            if not c.waiting
        ]

    # ------------------------------------------------------------ callers --

    def _on_join(self, ev: Event, now: float) -> list[CallEnded] | None:
        uid, queue = ev.get("Uniqueid", ""), ev.get("Queue", "")
        if not uid or not queue:
            return None
        ended = None
        known = self._callers.get(uid)
        if known is not None:
            if known.queue == queue and known.waiting:
                return None  # a duplicate
            # In another queue (or out of this one, pending): a channel waits in one queue
            # at a time, so that stay is over without us hearing how.
            ended = [self._settle_pending(known, now)]
        q = self._queue(queue)
        position = _int(ev.get("Position"), len(q.callers) + 1)
        for other in q.callers.values():
            if other.position >= position:
                other.position += 1
        get = ev.get
        caller = _Caller(queue, uid, get("Channel", ""), get("CallerIDNum", ""), get("CallerIDName", ""), position, now)
        q.callers[uid] = caller
        self._callers[uid] = caller
        return ended

    def _leave_queue(self, caller: _Caller) -> None:
        q = self._queues.get(caller.queue)
        if q is not None and q.callers.pop(caller.uniqueid, None) is not None:
            for other in q.callers.values():
                if other.position > caller.position:
                    other.position -= 1
        caller.waiting = False
        self._stop_ringing(caller.uniqueid)

    def _on_leave(self, ev: Event, now: float) -> None:
        self._seen_queue(ev)
        caller = self._callers.get(ev.get("Uniqueid", ""))
        if caller is not None and caller.waiting and caller.queue == ev.get("Queue"):
            self._leave_queue(caller)
        else:
            self._stop_ringing(ev.get("Uniqueid", ""))

    def _on_abandon(self, ev: Event, now: float) -> None:
        # Not settled here: a timeout or leave-when-empty sends this too (see the top).
        uid, queue = ev.get("Uniqueid", ""), ev.get("Queue", "")
        if not uid or not queue:
            return
        caller = self._callers.get(uid)
        hold = _int(ev.get("HoldTime"), -1)
        if caller is None or caller.queue != queue:
            if self._ended.get(uid) == queue:
                return  # a late copy
            if caller is not None:
                self._settle_pending(caller, now)
            # joined before we knew of it: pending from here
            hold = max(hold, 0)
            get = ev.get
            caller = _Caller(
                queue, uid, get("Channel", ""), get("CallerIDNum", ""), get("CallerIDName", ""), 0, now - hold, False
            )
            self._queue(queue)
            self._callers[uid] = caller
        elif caller.waiting:
            self._leave_queue(caller)
        caller.abandon_wait = float(hold) if hold >= 0 else now - caller.joined_at

    def _on_user_event(self, ev: Event, now: float) -> list[CallEnded] | None:
        if ev.get("UserEvent") != EXIT_EVENT:
            return None
        uid, queue = ev.get("Uniqueid", ""), ev.get("Queue", "")
        outcome = EXIT_STATUS.get((ev.get("Status") or "").strip().upper(), "other")
        caller = self._callers.get(uid)
        if caller is not None and caller.queue == queue:
            if outcome == "join_refused":
                wait = 0.0
            else:
                wait = caller.abandon_wait if caller.abandon_wait >= 0 else now - caller.joined_at
            return [self._settle(caller, outcome, wait, None, now)]
        return self._settle_unknown(ev, uid, queue, outcome, 0.0, None, now)

    def _on_hangup(self, ev: Event, now: float) -> list[CallEnded] | None:
        uid = ev.get("Uniqueid", "")
        if uid in self._ringing:
            self._stop_ringing(uid)
        caller = self._callers.get(uid)
        if caller is None:
            return None
        if caller.waiting:
            # App_queue reports the abandon before the channel's Hangup, so this only
            # happens when events were lost; a hang-up while waiting is an abandon.
            return [self._settle(caller, "abandoned", now - caller.joined_at, None, now)]
        return [self._settle_pending(caller, now)]

    # ------------------------------------------------------------- agents --

    def _on_agent_called(self, ev: Event, now: float) -> None:
        uid, iface = ev.get("Uniqueid", ""), ev.get("Interface", "")
        if not iface:
            return
        caller = self._callers.get(uid)
        if caller is not None and not caller.waiting:
            return  # the caller left already; this ring is over
        if caller is None and self._ended.get(uid) == ev.get("Queue"):
            return  # a late copy for a caller settled already
        self._seen_queue(ev)
        agent = self._agent(iface)
        if agent.ringing_for and agent.ringing_for != uid:
            rung = self._ringing.get(agent.ringing_for)
            if rung is not None:
                rung.discard(iface)
        agent.ringing_for = uid
        self._ringing.setdefault(uid, set()).add(iface)
        self._refresh(iface, now)

    def _on_ring_no_answer(self, ev: Event, now: float) -> None:
        uid, iface = ev.get("Uniqueid", ""), ev.get("Interface", "")
        self._seen_queue(ev)
        agent = self._agents.get(iface)
        if agent is not None and agent.ringing_for == uid:
            agent.ringing_for = ""
            rung = self._ringing.get(uid)
            if rung is not None:
                rung.discard(iface)
            self._refresh(iface, now)

    def _on_connect(self, ev: Event, now: float) -> list[CallEnded] | None:
        return self._answer(ev, ev.get("Uniqueid", ""), ev.get("Queue", ""), ev.get("Interface", ""), now)

    def _answer(self, ev: Event, uid: str, queue: str, iface: str, now: float) -> list[CallEnded] | None:
        """AgentConnect (or an AgentComplete whose AgentConnect we have not seen)."""
        agent_name = ev.get("MemberName") or iface or None
        wait = _int(ev.get("HoldTime"), -1)
        caller = self._callers.get(uid)
        if caller is not None and caller.queue == queue:
            call = CallerView(uid, caller.channel, caller.caller_id, caller.caller_name, 0, caller.joined_at, queue)
            ended = [self._settle(caller, "answered", wait if wait >= 0 else now - caller.joined_at, agent_name, now)]
        elif self._ended.get(uid) == queue:
            return None  # a late copy: the caller was settled, its member has moved on
        else:
            get = ev.get
            call = CallerView(
                uid, get("Channel", ""), get("CallerIDNum", ""), get("CallerIDName", ""), 0, now - max(wait, 0), queue
            )
            ended = self._settle_unknown(ev, uid, queue, "answered", max(wait, 0), agent_name, now)
        self._stop_ringing(uid)
        if iface:
            agent = self._agent(iface)
            if agent.done != uid:  # not a late copy of a call that already completed
                agent.in_call, agent.call = True, call
                self._refresh(iface, now)
        return ended

    def _on_complete(self, ev: Event, now: float) -> list[CallEnded] | None:
        uid, queue, iface = ev.get("Uniqueid", ""), ev.get("Queue", ""), ev.get("Interface", "")
        self._seen_queue(ev)
        ended = None
        caller = self._callers.get(uid)
        if caller is not None and caller.queue == queue:
            # A caller we saw in the queue, completed before its AgentConnect came: the
            # call was answered all the same. (A caller we never saw was answered before
            # we were watching: nothing to count.)
            ended = self._answer(ev, uid, queue, iface, now)
        if not iface:
            return ended
        agent = self._agent(iface)
        if agent.done == uid:
            return ended  # a duplicate
        agent.done = uid
        if agent.call is None or agent.call.uniqueid == uid:
            agent.in_call, agent.call = False, None
        q = self._queues.get(queue)
        member = q.members.get(iface) if q is not None else None
        if member is not None:
            # Wrap-up starts now; CallsTaken comes with the QueueMemberStatus that follows.
            member.last_call = max(member.last_call, now)
        self._refresh(iface, now)
        return ended

    def _on_dump(self, ev: Event, now: float) -> None:
        # The member hung up before being bridged; the caller keeps waiting.
        iface, uid = ev.get("Interface", ""), ev.get("Uniqueid", "")
        agent = self._agents.get(iface)
        if agent is None:
            return
        if agent.ringing_for == uid:
            agent.ringing_for = ""
        if agent.call is not None and agent.call.uniqueid == uid:
            agent.in_call, agent.call = False, None
        self._refresh(iface, now)

    # ------------------------------------------------------------ members --

    def _on_member(self, ev: Event, now: float) -> None:
        queue, iface = ev.get("Queue", ""), ev.get("Interface", "")
        if not queue or not iface:
            return
        member = self._member(self._queue(queue), iface, ev.get("MemberName", ""))
        self._member_fields(member, ev, now, authoritative=False)
        status = ev.get("Status")
        if status is not None and status != "":
            self._agent(iface).device_status = _int(status)
        self._refresh(iface, now)

    def _on_member_removed(self, ev: Event, now: float) -> None:
        queue, iface = ev.get("Queue", ""), ev.get("Interface", "")
        q = self._queues.get(queue)
        if q is None or q.members.pop(iface, None) is None:
            return
        by_queue = self._memberships.get(iface)
        if by_queue is not None:
            by_queue.pop(queue, None)

    @staticmethod
    def _member_fields(member: _Member, ev: Event, now: float, authoritative: bool) -> None:
        """The member fields every QueueMember* event and QueueStatus' QueueMember carry.
        authoritative: QueueStatus' answer (a resync), which may also move counts back."""
        get = ev.get
        name = get("MemberName") or get("Name")
        if name:
            member.name = name
        if get("StateInterface"):
            member.state_interface = get("StateInterface")  # type: ignore[assignment]
        if get("Membership"):
            member.membership = get("Membership")  # type: ignore[assignment]
        if get("Penalty") not in (None, ""):
            member.penalty = _int(get("Penalty"))
        if get("Paused") not in (None, ""):
            member.paused = _flag(get("Paused"))
            member.pause_reason = (get("PausedReason") or get("Reason") or "") if member.paused else ""
        calls = _int(get("CallsTaken"), -1)
        if calls >= 0:
            # A status event may arrive after a newer one: never go back, except when
            # QueueStatus says so ("queue reset stats").
            member.calls_taken = calls if authoritative else max(member.calls_taken, calls)
        last = _int(get("LastCall"), -1)
        if last >= 0:
            # Wrap-up is timed on our clock, which need not agree with Asterisk's to the
            # second: a LastCall that moves on means a call ended just now; only a first
            # sight (or a resync) takes Asterisk's value, never later than now.
            if authoritative or member.pbx_last_call < 0:
                if last:
                    member.last_call = max(member.last_call, min(float(last), now))
            elif last > member.pbx_last_call:
                member.last_call = max(member.last_call, now)
            if authoritative or last > member.pbx_last_call:
                member.pbx_last_call = last
        if get("Wrapuptime") not in (None, ""):
            member.own_wrapup = _int(get("Wrapuptime"))

    # ----------------------------------------------------------- helpers --

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = _Queue(
                name, self._service_levels.get(name, DEFAULT_SERVICE_LEVEL), self._wrapup.get(name, 0)
            )
        return q

    def _member(self, q: _Queue, iface: str, name: str) -> _Member:
        member = q.members.get(iface)
        if member is None:
            member = q.members[iface] = _Member(q.name, iface, name or iface, iface, state_since=self._now)
            self._memberships.setdefault(iface, {})[q.name] = member
        return member

    def _seen_queue(self, ev: Event) -> None:
        # A queue first heard of in an event is created. Members are not: Agent* events
        # also come for a member removed while its phone rang or talked (seen recorded),
        # and member lists come from QueueStatus and the QueueMember* events.
        queue = ev.get("Queue", "")
        if queue and queue not in self._queues:
            self._queue(queue)

    def _agent(self, iface: str) -> _Agent:
        agent = self._agents.get(iface)
        if agent is None:
            agent = self._agents[iface] = _Agent(iface)
        return agent

    def _stop_ringing(self, uid: str) -> None:
        rung = self._ringing.pop(uid, None)
        if not rung:
            return
        for iface in rung:
            agent = self._agents.get(iface)
            if agent is not None and agent.ringing_for == uid:
                agent.ringing_for = ""
                self._refresh(iface, self._now)

    def _wrapup_of(self, member: _Member) -> int:
        if member.own_wrapup > 0:
            return member.own_wrapup
        q = self._queues.get(member.queue)
        return q.wrapup if q is not None else 0

    def _state(self, member: _Member, agent: _Agent | None, now: float) -> str:
        if member.paused:
            return "paused"
        status = agent.device_status if agent is not None else DEVICE_UNKNOWN
        if status in _UNAVAILABLE:
            return "unavailable"
        if status in _RINGING or agent is not None and agent.ringing_for:
            return "ringing"
        if status in _BUSY or agent is not None and agent.in_call:
            return "busy"
        if member.last_call and now < member.last_call + self._wrapup_of(member):
            return "wrapup"
        return "available"

    def _refresh(self, iface: str, now: float) -> None:
        """Re-derive the state of every membership of a device after a change to it."""
        agent = self._agents.get(iface)
        for member in (self._memberships.get(iface) or {}).values():
            state = self._state(member, agent, now)
            if state != member.state:
                if member.state == "wrapup" and state == "available":
                    since = min(now, member.last_call + self._wrapup_of(member))
                else:
                    since = now
                member.state, member.state_since = state, since

    def _member_view(self, q: _Queue, m: _Member, now: float) -> MemberView:
        agent = self._agents.get(m.interface)
        state, since = m.state, m.state_since
        if state == "wrapup":
            ends = m.last_call + self._wrapup_of(m)
            if now >= ends:
                state, since = self._state(m, agent, now), ends
        return MemberView(
            m.interface,
            m.name,
            m.state_interface,
            m.penalty,
            m.membership,
            m.paused,
            m.pause_reason,
            bool(agent and agent.in_call),
            agent.device_status if agent is not None else DEVICE_UNKNOWN,
            m.calls_taken,
            m.last_call,
            self._wrapup_of(m),
            state,  # type: ignore[arg-type]
            since,
            agent.call if agent is not None else None,
        )

    def _settle(self, caller: _Caller, outcome: Outcome, wait: float, agent: str | None, now: float) -> CallEnded:
        if caller.waiting:
            self._leave_queue(caller)
        self._callers.pop(caller.uniqueid, None)
        return self._count(caller.queue, caller.uniqueid, caller.caller_id, caller.joined_at, outcome, wait, agent, now)

    def _settle_pending(self, caller: _Caller, now: float) -> CallEnded:
        """A caller out of the queue whose UserEvent never came: abandoned if app_queue said
        so, else `other`."""
        if caller.abandon_wait >= 0:
            return self._settle(caller, "abandoned", caller.abandon_wait, None, now)
        return self._settle(caller, "other", now - caller.joined_at, None, now)

    def _settle_unknown(
        self, ev: Event, uid: str, queue: str, outcome: Outcome, wait: float, agent: str | None, now: float
    ) -> list[CallEnded] | None:
        """An outcome for a caller we never saw join (joined before we connected, or its join
        was lost): count it once, unless it is a late copy for a caller already settled."""
        if not uid or not queue or self._ended.get(uid) == queue:
            return None
        self._queue(queue)
        return [self._count(queue, uid, ev.get("CallerIDNum", ""), now - wait, outcome, wait, agent, now)]

    def _count(
        self,
        queue: str,
        uid: str,
        caller_id: str,
        joined_at: float,
        outcome: Outcome,
        wait: float,
        agent: str | None,
        now: float,
    ) -> CallEnded:
        counters = self._counters.get(queue)
        if counters is None:
            counters = self._counters[queue] = QueueCounters(day=self._day)
        q = self._queues.get(queue)
        counters.count(outcome, wait, q.service_level if q is not None else self._service_levels.get(queue, DEFAULT_SERVICE_LEVEL))
        ended = self._ended
        ended.pop(uid, None)
        ended[uid] = queue
        if len(ended) > ENDED_MEMORY:
            for old in list(islice(ended, ENDED_MEMORY // 2)):
                del ended[old]
        agent = agent if outcome == "answered" else None
        return CallEnded(queue, uid, caller_id, joined_at, now, outcome, float(wait), agent)

    def _roll_day(self, now: float) -> None:
        """Counters are for the local date of `now`; a later date starts them again."""
        day = dt.datetime.fromtimestamp(now).date()
        if self._day is None or day > self._day:
            self._day = day
            self._counters = {}
        next_midnight = dt.datetime.combine(self._day + dt.timedelta(days=1), dt.time())
        self._day_end = next_midnight.timestamp()

    def _attach_calls(self, alive: dict[str, Event], now: float) -> None:
        """After a resync: which caller each in-call member is connected to, from the bridges
        CoreShowChannels lists (a member's channel and a Queue() caller in one bridge)."""
        bridges: dict[str, list[Event]] = {}
        for chan in alive.values():
            bridge = chan.get("BridgeId", "")
            if bridge:
                bridges.setdefault(bridge, []).append(chan)
        if not bridges:
            return
        by_device: dict[str, _Agent] = {member_key(iface): agent for iface, agent in self._agents.items()}
        for members in bridges.values():
            callers = [c for c in members if c.get("Application") == "Queue"]
            if not callers:
                continue
            caller = callers[0]
            for chan in members:
                if chan is caller:
                    continue
                agent = by_device.get(member_key(chan.get("Channel", "")))
                if agent is None:
                    continue
                queue = (caller.get("ApplicationData") or "").split(",", 1)[0]
                agent.in_call = True
                agent.call = CallerView(
                    caller.get("Uniqueid", ""), caller.get("Channel", ""), caller.get("CallerIDNum", ""),
                    caller.get("CallerIDName", ""), 0, now - hms_seconds(caller.get("Duration", "")), queue,
                )
