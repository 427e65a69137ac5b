"""Queue-member operations as AMI actions, and Asterisk's answers read back as outcomes."""

from __future__ import annotations

from typing import Mapping

from pbxctl.domain.agent_membership import AddMember, LiveMember, MemberOp, RemoveMember


def ami_action(op: MemberOp) -> dict[str, str]:
    if isinstance(op, AddMember):
        spec = op.member
        action = {
            "Action": "QueueAdd",
            "Queue": spec.queue,
            "Interface": spec.interface,
            "Penalty": str(spec.penalty),
            "Paused": "true" if op.paused else "false",
            "MemberName": spec.name,
            "StateInterface": spec.state_interface,
        }
        if op.paused and op.reason:
            action["Reason"] = op.reason
        return action
    if isinstance(op, RemoveMember):
        return {"Action": "QueueRemove", "Queue": op.queue, "Interface": op.interface}
    action = {
        "Action": "QueuePause",
        "Queue": op.queue,
        "Interface": op.interface,
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


def describe(op: MemberOp) -> str:
    if isinstance(op, AddMember):
        paused = " (paused)" if op.paused else ""
        return f"{op.member.interface} logged in to {op.member.queue}{paused}"
    if isinstance(op, RemoveMember):
        return f"{op.interface} logged out of {op.queue}"
    verb = "paused" if op.paused else "unpaused"
    reason = f" ({op.reason})" if op.reason and op.paused else ""
    return f"{op.interface} {verb} in {op.queue}{reason}"


def live_members(queue_status: list[Mapping[str, str]]) -> dict[str, dict[str, LiveMember]]:
    """queue -> interface -> member, from the messages of a QueueStatus action."""
    live: dict[str, dict[str, LiveMember]] = {}
    for msg in queue_status:
        if msg.get("Event") == "QueueParams":
            live.setdefault(msg.get("Queue", ""), {})
        elif msg.get("Event") == "QueueMember":
            iface = msg.get("Location") or msg.get("Interface", "")
            live.setdefault(msg.get("Queue", ""), {})[iface] = LiveMember(
                interface=iface,
                membership=msg.get("Membership", "static"),
                paused=msg.get("Paused", "0") == "1",
                reason=msg.get("PausedReason", ""),
            )
    return live
