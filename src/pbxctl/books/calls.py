"""One call, many stints: the normalised model of a queue call, built from its
queue_log lines by a pure function (`build_call`).

A call is everything that shares the caller channel's uniqueid (queue_log's callid): each
stay in a queue (a stint: wait, the members rung and for how long, the outcome), the agent
who talked (a leg), transfers, and pbxctl's own lines (entry, the caller's own name and
number, queue exits, three-way parties, callbacks). The CDR's linkedid ties such calls
into one customer call when several channels were involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from pbxctl.books.queue_log import QueueLogLine

STINT_ENDS = {
    "COMPLETECALLER": ("answered", "caller"),
    "COMPLETEAGENT": ("answered", "agent"),
    "BLINDTRANSFER": ("answered", "blind_transfer"),
    "TRANSFER": ("answered", "blind_transfer"),
    "ATTENDEDTRANSFER": ("answered", "attended_transfer"),
    "ABANDON": ("abandoned", None),
    "EXITWITHTIMEOUT": ("timed_out", None),
    "EXITEMPTY": ("exit_empty", None),
    "EXITWITHKEY": ("exit_key", None),
}
# QUEUESTATUS values for which Queue() returned without the caller ever joining.
REFUSED_STATUSES = frozenset({"JOINEMPTY", "JOINUNAVAIL", "FULL"})
# pbxctl lines whose content lands in the call and its stints (not kept whole as well).
FOLDED_PBXCTL = frozenset({"PBXCTLENTRY", "PBXCTLCALLER", "PBXCTLEXIT", "PBXCTLEND"})
# The hangup handler's line (the call is over): it ends the assembling, not the call's time,
# which stays that of its last line of the call's own.
CALL_END = "PBXCTLEND"
# pbxctl's steps of a transfer with return (PBXCTLXFER, first data field): the caller
# left the agent for a target, the target answered, it did not and the call went back,
# the agent answered the ring back. app_queue sees none of it: for a redirected caller it
# logs COMPLETECALLER only when the caller finally hangs up.
XFER_LINE = "PBXCTLXFER"
XFER_LEFT, XFER_ANSWERED, XFER_RETURNED, XFER_BACK = "with_return", "answered", "returned", "back"
# Same-second lines sort in the order app_queue writes them; a transfer step between the
# answer and the end.
_RANK = {"PBXCTLENTRY": 0, "PBXCTLCALLER": 1, "ENTERQUEUE": 2, "RINGNOANSWER": 3, "RINGCANCELED": 3, "CONNECT": 4,
         XFER_LINE: 4.5}
_LAST = 6  # ending lines, then pbxctl's exit line after Queue() returned
_RANK.update({event: 5 for event in STINT_ENDS})
_RANK["PBXCTLEXIT"] = _LAST
_RANK[CALL_END] = _LAST + 1


@dataclass(slots=True)
class AgentRing:
    member: str
    agent: str
    at: int
    outcome: str  # answered | no_answer | canceled
    ring_seconds: float


@dataclass(slots=True)
class AgentLeg:
    member: str
    agent: str
    connected_at: int
    ended_at: int
    talk_seconds: int
    ended_by: str
    wrapup_seconds: int | None = None
    # A transfer with return: when the caller left the agent and, if the agent answered
    # the ring back, when they talked again (the talk counts both spells, not the away time).
    away_at: int | None = None
    back_at: int | None = None


@dataclass(slots=True)
class Transfer:
    at: int
    kind: str  # blind | attended | with_return | returned
    queue: str
    member: str
    agent: str
    target: str
    wait_seconds: int = 0
    talk_seconds: int = 0


@dataclass(slots=True)
class QueueStint:
    queue: str
    entered_at: int
    ended_at: int
    outcome: str = "lost"
    ended_by: str | None = None
    wait_seconds: int = 0
    answered_at: int | None = None
    member: str | None = None
    agent: str | None = None
    position: int | None = None
    exit_position: int | None = None
    exit_key: str | None = None
    exit_status: str | None = None
    exit_to: str | None = None
    caller_number: str = ""
    rings: list[AgentRing] = field(default_factory=list)
    leg: AgentLeg | None = None

    @property
    def is_open(self) -> bool:
        return self.outcome == "open"


@dataclass(slots=True)
class PbxctlEvent:
    at: int
    event: str
    data: str
    queue: str
    agent: str


@dataclass(slots=True)
class Call:
    callid: str
    started_at: int
    ended_at: int
    caller_number: str = ""
    caller_name: str = ""
    entry: str | None = None
    stints: list[QueueStint] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    pbxctl_events: list[PbxctlEvent] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return any(stint.is_open for stint in self.stints)


def _order(line: QueueLogLine, rank=_RANK.get) -> tuple[int, int]:
    return line[0], rank(line[4], _LAST)


def identity(member: str) -> str:
    return member


def build_call(
    lines: Iterable[QueueLogLine],
    agent_of: Callable[[str], str] = identity,
    wrapup_of: Callable[[str, str], int | None] = lambda queue, agent: None,
    lost_at: int | None = None,
) -> Call:
    """The call made of these lines (all with the same callid, in any order, duplicates
    allowed). A stint without its ending line stays `open`, unless `lost_at` says the PBX
    restarted (or gave up) then: it becomes `lost`."""
    unique = {line[6]: line for line in lines}  # by text: a line read twice counts once
    ordered = sorted(unique.values(), key=_order)
    first = ordered[0]
    last = next((line for line in reversed(ordered) if line.event != CALL_END), ordered[-1])
    call = Call(first.callid, first.at, last.at)
    open_stints: dict[str, QueueStint] = {}
    # Stints left by a transfer with return that came back into the same queue: app_queue
    # writes their ending line only when the caller hangs up, beside the new stint's.
    away: dict[str, list[QueueStint]] = {}
    for line in ordered:
        event = line.event
        if event == "ENTERQUEUE":
            left = open_stints.get(line.queue)
            if left is not None and left.leg is not None and left.leg.away_at is not None:
                left.outcome, left.ended_by = "answered", left.leg.ended_by
                away.setdefault(line.queue, []).append(left)
            stint = QueueStint(line.queue, line.at, line.at, outcome="open")
            stint.caller_number = line.field(1)
            stint.position = line.number(2)
            if not call.caller_number:
                call.caller_number = stint.caller_number
            call.stints.append(stint)
            open_stints[line.queue] = stint
        elif event.startswith("PBXCTL"):
            _fold_pbxctl(call, line, open_stints, agent_of)
        else:
            stint = (_left_stint(away.get(line.queue), line) or open_stints.get(line.queue)
                     or _implicit_stint(call, line, open_stints))
            _fold_queue_line(call, stint, line, agent_of, wrapup_of)
            if stint.outcome != "open" and open_stints.get(line.queue) is stint:
                del open_stints[line.queue]
    for stint in open_stints.values():
        if lost_at is not None:
            _lose(stint, lost_at)
    _transferred_into(call)
    return call


# How an answered stint ends when an agent sent the caller on (into a queue, maybe).
HANDED_ON = frozenset({"blind_transfer", "attended_transfer", "transfer_with_return"})


def _left_stint(left: list[QueueStint] | None, line: QueueLogLine) -> QueueStint | None:
    """The stint a transfer with return left whose ending line this is: its talk counts
    from that stint's CONNECT."""
    if not left or line.event not in STINT_ENDS or len(line.data) < 3:
        return None
    talk = line.number(len(line.data) - 2)
    for i, stint in enumerate(left):
        if talk is not None and abs(line.at - talk - stint.leg.connected_at) <= 1:
            return left.pop(i)
    return None


