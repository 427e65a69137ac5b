"""Live queue calls from AMI events: who talks to whom, since when, who listens in which
mode, whether the agent asked for help, whether a third party joined.

Event parsing only; what is allowed (barge, transfer) is decided in domain/supervision.py.
A call is known from AgentConnect (the caller's and the agent's channels) until either
channel hangs up; a restart rebuilds what it can from CoreShowChannels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from pbxctl.asterisk.wire import CONTEXTS, EVENTS, HELP_SESSION, hms_seconds, member_key

SPY_MODES = {"w": "whisper", "B": "both"}


@dataclass
class Listener:
    channel: str
    supervisor: str
    mode: str
    since: float


@dataclass
class LiveCall:
    call_id: str               # the caller channel's Uniqueid
    caller_channel: str
    caller_number: str
    agent: str | None
    agent_channel: str
    agent_interface: str
    queue: str
    connected_at: float
    state: str = "talking"     # talking | held | conference | transferring
    help_at: float | None = None
    bridge: str | None = None  # the bridge caller and agent talk in
    # In [pbxctl-xfer-return]: the caller rings a target and may come back to the agent
    # on a new channel; the agent's first channel hangs up meanwhile.
    with_return: bool = False
    third_party: str | None = None
    listeners: dict[str, Listener] = field(default_factory=dict)

    def as_dict(self, now: float) -> dict:
        return {
            "call": self.call_id,
            "caller": self.caller_number,
            "agent": self.agent,
            "agent_channel": self.agent_channel,
            "caller_channel": self.caller_channel,
            "queue": self.queue,
            "duration": max(0, round(now - self.connected_at)),
            "state": self.state,
            "help_requested": self.help_at is not None,
            "help_waiting": None if self.help_at is None else max(0, round(now - self.help_at)),
            "third_party": self.third_party,
            "listeners": [
                {"supervisor": lis.supervisor, "mode": lis.mode, "channel": lis.channel, "since": lis.since}
                for lis in self.listeners.values()
            ],
        }


@dataclass(frozen=True)
class HelpRequested:
    call: LiveCall
    at: float


@dataclass(frozen=True)
class ThreeWayJoined:
    """Asterisk's own attended transfer turned into a three-way call: Asterisk logs it
    nowhere, so the service writes a queue_log line."""

    call: LiveCall
    third_party: str


class LiveCalls:
    def __init__(self, agent_by_interface: Callable[[], Mapping[str, str]],
                 supervisor_of: Callable[[str], str | None] = lambda channel: None):
        # interface (PJSIP/1001, Local/1001@agents/n) -> agent name, from the current site
        self._agent_by_interface = agent_by_interface
        self._supervisor_of = supervisor_of   # a channel of a supervisor's phone -> name
        self.calls: dict[str, LiveCall] = {}
        self.help_total: dict[str, int] = {}
        self._sessions: dict[str, tuple[str, str]] = {}   # supervisor channel -> (supervisor, mode)
        self._help_answered: dict[str, str] = {}   # a help ring's session channel -> who answered

    def _member(self, channel_or_interface: str) -> tuple[str, str] | None:
        """(agent, its configured interface) for a member interface or a channel of its device."""
        key = member_key(channel_or_interface)
        for iface, agent in self._agent_by_interface().items():
            if member_key(iface) == key:
                return agent, iface
        return None

    # -- lookups
    def by_agent(self, agent: str) -> LiveCall | None:
        found = [c for c in self.calls.values() if c.agent == agent]
        return max(found, key=lambda c: c.connected_at) if found else None

    def by_channel(self, channel: str) -> LiveCall | None:
        for call in self.calls.values():
            if channel in (call.caller_channel, call.agent_channel):
                return call
        return None

    def find(self, target: str) -> LiveCall | None:
        """A call by its id, by agent name, or by either channel."""
        return self.calls.get(target) or self.by_agent(target) or self.by_channel(target)

    def listing(self, now: float) -> list[dict]:
        return [c.as_dict(now) for c in sorted(self.calls.values(), key=lambda c: c.connected_at)]

    # -- events
    def apply(self, message, now: float) -> list[HelpRequested | ThreeWayJoined]:
        event = message.get("Event")
        handler = _HANDLERS.get(event)
        if handler is None:
            return []
        return handler(self, message, now) or []

    def _agent_connect(self, msg, now):
        iface = msg.get("Interface", "")
        member = self._member(iface) if iface else None
        call = LiveCall(
            call_id=msg.get("Uniqueid", ""),
            caller_channel=msg.get("Channel", ""),
            caller_number=msg.get("CallerIDNum", ""),
            agent=member[0] if member else None,
            agent_channel=msg.get("DestChannel", ""),
            agent_interface=iface,
            queue=msg.get("Queue", ""),
            connected_at=now,
        )
        self.calls[call.call_id] = call

    def _hangup(self, msg, now):
        channel = msg.get("Channel", "")
        self._sessions.pop(channel, None)
        self._help_answered.pop(channel, None)
        for call in list(self.calls.values()):
            call.listeners.pop(channel, None)
            if channel == call.caller_channel:
                del self.calls[call.call_id]
            elif channel == call.agent_channel and call.state != "conference" and not call.with_return:
                del self.calls[call.call_id]

    def _caller_moved(self, msg, now):
        """The caller sent on a transfer with return: it stays a live call, transferring,
        though the agent's channel hangs up right after. Seen in the caller's BridgeLeave
        (its snapshot already in [pbxctl-xfer-return]; class `call`, which the service's
        AMI user reads) or its first Newexten there (class `dialplan`), whichever comes."""
        if msg.get("Context") != CONTEXTS.xfer_return:
            return
        call = self.by_channel(msg.get("Channel", ""))
        if call is not None and msg.get("Channel") == call.caller_channel:
            call.state, call.with_return = "transferring", True

    def _bridge_enter(self, msg, now):
        """Caller and agent share a bridge; the agent in another one while the caller waits
        (Asterisk's attended transfer: the agent talks to the target) is transferring, and
        back in the caller's bridge (the target hung up) talking again."""
        channel, bridge = msg.get("Channel", ""), msg.get("BridgeUniqueid", "")
        call = self.by_channel(channel)
        if call is None or not bridge:
            return
        if channel == call.caller_channel:
            call.bridge = bridge
        elif call.bridge is None:
            call.bridge = bridge
        elif bridge != call.bridge and call.state in ("talking", "held"):
            call.state = "transferring"
        elif bridge == call.bridge and call.state == "transferring":
            call.state = "talking"
    def _hold(self, msg, now):
        call = self.by_channel(msg.get("Channel", ""))
        if call is not None and call.state == "talking":
            call.state = "held"

    def _unhold(self, msg, now):
        call = self.by_channel(msg.get("Channel", ""))
        if call is not None and call.state == "held":
            call.state = "talking"

    def _spy_start(self, msg, now):
        spyer, spyee = msg.get("SpyerChannel", ""), msg.get("SpyeeChannel", "")
        call = self.by_channel(spyee)
        session = self._sessions.get(spyer)
        if call is None or session is None:
            return   # not a supervisor's session (e.g. the agent-notice whisper)
        supervisor, mode = session
        call.listeners[spyer] = Listener(spyer, supervisor, mode, now)

    def _spy_stop(self, msg, now):
        spyer = msg.get("SpyerChannel", "")
        for call in self.calls.values():
            call.listeners.pop(spyer, None)

    def _dial_end(self, msg, now):
        channel = msg.get("Channel", "")
        if msg.get("DialStatus") != "ANSWER":
            return
        call = self.by_channel(channel)
        if call is not None and call.with_return and channel == call.caller_channel:
            self._transfer_answered(call, msg.get("DestChannel", ""))
        elif f"@{CONTEXTS.help_ring}-" in channel and channel.endswith(";2"):
            self._help_answered_by(channel, msg.get("DestChannel", ""))

    def _transfer_answered(self, call: LiveCall, answered: str) -> None:
        """A transfer with return answered: by the agent ringing back (talking again, on
        its new channel), or by the target (no longer the agent's call)."""
        member = self._member(answered)
        if member is not None and member[0] == call.agent:
            call.agent_channel, call.state, call.with_return, call.bridge = answered, "talking", False, None
        else:
            del self.calls[call.call_id]

    def _help_answered_by(self, channel: str, answered: str) -> None:
        """A help request's ring answered: [pbxctl-help-ring]'s ;2 half dialled the
        supervisors' phones; the ;1 half is the barge session, named by who answered."""
        supervisor = self._supervisor_of(answered)
        if supervisor is None:
            return
        session = channel[:-1] + "1"
        self._help_answered[session] = supervisor
        if session in self._sessions:
            self._sessions[session] = (supervisor, self._sessions[session][1])
        for call in self.calls.values():
            if session in call.listeners:
                call.listeners[session].supervisor = supervisor

    def _user_event(self, msg, now):
        kind = msg.get("UserEvent", "")
        channel = msg.get("Channel", "")
        if kind == EVENTS.barge:
            supervisor = msg.get("Supervisor", "")
            if supervisor == HELP_SESSION:
                supervisor = self._help_answered.get(channel, supervisor)
            self._sessions[channel] = (supervisor, msg.get("Mode", ""))
            call = self.by_channel(msg.get("Target", ""))
            if call is not None and channel in call.listeners:
                call.listeners[channel].mode = msg.get("Mode", "")
        elif kind == EVENTS.help:
            call = self.by_channel(channel)
            if call is not None and call.help_at is None:
                call.help_at = now
                self.help_total[call.queue] = self.help_total.get(call.queue, 0) + 1
                return [HelpRequested(call, now)]
        elif kind == EVENTS.conference:
            call = self.calls.get(msg.get("CallId", ""))
            if call is not None:
                call.state = "conference"
                call.third_party = msg.get("Third", "") or None
        elif kind == EVENTS.transfer:
            call = self.by_channel(channel)
            if call is not None:
                call.state = "transferring"
        return None

    def _attended_transfer(self, msg, now):
        if msg.get("Result") != "Success":
            return None
        call = self.calls.get(msg.get("TransfereeUniqueid", "")) or self.by_channel(msg.get("OrigTransfererChannel", ""))
        if call is None:
            return None
        if msg.get("DestType") != "Threeway":   # handed over: the caller talks to the target now
            del self.calls[call.call_id]
            return None
        third = next((v for v in (msg.get("TransferTargetExten"), msg.get("TransferTargetCallerIDNum"))
                      if v and v != "<unknown>"), "")
        call.state = "conference"
        call.third_party = third or None
        return [ThreeWayJoined(call, third)]

    # -- after a reconnect
    def resync(self, channels: list, now: float) -> None:
        """Rebuild from CoreShowChannels: a channel of a known agent interface sharing a
        bridge with a channel running Queue is a queue call."""
        rows = [c for c in channels if c.get("Event") == "CoreShowChannel"]
        names = {r.get("Channel", "") for r in rows}
        for call in list(self.calls.values()):
            if call.caller_channel not in names:
                del self.calls[call.call_id]
        by_bridge: dict[str, list[dict]] = {}
        for row in rows:
            if row.get("BridgeId"):
                by_bridge.setdefault(row["BridgeId"], []).append(row)
        for members in by_bridge.values():
            callers = [r for r in members if r.get("Application") == "Queue"]
            for caller in callers:
                if caller.get("Uniqueid") in self.calls:
                    continue
                for other in members:
                    member = self._member(other.get("Channel", "")) if other is not caller else None
                    if member is None:
                        continue
                    agent, iface = member
                    self.calls[caller["Uniqueid"]] = LiveCall(
                        call_id=caller["Uniqueid"], caller_channel=caller["Channel"],
                        caller_number=caller.get("CallerIDNum", ""), agent=agent,
                        agent_channel=other["Channel"], agent_interface=iface,
                        queue=caller.get("ApplicationData", "").split(",")[0],
                        connected_at=now - float(hms_seconds(other.get("Duration", "0"))),
                    )
        for row in rows:
            if row.get("Application") == "ChanSpy":
                target = row.get("ApplicationData", "").split(",")[0]
                call = self.by_channel(target)
                options = (row.get("ApplicationData", "").split(",") + [""])[1]
                if call is not None and "X" in options:   # a supervisor session, not a notice
                    mode = next((m for k, m in SPY_MODES.items() if k in options), "listen")
                    call.listeners[row["Channel"]] = Listener(row["Channel"], "", mode, now)


_HANDLERS = {
    "AgentConnect": LiveCalls._agent_connect,
    "Hangup": LiveCalls._hangup,
    "Hold": LiveCalls._hold,
    "Unhold": LiveCalls._unhold,
    "ChanSpyStart": LiveCalls._spy_start,
    "ChanSpyStop": LiveCalls._spy_stop,
    "UserEvent": LiveCalls._user_event,
    "AttendedTransfer": LiveCalls._attended_transfer,
    "DialEnd": LiveCalls._dial_end,
    "Newexten": LiveCalls._caller_moved,
    "BridgeLeave": LiveCalls._caller_moved,
    "BridgeEnter": LiveCalls._bridge_enter,
}
