"""Agents' logins and pauses on FreeSWITCH as the books' agent events (books_agent_events,
the rows `books.agent_time.intervals` pairs into login and pause time), so the agent
report's login and pause time work as on Asterisk. No CDR line says when an agent logged
in or paused; mod_callcenter's `agent-status-change` events and pbxctl's own tier commands
do, so the controller writes these as it sees them (and after a resync, what changed while
it was away, at the resync's time).

The rows use queue_log's words: ADDMEMBER / REMOVEMEMBER per queue the agent is in (a tier
not Standby), PAUSEALL / UNPAUSEALL with queue NONE (mod_callcenter's On Break is one
status for all the agent's queues). Pure."""

from __future__ import annotations

from typing import Iterable

from pbxctl.books.agent_time import ALL_QUEUES
from pbxctl.books.assembler import AgentEvent
from pbxctl.freeswitch import wire
from pbxctl.freeswitch.queue_state import LOGGED_IN


def status_events(agent: str, old: str, new: str, queues: Iterable[str], at: float, reason: str = "") -> list[AgentEvent]:
    """What one status change means; `queues`: the agent's queues with a tier not Standby."""
    out: list[AgentEvent] = []
    at_s = int(at)
    was_in, is_in = old in LOGGED_IN, new in LOGGED_IN
    if was_in != is_in:
        verb = "ADDMEMBER" if is_in else "REMOVEMEMBER"
        out += [AgentEvent(at_s, queue, agent, agent, verb, "freeswitch") for queue in sorted(queues)]
    if (old == wire.ON_BREAK) != (new == wire.ON_BREAK):
        paused = new == wire.ON_BREAK
        out.append(AgentEvent(at_s, ALL_QUEUES, agent, agent, "PAUSEALL" if paused else "UNPAUSEALL",
                              reason if paused else ""))
    return out


def tier_events(agent: str, queue: str, old: str | None, new: str, status: str, at: float) -> list[AgentEvent]:
    """A tier pbxctl set Ready or Standby: a login or logout of that queue, if the agent is in."""
    if status not in LOGGED_IN or (old != wire.TIER_STANDBY) == (new != wire.TIER_STANDBY):
        return []
    verb = "REMOVEMEMBER" if new == wire.TIER_STANDBY else "ADDMEMBER"
    return [AgentEvent(int(at), queue, agent, agent, verb, "pbxctl")]