def _transferred_into(call: Call) -> None:
    """An agent's transfer that brought the caller into a queue (a transfer with return
    nobody took back goes into the same queue again): the answered stint it left says
    where it went (exit_to), as an overflow's does, so that queue can count the
    caller as come in by transfer and the calls are not counted twice. (The next queue's
    ENTERQUEUE may come in the same second as, and sort before, the transfer line.)"""
    for left, entered in zip(call.stints, call.stints[1:]):
        if left.outcome == "answered" and left.ended_by in HANDED_ON \
                and left.exit_to is None and entered.outcome != "refused":
            left.exit_to = f"queue:{entered.queue}"


def _implicit_stint(call: Call, line: QueueLogLine, open_stints: dict[str, QueueStint]) -> QueueStint:
    """A stint whose ENTERQUEUE is missing (log started mid-call, or a lost line): it
    starts when the holdtime says, or at this line."""
    wait = line.number(0) if line.event == "CONNECT" else None
    entered = line.at - wait if wait is not None and wait >= 0 else line.at
    stint = QueueStint(line.queue, entered, line.at, outcome="open")
    call.stints.append(stint)
    call.started_at = min(call.started_at, entered)
    open_stints[line.queue] = stint
    return stint


def _fold_queue_line(call, stint: QueueStint, line: QueueLogLine, agent_of, wrapup_of) -> None:
    event = line.event
    stint.ended_at = max(stint.ended_at, line.at)
    if event in ("RINGNOANSWER", "RINGCANCELED"):
        ms = line.number(0)
        outcome = "no_answer" if event == "RINGNOANSWER" else "canceled"
        stint.rings.append(AgentRing(line.agent, agent_of(line.agent), line.at, outcome, (ms or 0) / 1000))
        return
    if event == "CONNECT":
        agent = agent_of(line.agent)
        wait = line.number(0)
        stint.answered_at = line.at
        stint.member, stint.agent = line.agent, agent
        stint.wait_seconds = wait if wait is not None else line.at - stint.entered_at
        stint.rings.append(AgentRing(line.agent, agent, line.at, "answered", float(line.number(2) or 0)))
        stint.leg = AgentLeg(line.agent, agent, line.at, line.at, 0, "lost", wrapup_of(stint.queue, agent))
        return
    outcome, ended_by = STINT_ENDS[event]
    if outcome == "answered":
        _end_answered(call, stint, line, ended_by, agent_of)
        return
    stint.outcome = outcome
    offset = 1 if event == "EXITWITHKEY" else 0
    if event == "EXITWITHKEY":
        stint.exit_key = line.field(0)
    stint.exit_position = line.number(offset)
    wait = line.number(offset + 2)
    stint.wait_seconds = wait if wait is not None else line.at - stint.entered_at


