"""Live queue calls on FreeSWITCH, for `pbxctl calls` and /api/calls: every caller
mod_callcenter bridged to an agent, from `bridge-agent-start` until `member-queue-end`
(after a reconnect, from `queue list members` rows in state Answered). In the same shape
as Asterisk's listing. Barge, help requests and transfers are not done on FreeSWITCH yet:
nobody listens, nobody asked for help."""

from __future__ import annotations

from pbxctl.freeswitch.queue_state import QueueState


def listing(state: QueueState, now: float) -> list[dict]:
    return [
        {
            "call": caller.uniqueid,
            "caller": caller.caller_id,
            "agent": agent,
            "agent_channel": agent_uuid,
            "caller_channel": caller.channel,
            "queue": caller.queue,
            "duration": max(0, round(now - answered_at)),
            "state": "talking",
            "help_requested": False,
            "help_waiting": None,
            "third_party": None,
            "listeners": [],
        }
        for caller, agent, answered_at, agent_uuid in state.connected()
    ]
