"""The domain's member plans on Asterisk: agents become queue-member interfaces, the
priority they ring at becomes the penalty, operations become AMI actions, and Asterisk's
answers (QueueStatus, member events) are read back in agents.

Pure: the controller sends what this builds.
"""

from __future__ import annotations

from typing import Mapping

from pbxctl.asterisk.wire import channel_extension, member_key
from pbxctl.domain.agent_membership import AddMember, LiveMember, MemberOp, RemoveMember, agent_by_extension
from pbxctl.domain.supervision import supervisor_by_extension
from pbxctl.domain.queue_strategy import ring_priority
from pbxctl.site import model as m


def agent_interface(site: m.Site, agent: m.Agent) -> str:
    """The agent's queue-member interface (its device: also the state interface)."""
    return agent.device.asterisk or site.pbx.asterisk.device_template.replace("{extension}", agent.extension)


def supervisor_device(site: m.Site, name: str) -> str:
    sup = site.supervisors[name]
    return sup.device.asterisk or site.pbx.asterisk.device_template.replace("{extension}", sup.extension)


def penalty_for(queue: m.Queue, member: m.Member) -> int:
    # app_queue rings the lowest penalty first: the priority group is the penalty.
    return ring_priority(queue, member)


def agent_by_interface(site: m.Site) -> dict[str, str]:
    """interface -> agent, for every agent of the site."""
    return {agent_interface(site, a): name for name, a in site.agents.items()}


def agents_by_member(site: m.Site) -> dict[str, str]:
    """member key (wire.member_key of the interface) -> agent."""
    return {member_key(iface): name for iface, name in agent_by_interface(site).items()}


def agent_of(site: m.Site, channel_or_interface: str) -> str | None:
    """The agent a queue-member interface or a channel of its device belongs to."""
    if not channel_or_interface:
        return None
    return agents_by_member(site).get(member_key(channel_or_interface))


def agent_by_caller(site: m.Site, caller: str, channel: str) -> str | None:
    """Which agent dialled a feature code: by caller number = extension, else by the
    device the channel belongs to (PJSIP/1001-000000a1 is device PJSIP/1001)."""
    return agent_by_extension(site, caller) or agent_of(site, channel)


def supervisor_of(site: m.Site, channel: str) -> str | None:
    """The supervisor a channel belongs to: a channel of the supervisor's device, else
    one whose device part is a supervisor's extension (PJSIP/8101-0000001a)."""
    if not channel:
        return None
    key = member_key(channel)
    for name in site.supervisors:
        if member_key(supervisor_device(site, name)) == key:
            return name
    return supervisor_by_extension(site, channel_extension(channel))


def supervisor_by_caller(site: m.Site, caller: str, channel: str = "") -> str | None:
    """The supervisor a desk-phone call comes from: by caller number, else by its channel."""
    return supervisor_by_extension(site, caller) or supervisor_of(site, channel)


def ami_action(site: m.Site, op: MemberOp) -> dict[str, str]:
    iface = agent_interface(site, site.agents[op.agent])
    if isinstance(op, AddMember):
        action = {
            "Action": "QueueAdd",
            "Queue": op.queue,
            "Interface": iface,
            "Penalty": str(op.priority),
            "Paused": "true" if op.paused else "false",
            "MemberName": site.agents[op.agent].name,
            # The device is also the state interface: app_queue then skips an agent whose phone is busy.
            "StateInterface": iface,
        }
        if op.paused and op.reason:
            action["Reason"] = op.reason
        return action
    if isinstance(op, RemoveMember):
        return {"Action": "QueueRemove", "Queue": op.queue, "Interface": iface}
    action = {
        "Action": "QueuePause",
        "Queue": op.queue,
        "Interface": iface,
        "Paused": "true" if op.paused else "false",
    }
    if op.reason:
        action["Reason"] = op.reason
    return action


def accepted(op: MemberOp, reply: Mapping[str, str]) -> bool:
    """Success, or an error that means the member already is as wanted."""
    if reply.get("Response") == "Success":
        return True
    message = reply.get("Message", "").lower()
    if isinstance(op, AddMember):
        return "already there" in message
    if isinstance(op, RemoveMember):
        return "not there" in message
    return False


def describe(site: m.Site, op: MemberOp) -> str:
    iface = agent_interface(site, site.agents[op.agent])
    if isinstance(op, AddMember):
        paused = " (paused)" if op.paused else ""
        return f"{iface} logged in to {op.queue}{paused}"
    if isinstance(op, RemoveMember):
        return f"{iface} logged out of {op.queue}"
    verb = "paused" if op.paused else "unpaused"
    reason = f" ({op.reason})" if op.reason and op.paused else ""
    return f"{iface} {verb} in {op.queue}{reason}"


def live_member(site: m.Site, interface: str, membership: str, paused: bool, reason: str) -> LiveMember | None:
    """One member as Asterisk reports it, as the agent it is (None: not the site's)."""
    agent = agent_of(site, interface)
    return None if agent is None else LiveMember(agent, membership, paused, reason)


def live_members(site: m.Site, queue_status: list[Mapping[str, str]]) -> dict[str, dict[str, LiveMember]]:
    """queue -> agent -> member, from the messages of a QueueStatus action; members that
    are no agent of the site are left out."""
    by_member = agents_by_member(site)
    live: dict[str, dict[str, LiveMember]] = {}
    for msg in queue_status:
        if msg.get("Event") == "QueueParams":
            live.setdefault(msg.get("Queue", ""), {})
        elif msg.get("Event") == "QueueMember":
            iface = msg.get("Location") or msg.get("Interface", "")
            queue = live.setdefault(msg.get("Queue", ""), {})
            agent = by_member.get(member_key(iface))
            if agent is not None:
                queue[agent] = LiveMember(
                    agent=agent,
                    membership=msg.get("Membership", "static"),
                    paused=msg.get("Paused", "0") == "1",
                    reason=msg.get("PausedReason", ""),
                )
    return live