def _end_answered(call: Call, stint: QueueStint, line: QueueLogLine, ended_by: str, agent_of) -> None:
    data = line.data
    wait = line.number(len(data) - 3) if len(data) >= 3 else None
    talk = line.number(len(data) - 2) if len(data) >= 3 else None
    if stint.leg is None:  # CONNECT missing: the agent is the one this line names
        agent = agent_of(line.agent)
        connected = line.at - talk if talk is not None else line.at
        stint.answered_at, stint.member, stint.agent = connected, line.agent, agent
        stint.leg = AgentLeg(line.agent, agent, connected, line.at, 0, "lost")
        if wait is not None:
            stint.wait_seconds = wait
    leg = stint.leg
    if leg.away_at is not None:
        # Transferred with return: the talk before the caller left, and after the agent
        # answered the ring back (app_queue's talk counts the time away too).
        if leg.back_at is not None:
            leg.talk_seconds += max(0, line.at - leg.back_at)
            leg.ended_at, leg.ended_by = line.at, ended_by
        stint.outcome, stint.ended_by = "answered", leg.ended_by
        return
    stint.outcome, stint.ended_by = "answered", ended_by
    leg.ended_at, leg.ended_by = line.at, ended_by
    leg.talk_seconds = talk if talk is not None else line.at - leg.connected_at
    if ended_by.endswith("transfer"):
        if line.event == "ATTENDEDTRANSFER":
            kind, target = "attended", ":".join(data[:-3])
        else:
            kind, target = "blind", "@".join(data[:2])
        call.transfers.append(
            Transfer(line.at, kind, stint.queue, line.agent, leg.agent, target, stint.wait_seconds, leg.talk_seconds)
        )


def _lose(stint: QueueStint, at: int) -> None:
    stint.ended_at = max(stint.ended_at, at) if stint.leg is None else stint.ended_at
    if stint.leg is not None:
        stint.outcome, stint.ended_by = "answered", "lost"
        stint.leg.ended_at = max(stint.leg.ended_at, stint.ended_at)
    else:
        stint.outcome = "lost"
        stint.wait_seconds = stint.ended_at - stint.entered_at


def _fold_pbxctl(call: Call, line: QueueLogLine, open_stints: dict[str, QueueStint], agent_of=identity) -> None:
    if line.event not in FOLDED_PBXCTL:
        member = line.agent
        agent = agent_of(member) if member and member != "NONE" else member
        call.pbxctl_events.append(PbxctlEvent(line.at, line.event, "|".join(line.data), line.queue, agent))
    if line.event == "PBXCTLENTRY":
        call.entry = line.field(0) or call.entry
    elif line.event == "PBXCTLCALLER":
        # The caller's own number and name, logged before a queue changes them; the name
        # may itself contain `|`.
        if line.field(0):
            call.caller_number = line.field(0)
        if not call.caller_name:
            call.caller_name = "|".join(line.data[1:])
    elif line.event == "PBXCTLEXIT":
        status, to = line.field(0), line.field(1) or None
        ended = [s for s in call.stints if s.queue == line.queue and not s.is_open]
        if status in REFUSED_STATUSES and (not ended or ended[-1].exit_status is not None):
            stint = QueueStint(line.queue, line.at, line.at, outcome="refused", exit_status=status, exit_to=to)
            call.stints.append(stint)
        elif ended:
            ended[-1].exit_status, ended[-1].exit_to = status, to
    elif line.event == XFER_LINE:
        _fold_transfer_step(call, line, open_stints.get(line.queue), agent_of)


def _fold_transfer_step(call: Call, line: QueueLogLine, stint: QueueStint | None, agent_of) -> None:
    step, target = line.field(0) or XFER_LEFT, line.field(1)
    leg = stint.leg if stint is not None else None
    agent = leg.agent if leg is not None else agent_of(line.agent)
    if step == XFER_LEFT:
        wait = stint.wait_seconds if stint is not None else 0
        talk = 0
        if leg is not None and leg.away_at is None:
            talk = max(0, line.at - leg.connected_at)
            leg.talk_seconds, leg.ended_at, leg.ended_by, leg.away_at = talk, line.at, "transfer_with_return", line.at
        call.transfers.append(Transfer(line.at, XFER_LEFT, line.queue, line.agent, agent, target, wait, talk))
    elif step == XFER_RETURNED:
        call.transfers.append(Transfer(line.at, XFER_RETURNED, line.queue, line.agent, agent, target))
    elif step == XFER_BACK and leg is not None and leg.away_at is not None:
        leg.back_at = line.at
