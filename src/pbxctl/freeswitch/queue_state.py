"""The controller's picture of mod_callcenter: queues, their waiting callers, their members
(agents with a tier in the queue) and today's counters, fed one Event Socket event at a time
and rebuilt from the `callcenter_config` lists after every (re)connect.

Pure: no sockets, no clock reads; every change takes `now` (epoch seconds) from the caller.
The views have the fields the backend-neutral status document, metrics and SLA rules read
(service/status_view.py), so `pbxctl status` looks the same on both PBXs.

What the recordings (tests/fixtures/esl/, FreeSWITCH 1.10.12) say mod_callcenter sends, and
how it is read:
- `member-queue-start`: a caller joined (CC-Member-UUID is the queue's id of it,
  CC-Member-Session-UUID its channel);
- `agent-offering` / `agent-state-change` Receiving: an agent rings;
- `bridge-agent-start`: answered — the caller leaves the waiting list, the agent talks; the
  wait is CC-Agent-Answered-Time - CC-Member-Joined-Time;
- `bridge-agent-end`: the talk is over (the agent's wrap-up starts: mod_callcenter sends
  no event for its end, so it is the agent's wrap_up_time after this);
- `member-queue-end`: CC-Cause Terminated (was answered: already settled) or Cancel with
  CC-Cancel-Reason BREAK_OUT (the caller hung up: abandoned), TIMEOUT (max-wait-time:
  timed_out), NO_AGENT_TIMEOUT (no agent logged in: exit_empty);
- `agent-status-change` (Available, On Break, Logged Out, ...), `agent-state-change`
  (Waiting, Receiving, In a queue call, Idle); tier changes send no event at all, so tiers
  come from the lists and from the controller's own commands (`set_tier`).
Agent status is one per agent, not per queue: an agent On Break is paused in all its queues.
An agent is a member of a queue while it has a tier there that is not Standby and its
status is not Logged Out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from pbxctl.domain.queue_view import CallEnded, CallerView, MemberView, Outcome, QueueCounters, QueueView
from pbxctl.freeswitch import wire

Event = Mapping[str, str]

CANCEL_REASONS: dict[str, Outcome] = {
    "BREAK_OUT": "abandoned",
    "TIMEOUT": "timed_out",
    "NO_AGENT_TIMEOUT": "exit_empty",
}
# Agent statuses in which mod_callcenter counts an agent as logged in.
LOGGED_IN = (wire.AVAILABLE, wire.AVAILABLE_ON_DEMAND, wire.ON_BREAK)


# ------------------------------------------------------------- inside state --


@dataclass(slots=True)
class _Caller:
    queue: str
    member_uuid: str
    uniqueid: str
    caller_id: str
    caller_name: str
    joined_at: float
    channel: str = ""
    agent: str = ""  # set once answered
    settled: bool = False
    answered_at: float = 0.0
    agent_uuid: str = ""  # the agent's channel (CC-Agent-UUID)


@dataclass(slots=True)
class _Agent:
    name: str
    status: str = wire.LOGGED_OUT
    state: str = wire.STATE_WAITING
    wrapup: int = 0
    since: float = 0.0
    last_bridge_end: float = 0.0
    calls_taken: int = 0
    call: str = ""  # member uuid of the caller it talks to
    ringing_for: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Tier:
    level: int
    position: int
    state: str = wire.TIER_READY


@dataclass(slots=True)
class _Queue:
    name: str  # the site's queue id
    service_level: int
    strategy: str = ""
    counters: QueueCounters = field(default_factory=QueueCounters)


class QueueState:
    def __init__(
        self,
        domain: str,
        service_levels: Mapping[str, int],
        membership: Mapping[str, str] | None = None,
        pause_reasons: Callable[[str], str] = lambda agent: "",
    ):
        """`domain`: pbx.freeswitch.queue_domain (mod_callcenter names queues NAME@DOMAIN);
        `service_levels`: site queue -> seconds; `membership`: agent -> static | dynamic;
        `pause_reasons`: the reason pbxctl was given for an agent's On Break (mod_callcenter
        keeps none)."""
        self.domain = domain
        self._queues: dict[str, _Queue] = {q: _Queue(q, sl) for q, sl in service_levels.items()}
        self._membership = dict(membership or {})
        self._pause_reasons = pause_reasons
        self._agents: dict[str, _Agent] = {}
        self._tiers: dict[tuple[str, str], _Tier] = {}  # (site queue, agent)
        self._callers: dict[str, _Caller] = {}  # member uuid -> caller
        self._channels: dict[str, str] = {}  # channel uuid -> channel name

    def configure(self, service_levels: Mapping[str, int], membership: Mapping[str, str]) -> None:
        """The site changed (re-read while running): its queues now, their service levels and
        the agents' kinds; a queue removed from the site is no longer shown."""
        self._queues = {q: self._queues.get(q) or _Queue(q, sl) for q, sl in service_levels.items()}
        for q, sl in service_levels.items():
            self._queues[q].service_level = sl
        self._membership = dict(membership)

    # -- events
    def apply(self, event: Event, now: float) -> list[CallEnded]:
        name = event.get("Event-Name")
        if name == "CUSTOM":
            if event.get("Event-Subclass") != wire.CALLCENTER_EVENT:
                return []
            handler = _ACTIONS.get(event.get("CC-Action", ""))
            return (handler(self, event, now) or []) if handler else []
        if name == "CHANNEL_CREATE":
            self._channels[event.get("Unique-ID", "")] = event.get("Channel-Name", "")
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self._channels.pop(event.get("Unique-ID", ""), None)
        return []

    def _member_start(self, ev: Event, now: float) -> None:
        queue = self._queue_of(ev)
        if queue is None:
            return
        uid = ev.get("CC-Member-Session-UUID", "")
        self._callers[ev.get("CC-Member-UUID", "")] = _Caller(
            queue=queue.name,
            member_uuid=ev.get("CC-Member-UUID", ""),
            uniqueid=uid,
            caller_id=ev.get("CC-Member-CID-Number", ""),
            caller_name=ev.get("CC-Member-CID-Name", ""),
            joined_at=now,
            channel=self._channels.get(uid, ""),
        )

    def _offering(self, ev: Event, now: float) -> None:
        agent = self._agent(ev.get("CC-Agent", ""), now)
        agent.ringing_for.add(ev.get("CC-Member-UUID", ""))

    def _bridge_start(self, ev: Event, now: float) -> list[CallEnded]:
        caller = self._caller(ev, now)
        agent = self._agent(ev.get("CC-Agent", ""), now)
        agent.ringing_for.discard(ev.get("CC-Member-UUID", ""))
        agent.call = ev.get("CC-Member-UUID", "")
        agent.calls_taken += 1
        if caller is None or caller.settled:
            return []
        caller.agent = agent.name
        answered = _epoch(ev.get("CC-Agent-Answered-Time"), now)
        caller.answered_at, caller.agent_uuid = answered, ev.get("CC-Agent-UUID", "")
        joined = _epoch(ev.get("CC-Member-Joined-Time"), caller.joined_at)
        caller.joined_at = joined
        return [self._settle(caller, "answered", max(0.0, answered - joined), now)]

    def _bridge_end(self, ev: Event, now: float) -> None:
        agent = self._agent(ev.get("CC-Agent", ""), now)
        if agent.call == ev.get("CC-Member-UUID", ""):
            agent.call = ""
        agent.last_bridge_end = _epoch(ev.get("CC-Bridge-Terminated-Time"), now)

    def _bridge_fail(self, ev: Event, now: float) -> None:
        self._agent(ev.get("CC-Agent", ""), now).ringing_for.discard(ev.get("CC-Member-UUID", ""))

    def _member_end(self, ev: Event, now: float) -> list[CallEnded]:
        caller = self._callers.pop(ev.get("CC-Member-UUID", ""), None)
        for agent in self._agents.values():
            agent.ringing_for.discard(ev.get("CC-Member-UUID", ""))
            if agent.call == ev.get("CC-Member-UUID", ""):
                agent.call = ""
        if caller is None or caller.settled:
            return []
        left = _epoch(ev.get("CC-Member-Leaving-Time"), now)
        joined = _epoch(ev.get("CC-Member-Joined-Time"), caller.joined_at)
        caller.joined_at = joined
        if ev.get("CC-Cause") == "Terminated":  # bridged, and its start was missed
            return [self._settle(caller, "answered", 0.0, now, agent=ev.get("CC-Agent") or None)]
        outcome = CANCEL_REASONS.get(ev.get("CC-Cancel-Reason", ""), "other")
        return [self._settle(caller, outcome, max(0.0, left - joined), now)]

    def _status_change(self, ev: Event, now: float) -> None:
        agent = self._agent(ev.get("CC-Agent", ""), now)
        status = ev.get("CC-Agent-Status", agent.status)
        if status != agent.status:
            agent.status, agent.since = status, now

    def _state_change(self, ev: Event, now: float) -> None:
        agent = self._agent(ev.get("CC-Agent", ""), now)
        state = ev.get("CC-Agent-State", agent.state)
        if state != agent.state:
            agent.state, agent.since = state, now
        if state == wire.STATE_WAITING:
            agent.ringing_for.clear()

    # -- the controller's own changes (tier commands send no event)
    def set_tier(self, queue: str, agent: str, level: int, position: int, state: str) -> None:
        self._tiers[(queue, agent)] = _Tier(level, position, state)

    def set_status(self, agent: str, status: str, now: float) -> None:
        self._status_change({"CC-Agent": agent, "CC-Agent-Status": status}, now)

    # -- a full picture after a (re)connect
    def resync(
        self,
        lists: Mapping[str, list[dict[str, str]]],
        members: Iterable[dict[str, str]],
        channels: Iterable[dict[str, str]],
        now: float,
    ) -> list[CallEnded]:
        """Replace everything with what mod_callcenter lists now: `lists` the queue, agent
        and tier lists; `members` the rows of `queue list members` of the site's queues;
        `channels` the rows of `show channels`. A caller we knew of who is no longer listed
        left while we were not watching: settled as `other` (the books get the truth from the
        CDR)."""
        self._channels = {c.get("uuid", ""): c.get("name", "") for c in channels}
        for row in lists.get("queue", []):
            queue = self._queue_named(row.get("name", ""))
            if queue is not None:
                queue.strategy = row.get("strategy", "")
        old_agents, self._agents = self._agents, {}
        for row in lists.get("agent", []):
            name = row.get("name", "")
            before = old_agents.get(name)
            agent = self._agent(name, now)
            agent.status = row.get("status", wire.LOGGED_OUT)
            agent.state = row.get("state", wire.STATE_WAITING)
            agent.wrapup = _int(row.get("wrap_up_time"))
            agent.last_bridge_end = float(_int(row.get("last_bridge_end")))
            agent.calls_taken = _int(row.get("calls_answered"))
            same = before is not None and (before.status, before.state) == (agent.status, agent.state)
            agent.since = before.since if same else float(_int(row.get("last_status_change")) or now)
        self._tiers = {}
        for row in lists.get("tier", []):
            queue = self._queue_named(row.get("queue", ""))
            if queue is not None:
                self._tiers[(queue.name, row.get("agent", ""))] = _Tier(
                    _int(row.get("level")), _int(row.get("position")), row.get("state", wire.TIER_READY)
                )
        old_callers, self._callers = self._callers, {}
        ended: list[CallEnded] = []
        for row in members:
            queue = self._queue_named(row.get("queue", ""))
            if queue is None:
                continue
            uuid, uid = row.get("uuid", ""), row.get("session_uuid", "")
            before = old_callers.pop(uuid, None)
            caller = _Caller(
                queue=queue.name, member_uuid=uuid, uniqueid=uid, caller_id=row.get("cid_number", ""),
                caller_name=row.get("cid_name", ""), joined_at=float(_int(row.get("joined_epoch")) or now),
                channel=self._channels.get(uid, ""), settled=before is not None and before.settled,
            )
            self._callers[uuid] = caller
            serving = row.get("serving_agent", "")
            if row.get("state") == "Answered" and serving in self._agents:
                caller.agent = serving
                self._agents[serving].call = uuid
                bridged = float(_int(row.get("bridge_epoch")) or now)
                caller.answered_at = bridged
                if not caller.settled:  # answered while we were not watching
                    ended.append(self._settle(caller, "answered", max(0.0, bridged - caller.joined_at), now))
        for caller in old_callers.values():
            if not caller.settled:
                ended.append(self._settle(caller, "other", max(0.0, now - caller.joined_at), now))
        return ended

    # -- views
    def queues(self, now: float | None = None) -> dict[str, QueueView]:
        at = now if now is not None else 0.0
        out = {}
        for q in self._queues.values():
            self._roll_day(q, at)
            waiting = sorted((c for c in self._callers.values() if c.queue == q.name and not c.agent),
                             key=lambda c: (c.joined_at, c.member_uuid))
            callers = [self._caller_view(c, i) for i, c in enumerate(waiting, start=1)]
            members = [
                self._member_view(name, tier, at)
                for (queue, name), tier in sorted(self._tiers.items(), key=lambda kv: (kv[1].level, kv[1].position))
                if queue == q.name and tier.state != wire.TIER_STANDBY
                and self._agents.get(name, _Agent(name)).status in LOGGED_IN
            ]
            out[q.name] = QueueView(q.name, q.strategy, q.service_level, callers, members, q.counters)
        return out

    def connected(self) -> list[tuple[CallerView, str, float, str]]:
        """Callers talking to an agent now: (caller, agent, answered at, agent channel uuid)."""
        return [
            (self._caller_view(c, 0), c.agent, c.answered_at, c.agent_uuid)
            for c in sorted(self._callers.values(), key=lambda c: c.answered_at)
            if c.agent
        ]

    def tiers(self) -> dict[tuple[str, str], str]:
        """(site queue, agent) -> tier state, as last listed or set."""
        return {key: t.state for key, t in self._tiers.items()}

    def statuses(self) -> dict[str, str]:
        return {name: a.status for name, a in self._agents.items()}

    def restore_today(self, calls: Iterable[CallEnded], now: float) -> int:
        """Today's counters from calls that ended before this process started."""
        today, n = _day(now), 0
        for c in calls:
            q = self._queues.get(c.queue)
            if q is None or _day(c.ended_at) != today:
                continue
            self._roll_day(q, now)
            q.counters.count(c.outcome, c.wait_seconds, q.service_level)
            n += 1
        return n

    # -- helpers
    def _queue_named(self, callcenter_name: str) -> _Queue | None:
        site_queue = wire.site_queue(callcenter_name, self.domain)
        return self._queues.get(site_queue) if site_queue else None

    def _queue_of(self, ev: Event) -> _Queue | None:
        return self._queue_named(ev.get("CC-Queue", ""))

    def _agent(self, name: str, now: float) -> _Agent:
        agent = self._agents.get(name)
        if agent is None:
            agent = self._agents[name] = _Agent(name, since=now)
        return agent

    def _caller(self, ev: Event, now: float) -> _Caller | None:
        caller = self._callers.get(ev.get("CC-Member-UUID", ""))
        if caller is None and self._queue_of(ev) is not None:  # joined before we watched
            self._member_start(ev, _epoch(ev.get("CC-Member-Joined-Time"), now))
            caller = self._callers.get(ev.get("CC-Member-UUID", ""))
        return caller

    def _settle(self, caller: _Caller, outcome: Outcome, wait: float, now: float, agent: str | None = None) -> CallEnded:
        caller.settled = True
        q = self._queues.get(caller.queue)
        if q is not None:  # else: a queue the site dropped while the caller waited
            self._roll_day(q, now)
            q.counters.count(outcome, wait, q.service_level)
        who = agent if agent is not None else (caller.agent or None)
        return CallEnded(caller.queue, caller.uniqueid, caller.caller_id, caller.joined_at, now, outcome, wait, who)

    @staticmethod
    def _roll_day(q: _Queue, now: float) -> None:
        today = _day(now)
        if q.counters.day != today:
            q.counters = QueueCounters(day=today)

    def _caller_view(self, c: _Caller, position: int) -> CallerView:
        channel = c.channel or self._channels.get(c.uniqueid, "")
        return CallerView(c.uniqueid, channel, c.caller_id, c.caller_name, position, c.joined_at, c.queue)

    def _member_view(self, name: str, tier: _Tier, now: float) -> MemberView:
        agent = self._agents[name]
        call = self._callers.get(agent.call) if agent.call else None
        state = self._state(agent, now)
        since = agent.last_bridge_end if state == "wrapup" else agent.since
        return MemberView(
            interface=name, name=name, state_interface="", penalty=tier.level,
            membership=self._membership.get(name, "static"), paused=agent.status == wire.ON_BREAK,
            pause_reason=self._pause_reasons(name) if agent.status == wire.ON_BREAK else "",
            in_call=bool(agent.call), device_status=0, calls_taken=agent.calls_taken,
            last_call=agent.last_bridge_end, wrapup=agent.wrapup, state=state, state_since=since,
            current_call=self._caller_view(call, 0) if call is not None else None,
        )

    @staticmethod
    def _state(agent: _Agent, now: float) -> str:
        if agent.call or agent.state == wire.STATE_IN_CALL:
            return "busy"
        if agent.state == wire.STATE_RECEIVING or agent.ringing_for:
            return "ringing"
        if agent.status == wire.ON_BREAK:
            return "paused"
        if agent.state == wire.STATE_IDLE:
            return "unavailable"
        if agent.wrapup and agent.last_bridge_end and now < agent.last_bridge_end + agent.wrapup:
            return "wrapup"
        return "available"


_ACTIONS: dict[str, Callable[[QueueState, Event, float], list[CallEnded] | None]] = {
    "member-queue-start": QueueState._member_start,
    "agent-offering": QueueState._offering,
    "bridge-agent-start": QueueState._bridge_start,
    "bridge-agent-end": QueueState._bridge_end,
    "bridge-agent-fail": QueueState._bridge_fail,
    "member-queue-end": QueueState._member_end,
    "agent-status-change": QueueState._status_change,
    "agent-state-change": QueueState._state_change,
}


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _epoch(value: str | None, default: float) -> float:
    """A CC-*-Time header (epoch seconds); `default` when absent or 0."""
    seconds = _int(value)
    return float(seconds) if seconds > 0 else default


def _day(epoch: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch).date()
