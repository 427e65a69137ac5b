"""Agents' desk-phone feature codes (*45 log in/out, *46 pause/unpause by default), served
as the AGI script `agent` that [pbxctl-agent-code] calls.

The answer is PBXCTL_RESULT, which the dialplan turns into a prompt: logged_in,
logged_out, paused, unpaused, not_an_agent, refused (e.g. a static agent logging out),
failed (Asterisk or the database could not take it). No answer at all (service down)
plays the failure prompt too: the agent must never believe a change happened.
"""

from __future__ import annotations

from typing import Callable

import structlog

from pbxctl.asterisk import wire
from pbxctl.asterisk.ami_link import LinkDown
from pbxctl.asterisk.controller import CommandFailed, QueueController
from pbxctl.asterisk.member_actions import agent_by_caller
from pbxctl.domain.agent_membership import AgentCommandError, agent_queues, current
from pbxctl.site.load import LoadedSite

log = structlog.get_logger("pbxctl.agent_codes")

CODE_ACTIONS = ("login_toggle", "pause_toggle")


def _result(site, controller: QueueController, agent: str, action: str) -> str:
    rows = [current(site, controller.wanted, agent, q) for q in agent_queues(site, agent)]
    if action == "login_toggle":
        return "logged_in" if any(r.logged_in for r in rows) else "logged_out"
    inside = [r for r in rows if r.logged_in]
    return "paused" if inside and all(r.paused for r in inside) else "unpaused"


def agent_code_handler(site: Callable[[], LoadedSite], controller: QueueController):
    async def handle(request, headers: dict, call_id: str) -> None:
        action = headers.get("agi_arg_1", "")
        caller = headers.get("agi_callerid", "")
        channel = headers.get("agi_channel", "")
        agent = agent_by_caller(site().site, caller, channel)
        if action not in CODE_ACTIONS:
            result = "failed"
            log.warning("unknown_agent_code_action", call_id=call_id, action=action)
        elif agent is None:
            result = "not_an_agent"
            log.info("agent_code_from_no_agent", call_id=call_id, caller=caller, channel=channel)
        else:
            try:
                await controller.agent_command(agent, action, source="phone")  # type: ignore[arg-type]
                result = _result(site().site, controller, agent, action)
            except AgentCommandError as exc:
                result = "refused"
                log.info("agent_code_refused", call_id=call_id, agent=agent, action=action, why=str(exc))
            except (LinkDown, CommandFailed) as exc:
                result = "failed"
                log.error("agent_code_failed", call_id=call_id, agent=agent, action=action, error=str(exc))
        await wire.set_variable(request, wire.RESULT, result)

    return handle
