"""Agent login, logout and pause as decisions: what an agent asked for, checked against the
site, and what the PBX must then be told. Pure functions; the controller does the I/O.

The plan is in agents, queues and priorities. Each adapter maps it to its PBX
(asterisk/member_actions.py: interfaces and penalties).

Static agents (login: static) are members by configuration: they can pause, not log in or
out. Dynamic agents are members only while logged in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Mapping

from pbxctl.domain.queue_strategy import ring_priority
from pbxctl.site import model as m

Action = Literal["login", "logout", "pause", "unpause", "login_toggle", "pause_toggle"]


class AgentCommandError(ValueError):
    """A request that cannot be carried out, with a message for the person who made it."""


@dataclass(frozen=True)
class Wanted:
    """What pbxctl wants for one agent in one queue (persisted between runs)."""

    agent: str
    queue: str
    logged_in: bool
    paused: bool = False
    reason: str = ""


@dataclass(frozen=True)
class LiveMember:
    """One agent's membership of one queue as the PBX reports it."""

    agent: str
    membership: str  # static | dynamic | realtime
    paused: bool
    reason: str = ""


@dataclass(frozen=True)
class AddMember:
    agent: str
    queue: str
    priority: int  # as it rings (ring_priority)
    paused: bool
    reason: str


@dataclass(frozen=True)
class RemoveMember:
    agent: str
    queue: str


@dataclass(frozen=True)
class PauseMember:
    agent: str
    queue: str
    paused: bool
    reason: str


MemberOp = AddMember | RemoveMember | PauseMember


def agent_queues(site: m.Site, agent: str) -> dict[str, m.Member]:
    return {qname: mem for qname, q in site.queues.items() for mem in q.members if mem.agent == agent}


def _known(names) -> str:
    names = sorted(names)
    return f" (known: {', '.join(names)})" if names else ""


def check_request(site: m.Site, agent: str, queue: str | None) -> list[str]:
    """The queues a request is about; an error naming what is wrong otherwise."""
    if agent not in site.agents:
        raise AgentCommandError(f"unknown agent {agent!r}{_known(site.agents)}")
    mine = agent_queues(site, agent)
    if queue is None:
        if not mine:
            raise AgentCommandError(f"agent {agent!r} is not a member of any queue")
        return sorted(mine)
    if queue not in site.queues:
        raise AgentCommandError(f"unknown queue {queue!r}{_known(site.queues)}")
    if queue not in mine:
        raise AgentCommandError(
            f"agent {agent!r} is not a member of queue {queue!r} (its queues: {', '.join(sorted(mine)) or 'none'})"
        )
    return [queue]


def current(site: m.Site, wanted: Mapping[tuple[str, str], Wanted], agent: str, queue: str) -> Wanted:
    """An agent's standing in a queue: static agents are always in."""
    static = site.agents[agent].login == "static"
    row = wanted.get((agent, queue))
    if row is None:
        return Wanted(agent, queue, logged_in=static)
    return replace(row, logged_in=True) if static else row


def resolve_toggle(action: Action, rows: list[Wanted]) -> Action:
    """What a toggle means for an agent standing as `rows` (one per queue): log out when in
    any queue, unpause when paused in every queue it is in."""
    if action == "login_toggle":
        return "logout" if any(w.logged_in for w in rows) else "login"
    if action == "pause_toggle":
        inside = [w for w in rows if w.logged_in]
        return "unpause" if inside and all(w.paused for w in inside) else "pause"
    return action


def plan_request(
    site: m.Site,
    wanted: Mapping[tuple[str, str], Wanted],
    agent: str,
    action: Action,
    queue: str | None = None,
    reason: str = "",
) -> list[Wanted]:
    """The new Wanted rows for one request (only those that change)."""
    queues = check_request(site, agent, queue)
    static = site.agents[agent].login == "static"
    now = {q: current(site, wanted, agent, q) for q in queues}
    action = resolve_toggle(action, list(now.values()))
    if action in ("login", "logout") and static:
        raise AgentCommandError(
            f"agent {agent!r} is a static member (login: static in the site file): "
            "static agents cannot log in or out; pause them instead"
        )
    if action in ("pause", "unpause"):
        inside = {q: w for q, w in now.items() if w.logged_in}
        if not inside:
            where = f"queue {queue!r}" if queue else "any queue"
            raise AgentCommandError(f"agent {agent!r} is not logged in to {where}")
        paused = action == "pause"
        return [
            replace(w, paused=paused, reason=reason if paused else "")
            for w in inside.values()
            if w.paused != paused or (paused and w.reason != reason)
        ]
    logged_in = action == "login"
    # A fresh login starts unpaused; a logout forgets the pause.
    return [Wanted(agent, q, logged_in) for q, w in now.items() if w.logged_in != logged_in or w.paused]


def reconcile(
    site: m.Site,
    wanted: Mapping[tuple[str, str], Wanted],
    live: Mapping[str, Mapping[str, LiveMember]],
) -> list[MemberOp]:
    """What to tell the PBX so that its members match what pbxctl wants.

    `live` is queue -> agent -> member as the PBX reported it; the adapter leaves out
    members that are no agent of the site (the operator may have members of their own),
    so those are left alone.
    """
    ops: list[MemberOp] = []
    for agent_id in sorted(site.agents):
        for qname in sorted(agent_queues(site, agent_id)):
            want = current(site, wanted, agent_id, qname)
            have = live.get(qname, {}).get(agent_id)
            if want.logged_in and have is None:
                if site.agents[agent_id].login == "dynamic":
                    priority = ring_priority(site.queues[qname], agent_queues(site, agent_id)[qname])
                    ops.append(AddMember(agent_id, qname, priority, want.paused, want.reason))
                continue  # a static member missing from the PBX is a config matter (apply)
            if not want.logged_in:
                if have is not None and have.membership == "dynamic":
                    ops.append(RemoveMember(agent_id, qname))
                continue
            if have is not None and have.paused != want.paused:
                ops.append(PauseMember(agent_id, qname, want.paused, want.reason))
    return ops


def agent_by_extension(site: m.Site, extension: str) -> str | None:
    """The agent whose desk phone has this extension (a feature code's caller number)."""
    if not extension:
        return None
    return next((name for name, a in site.agents.items() if a.extension == extension), None)
