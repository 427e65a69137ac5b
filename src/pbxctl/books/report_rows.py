"""What the reports read: plain facts about calls, one dataclass per kind of row.

The reports are pure functions over these; `report_source.py` fills them from the books'
tables. Times are Unix seconds (UTC), as the books store them; durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# How a stint ended (books_queue_stints.outcome). `timed_out`, `exit_empty` and `refused`
# go on to the queue's overflow / when_empty destination (`Stint.exit_to`); `lost`: the log
# has no end for it (the PBX restarted).
OUTCOMES = ("answered", "abandoned", "timed_out", "exit_empty", "exit_key", "refused", "lost")


@dataclass(frozen=True)
class Stint:
    """One visit of one call to one queue."""

    call_id: str
    queue: str
    entered_at: int
    outcome: str
    wait: float                   # seconds from entering until answered or leaving
    agent: str | None = None      # who answered
    exit_to: str | None = None    # destination after leaving unanswered, e.g. "queue:sales"
    entry_number: str | None = None


@dataclass(frozen=True)
class RingAttempt:
    """An agent's phone rung for a queue caller."""

    call_id: str
    queue: str
    agent: str
    at: int                       # when the ringing ended
    ring: float                   # seconds it rang
    answered: bool


@dataclass(frozen=True)
class AgentLeg:
    """An agent talking to a caller: from the queue, or reached by a transfer."""

    call_id: str
    agent: str
    queue: str | None
    answered_at: int
    talk: float
    wrapup: float = 0.0           # wrap-up in force, cut short by the agent's next call
    entered_at: int | None = None  # the queue stint it came from


@dataclass(frozen=True)
class AgentSpan:
    """An agent logged in (reason None) or paused (reason given, may be "") from start to end."""

    agent: str
    start: int
    end: int
    queue: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CallEvent:
    """Something done within a call: a transfer (blind, attended, with_return), a
    conference (three-way), a help request, an IVR decision, a callback request."""

    call_id: str
    at: int
    kind: str                     # transfer_blind | transfer_attended | transfer_with_return | conference | help | callback | callback_attempt | ivr
    agent: str | None = None
    queue: str | None = None
    target: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Call:
    """One customer call: everything that shares Asterisk's linkedid."""

    call_id: str
    started_at: int
    ended_at: int | None
    caller_number: str = ""
    caller_name: str = ""
    entry_number: str | None = None
    ivr_path: str | None = None   # the IVR decisions the service logged, e.g. "main:menu=1 > main:hours=open"
    node: str | None = None


@dataclass
class Books:
    """The rows one report run looks at."""

    calls: list[Call] = field(default_factory=list)
    stints: list[Stint] = field(default_factory=list)
    rings: list[RingAttempt] = field(default_factory=list)
    legs: list[AgentLeg] = field(default_factory=list)
    spans: list[AgentSpan] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)
