"""What a backend's live queue state shows: queues, their waiting callers, their members and
today's counters, as the status document, the metrics and the SLA rules read them
(service/status_view.py, service/metrics.py, domain/sla.py).

Both adapters' `queue_state.py` build these from their own events (AMI on Asterisk,
`callcenter::info` on FreeSWITCH), so `pbxctl status` looks the same on both PBXs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["answered", "abandoned", "timed_out", "exit_empty", "join_refused", "other"]
MemberStateName = Literal["available", "ringing", "busy", "wrapup", "paused", "unavailable"]


@dataclass(frozen=True)
class CallerView:
    uniqueid: str  # the caller's channel (Asterisk uniqueid, FreeSWITCH channel uuid)
    channel: str
    caller_id: str
    caller_name: str
    position: int  # 1 = next to be served; 0 for a caller already connected to a member
    joined_at: float  # epoch; after a resync, estimated from what the PBX reports
    queue: str = ""


@dataclass
class QueueCounters:
    answered: int = 0
    abandoned: int = 0
    timed_out: int = 0
    exit_empty: int = 0
    join_refused: int = 0  # mod_callcenter refuses nobody at the door: 0 on FreeSWITCH
    other: int = 0
    answered_within_sl: int = 0
    longest_answered_wait: float = 0.0
    day: dt.date | None = None  # the local date these counts are for

    @property
    def total(self) -> int:
        return self.answered + self.abandoned + self.timed_out + self.exit_empty + self.join_refused + self.other

    def count(self, outcome: Outcome, wait: float, service_level: int) -> None:
        """One caller's time in the queue ended with `outcome` after `wait` seconds."""
        if outcome == "answered":
            self.answered += 1
            if wait <= service_level:
                self.answered_within_sl += 1
            if wait > self.longest_answered_wait:
                self.longest_answered_wait = float(wait)
        elif outcome in ("abandoned", "timed_out", "exit_empty", "join_refused"):
            setattr(self, outcome, getattr(self, outcome) + 1)
        else:
            self.other += 1


@dataclass(frozen=True)
class MemberView:
    interface: str  # the PBX's member key (Asterisk interface; FreeSWITCH agent name)
    name: str
    state_interface: str
    penalty: int  # Asterisk penalty; FreeSWITCH tier level
    membership: str  # static | dynamic | realtime
    paused: bool
    pause_reason: str
    in_call: bool  # connected to a queue caller (of any queue)
    device_status: int  # Asterisk: enum ast_device_state
    calls_taken: int
    last_call: float  # epoch of the end of the member's last call in this queue, or 0
    wrapup: int  # seconds
    state: MemberStateName
    state_since: float
    current_call: CallerView | None


@dataclass(frozen=True)
class QueueView:
    name: str
    strategy: str
    service_level: int
    callers: list[CallerView]
    members: list[MemberView]
    counters: QueueCounters


@dataclass(frozen=True)
class CallEnded:
    queue: str
    uniqueid: str
    caller_id: str
    joined_at: float
    ended_at: float
    outcome: Outcome
    wait_seconds: float
    agent: str | None  # member name (or interface) when answered
