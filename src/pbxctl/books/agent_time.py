"""Login and pause intervals from the agent events the books keep (books_agent_events), cut
to a report window: a pure function the reports use.

A login runs from ADDMEMBER (or AGENTLOGIN) to REMOVEMEMBER (or AGENTLOGOFF) of the same
agent in the same queue; a pause from PAUSE to UNPAUSE, with PAUSEALL/UNPAUSEALL (queue
NONE) applying to every queue. An interval still open at the window's end ends there; one
that began before the window (its start line is before it) starts at the window.
Static members (written into the queue's config) log no ADDMEMBER: `static_logins` counts
them logged in to each of their queues from the window's start — or from the PBX's start
(QUEUESTART) in the window when the books hold none before the window — to its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

STARTS = {"ADDMEMBER": "login", "AGENTLOGIN": "login", "AGENTCALLBACKLOGIN": "login", "PAUSE": "pause", "PAUSEALL": "pause"}
ENDS = {"REMOVEMEMBER": "login", "AGENTLOGOFF": "login", "AGENTCALLBACKLOGOFF": "login", "UNPAUSE": "pause",
        "UNPAUSEALL": "pause"}
ALL_QUEUES = "NONE"
PBX_START = "QUEUESTART"


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


def static_logins(members: Mapping[str, Iterable[str]], pbx_starts: Iterable[int], start: int,
                  end: int) -> list[AgentInterval]:
    """Login intervals of static members (agent -> its queues, from the site) in a window.
    `pbx_starts`: the times of QUEUESTART lines in the books. The PBX logs no stop, so a
    static member counts as logged in while the site configures it, from the first start
    the books know of (when it is inside the window) or the window's start."""
    starts = sorted(at for at in pbx_starts if at < end)
    begins = start if not starts or starts[0] <= start else starts[0]
    if begins >= end:
        return []
    return [AgentInterval(agent, queue, "login", begins, end)
            for agent, queues in sorted(members.items()) for queue in sorted(set(queues))]
