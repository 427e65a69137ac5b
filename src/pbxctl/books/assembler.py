"""Streaming: queue_log lines in file order -> finished calls and agent events, with
memory bounded by the calls still going on.

A call's lines are kept until it has no open stint and `settle` seconds (of log time) have
passed without a line of its own: pbxctl's PBXCTLEXIT and an overflow's next ENTERQUEUE
come right after a stint ends, and same-second lines may be written out of order. Then
`build_call` makes the call and the lines are dropped. A PBX restart (QUEUESTART) ends
every open stint as lost; so does silence longer than `give_up` seconds.

A callback's result (PBXCTLCBRESULT) names the customer's call, which usually ended long
before: when that call is not being assembled, the line is booked at once, a piece of the
call of its own (nothing follows it that it must wait for).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

from pbxctl.books.callback_line import EVENT as CALLBACK_RESULT
from pbxctl.books.calls import CALL_END, Call, build_call, identity
from pbxctl.books.queue_log import AGENT_EVENTS, CALL_EVENTS, PBX_RESTART, PBXCTL_PREFIX, QueueLogLine

SETTLE_SECONDS = 10
# A call that has not reached a queue yet (in the IVR) may be quiet for minutes.
IVR_SETTLE_SECONDS = 900
GIVE_UP_SECONDS = 24 * 3600


@dataclass(slots=True)
class AgentEvent:
    at: int
    queue: str
    member: str
    agent: str
    event: str
    reason: str


class AgentNames:
    """member (as queue_log names it) -> agent key; a member not known stays as logged.
    A class, not a closure: `books import` hands the assembler to its reader process."""

    __slots__ = ("names",)

    def __init__(self, names: dict[str, str]):
        self.names = names

    def __call__(self, member: str) -> str:
        return self.names.get(member, member)


class WrapupTable:
    """(queue, agent) -> the wrap-up in force: the agent's own where it has one (a static
    member's), else the queue's, else `default`."""

    __slots__ = ("queues", "agents", "default")

    def __init__(self, queues: dict[str, int] | None = None, agents: dict[str, int] | None = None,
                 default: int | None = None):
        self.queues = queues or {}
        self.agents = agents or {}
        self.default = default

    def __call__(self, queue: str, agent: str) -> int | None:
        own = self.agents.get(agent)
        if own is not None:
            return own
        return self.queues.get(queue, self.default)


class _Pending:
    __slots__ = ("lines", "last_at", "first_offset", "first_line_no", "open", "queued")

    def __init__(self, offset: int, line_no: int):
        self.lines: list[QueueLogLine] = []
        self.last_at = 0
        self.first_offset = offset
        self.first_line_no = line_no
        self.open = 0  # ENTERQUEUEs minus ending lines seen
        self.queued = False  # reached a queue (or was refused by one), or ended: settles in `settle`


_OPENS = frozenset({"ENTERQUEUE"})
_ENDS = frozenset(
    {"COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY",
     "BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER"}
)


class Assembler:
    def __init__(
        self,
        agent_of: Callable[[str], str] = identity,
        wrapup_of: Callable[[str, str], int | None] = WrapupTable(),
        settle: int = SETTLE_SECONDS,
        give_up: int = GIVE_UP_SECONDS,
        ivr_settle: int = IVR_SETTLE_SECONDS,
    ):
        self.agent_of = agent_of
        self.wrapup_of = wrapup_of
        self.settle = settle
        self.give_up = give_up
        self.ivr_settle = ivr_settle
        self.pending: dict[str, _Pending] = {}
        # (time to look again, callid), a heap. A call in a queue has no entry: its ending
        # line gives it one (an entry 24 h out per call would hold a day of callids).
        self._due: list[tuple[int, str]] = []
        self._next_give_up_scan = 0
        self.clock = 0  # latest line time seen
        self.calls: list[Call] = []
        self.agent_events: list[AgentEvent] = []
        self.ignored = 0

    def feed(self, line: QueueLogLine, offset: int = 0, line_no: int = 0) -> None:
        """`offset`/`line_no`: where this line starts in its file (for the replay point)."""
        at = line.at
        if at > self.clock:
            self.clock = at
            if self._due and self._due[0][0] <= at:
                self._finish_due(at)
            if at >= self._next_give_up_scan:
                self._give_up_quiet(at)
        event = line.event
        callid = line.callid
        if event in CALL_EVENTS or event[:6] == PBXCTL_PREFIX and callid and callid != "NONE":
            pending = self.pending.get(callid)
            if pending is None:
                if event == CALLBACK_RESULT:
                    self.calls.append(build_call([line], self.agent_of, self.wrapup_of))
                    return
                pending = self.pending[callid] = _Pending(offset, line_no)
                heapq.heappush(self._due, (at + self.settle, callid))
            pending.lines.append(line)
            if event in _OPENS:
                pending.open += 1
                pending.queued = True
            elif event in _ENDS:
                pending.open -= 1
                if pending.open <= 0:  # its due time was pushed far out while it was open
                    heapq.heappush(self._due, (at + self.settle, callid))
            elif event == "PBXCTLEXIT":
                pending.queued = True
            elif event == CALL_END:  # hung up: nothing more of its own will come
                pending.queued = True
                heapq.heappush(self._due, (at + self.settle, callid))
            if at > pending.last_at:
                pending.last_at = at
        elif event in AGENT_EVENTS:
            member = line.agent
            # PAUSE logs its reason; ADDMEMBER/REMOVEMEMBER who did it (MANAGER, CLI, ...)
            reason = line.field(0) if "PAUSE" in event else callid
            self.agent_events.append(AgentEvent(at, line.queue, member, self.agent_of(member), event, reason))
        elif event == PBX_RESTART:
            self.finish_all(lost_at=at)
            # Kept with the agent events: static members are logged in from the PBX's start.
            self.agent_events.append(AgentEvent(at, line.queue, line.agent, line.agent, event, ""))
        else:
            self.ignored += 1

    def _finish_due(self, now: int) -> None:
        due = self._due
        while due and due[0][0] <= now:
            _, callid = heapq.heappop(due)
            pending = self.pending.get(callid)
            if pending is None or pending.open > 0:  # gone, or in a queue again: its end pushes it
                continue
            when = pending.last_at + (self.settle if pending.queued else self.ivr_settle)
            if when > now:  # it moved on since: look again then
                heapq.heappush(due, (when, callid))
                continue
            self._finish(callid)

    def _give_up_quiet(self, now: int) -> None:
        """Calls in a queue without a line for `give_up` seconds: the PBX lost them. Looked
        for again when the first of the others may be due (a call that comes later is due
        `give_up` after it): only the calls going on are looked at."""
        next_scan = now + self.give_up
        for callid, pending in list(self.pending.items()):
            if pending.open > 0:
                due = pending.last_at + self.give_up
                if due <= now:
                    self._finish(callid, lost_at=due)
                elif due < next_scan:
                    next_scan = due
        self._next_give_up_scan = next_scan

    def _finish(self, callid: str, lost_at: int | None = None) -> None:
        pending = self.pending.pop(callid)
        call = build_call(pending.lines, self.agent_of, self.wrapup_of, lost_at=lost_at)
        if call.is_open:  # ending lines out of order left a stint open: the PBX gave up on it
            call = build_call(pending.lines, self.agent_of, self.wrapup_of, lost_at=lost_at or self.clock)
        self.calls.append(call)

    def tick(self, now: int) -> None:
        """Wall-clock time passes without lines (a quiet PBX): settle what is due."""
        if now > self.clock:
            self.clock = now
        self._finish_due(self.clock)
        if self.clock >= self._next_give_up_scan:
            self._give_up_quiet(self.clock)

    def finish_all(self, lost_at: int | None = None) -> None:
        """The PBX restarted (QUEUESTART): nothing open survives it."""
        for callid in list(self.pending):
            self._finish(callid, lost_at=lost_at)

    def settled_only(self) -> int:
        """End of a historical file: finish the calls that are over; open ones stay pending.
        Returns how many stay."""
        for callid, pending in list(self.pending.items()):
            if pending.open <= 0:
                self._finish(callid)
        return len(self.pending)

    def take(self) -> tuple[list[Call], list[AgentEvent]]:
        calls, events = self.calls, self.agent_events
        self.calls, self.agent_events = [], []
        return calls, events

    def replay_point(self, offset: int, line_no: int) -> tuple[int, int]:
        """Where to start reading after a restart so that every pending call is whole again:
        the first line of the oldest one, or `offset` when nothing is pending."""
        best = (offset, line_no)
        for pending in self.pending.values():
            if pending.first_offset < best[0]:
                best = (pending.first_offset, pending.first_line_no)
        return best
