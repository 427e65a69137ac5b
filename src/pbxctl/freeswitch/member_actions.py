"""The domain's member plans on mod_callcenter: agents are mod_callcenter agents of the same
name, a queue membership is the agent's tier in that queue (level = the priority it rings at,
position = its place in the member list), operations become `callcenter_config` commands,
and what mod_callcenter lists is read back in agents.

mod_callcenter keeps one status per agent, not per queue, so:
- logged in to a queue = a tier there that is not Standby, and a status that is not
  Logged Out; logging out of one queue sets that tier Standby (mod_callcenter offers only
  Ready and No Answer tiers), logging out of the last one sets the status Logged Out;
- paused = status On Break, in every queue of the agent at once (a pause with --queue for an
  agent in several queues is refused: it cannot mean that queue only); mod_callcenter keeps
  no pause reason, pbxctl keeps it with the wanted membership.

Pure: the controller sends what this builds.
"""

from __future__ import annotations

from typing import Callable, Mapping

from pbxctl.domain.agent_membership import AddMember, LiveMember, MemberOp, RemoveMember
from pbxctl.domain.queue_strategy import ring_priority
from pbxctl.freeswitch import wire
from pbxctl.freeswitch.queue_state import LOGGED_IN
from pbxctl.site import model as m


def agents_by_member(site: m.Site) -> dict[str, str]:
    """mod_callcenter agent name -> agent: pbxctl names each agent after its key."""
    return {name: name for name in site.agents}


def tier_of(site: m.Site, agent: str, queue: str) -> tuple[int, int]:
    """(level, position) of an agent's tier in a queue, as the generated tiers file has it."""
    q = site.queues[queue]
    for position, member in enumerate(q.members, start=1):
        if member.agent == agent:
            return ring_priority(q, member), position
    raise KeyError(f"{agent} is not a member of {queue}")


def live_members(
    site: m.Site, statuses: Mapping[str, str], tiers: Mapping[tuple[str, str], str], reason: Callable[[str], str]
) -> dict[str, dict[str, LiveMember]]:
    """queue -> agent -> member as mod_callcenter has it (`statuses`: agent -> status,
    `tiers`: (site queue, agent) -> tier state); agents that are not the site's are left out."""
    live: dict[str, dict[str, LiveMember]] = {q: {} for q in site.queues}
    for (queue, agent), state in tiers.items():
        if queue not in live or agent not in site.agents or state == wire.TIER_STANDBY:
            continue
        status = statuses.get(agent, wire.LOGGED_OUT)
        if status in LOGGED_IN:
            paused = status == wire.ON_BREAK
            live[queue][agent] = LiveMember(agent, site.agents[agent].login, paused, reason(agent) if paused else "")
    return live


def commands(
    site: m.Site,
    op: MemberOp,
    statuses: Mapping[str, str],
    tiers: Mapping[tuple[str, str], str],
    still_in: set[str],
) -> list[str]:
    """`callcenter_config` arguments for one op. `still_in`: the agent's other queues it is
    wanted in after this op (a logout of the last one logs the agent out)."""
    fs = site.pbx.freeswitch
    queue = wire.callcenter_queue(op.queue, fs.queue_domain)
    status = statuses.get(op.agent, wire.LOGGED_OUT)
    out = []
    if isinstance(op, AddMember):
        tier = tiers.get((op.queue, op.agent))
        if tier is None:
            level, position = tier_of(site, op.agent, op.queue)
            out.append(f"tier add {queue} {op.agent} {level} {position}")
        elif tier == wire.TIER_STANDBY:
            out.append(f"tier set state {queue} {op.agent} {wire.TIER_READY}")
        wanted = wire.ON_BREAK if op.paused else wire.AVAILABLE
        if status != wanted and not (wanted == wire.AVAILABLE and status == wire.AVAILABLE_ON_DEMAND):
            out.append(f"agent set status {op.agent} {wire.cc_argument(wanted)}")
    elif isinstance(op, RemoveMember):
        out.append(f"tier set state {queue} {op.agent} {wire.TIER_STANDBY}")
        if not still_in and status != wire.LOGGED_OUT:
            out.append(f"agent set status {op.agent} {wire.cc_argument(wire.LOGGED_OUT)}")
    else:
        wanted = wire.ON_BREAK if op.paused else wire.AVAILABLE
        if status != wanted:
            out.append(f"agent set status {op.agent} {wire.cc_argument(wanted)}")
    return [f"callcenter_config {c}" for c in out]


def accepted(reply: str) -> bool:
    """mod_callcenter's answers carry errors only in the body (`-ERR Agent not found!`)."""
    return reply.startswith("+OK")


def describe(op: MemberOp) -> str:
    if isinstance(op, AddMember):
        return f"{op.agent} logged in to {op.queue}{' (paused)' if op.paused else ''}"
    if isinstance(op, RemoveMember):
        return f"{op.agent} logged out of {op.queue}"
    verb = "paused" if op.paused else "unpaused"
    reason = f" ({op.reason})" if op.reason and op.paused else ""
    return f"{op.agent} {verb} in {op.queue}{reason}"
