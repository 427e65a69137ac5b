"""Login and pause intervals from the agent events the books keep (books_agent_events), cut
to a report window: a pure function the reports use.

A login runs from ADDMEMBER (or AGENTLOGIN) to REMOVEMEMBER (or AGENTLOGOFF) of the same
agent in the same queue; a pause from PAUSE to UNPAUSE, with PAUSEALL/UNPAUSEALL (queue
NONE) applying to every queue. An interval still open at the window's end ends there; one
that began before the window (its start line is before it) starts at the window.
Static members log no ADDMEMBER: callers treat them as logged in for the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

STARTS = {"ADDMEMBER": "login", "AGENTLOGIN": "login", "AGENTCALLBACKLOGIN": "login", "PAUSE": "pause", "PAUSEALL": "pause"}
ENDS = {"REMOVEMEMBER": "login", "AGENTLOGOFF": "login", "AGENTCALLBACKLOGOFF": "login", "UNPAUSE": "pause",
        "UNPAUSEALL": "pause"}
ALL_QUEUES = "NONE"


@dataclass(frozen=True, slots=True)
class AgentInterval:
    agent: str
    queue: str  # NONE: every queue (PAUSEALL)
    kind: str  # login | pause
    start: int
    end: int
    reason: str = ""  # pause reason

    @property
    def seconds(self) -> int:
        return self.end - self.start


def intervals(events: Iterable, start: int, end: int) -> list[AgentInterval]:
    """`events`: rows with agent, queue, event, at, reason (books_agent_events), in any order,
    including the ones before `start` (to know who was logged in or paused when it began)."""
    open_: dict[tuple[str, str, str], tuple[int, str]] = {}
    found: list[AgentInterval] = []

    def close(key, at):
        began, reason = open_.pop(key)
        s, e = max(began, start), min(at, end)
        if e > s:
            found.append(AgentInterval(key[0], key[1], key[2], s, e, reason))

    for row in sorted(events, key=lambda r: (r.at, r.event in ENDS)):
        if row.at >= end:
            break
        if row.event in STARTS:
            key = (row.agent, row.queue, STARTS[row.event])
            if key not in open_:  # a second ADDMEMBER/PAUSE while already so changes nothing
                open_[key] = (row.at, row.reason if STARTS[row.event] == "pause" else "")
        elif row.event in ENDS:
            kind = ENDS[row.event]
            keys = [k for k in open_ if k[0] == row.agent and k[2] == kind and row.queue in (k[1], ALL_QUEUES)]
            for key in keys:
                close(key, row.at)
    for key in list(open_):
        close(key, end)
    return sorted(found, key=lambda i: (i.agent, i.queue, i.kind, i.start))
