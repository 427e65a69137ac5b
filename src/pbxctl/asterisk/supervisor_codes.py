"""AGI scripts behind the supervisors' and agents' desk-phone codes:

- `supervise` (ARG1 mode, ARG2 agent extension, ARG3 PIN typed so far): PBXCTL_RESULT one of
  pin, ok, not_allowed, wrong_pin, not_an_agent, no_call; on ok the barge variables.
- `conference` (ARG1 third party's number), on the agent's second line: PBXCTL_RESULT ok,
  not_an_agent or no_call; on ok PBXCTL_ROOM.
- `conference_merge` (ARG1 room), on the third party's channel: moves the caller and the
  agent in; PBXCTL_RESULT ok or failed, plus the PBXCTL_CONF_* variables for queue_log.
"""

from __future__ import annotations

from typing import Callable

import structlog

from pbxctl.asterisk import wire
from pbxctl.asterisk.member_actions import supervisor_by_caller
from pbxctl.asterisk.supervision_control import SupervisionControl
from pbxctl.asterisk.wire import set_variable
from pbxctl.domain.supervision import SupervisionError, answer_code
from pbxctl.site.load import LoadedSite

log = structlog.get_logger("pbxctl.supervisor_codes")


def supervise_handler(site_of: Callable[[], LoadedSite], control: SupervisionControl):
    async def handle(request, headers: dict, call_id: str) -> None:
        site = site_of().site
        mode = headers.get("agi_arg_1", "")
        agent_ext = headers.get("agi_arg_2", "")
        pin = headers.get("agi_arg_3", "")
        caller = headers.get("agi_callerid", "")
        channel = headers.get("agi_channel", "")
        supervisor = supervisor_by_caller(site, caller, channel)
        expected = control.supervisor_pin(supervisor) if supervisor else None
        answer = answer_code(site, supervisor, agent_ext, pin, expected,
                             lambda agent: control.calls.by_agent(agent) is not None)
        log.info("supervisor_code", call_id=call_id, caller=caller, mode=mode, agent=answer.agent,
                 result=answer.result)
        if answer.result == "ok":
            call = control.calls.by_agent(answer.agent)
            await set_variable(request, wire.BARGE_TARGET, call.agent_channel)
            await set_variable(request, wire.BARGE_AGENT, answer.agent or "")
            await set_variable(request, wire.BARGE_SUPERVISOR, answer.supervisor or "")
        await set_variable(request, wire.RESULT, answer.result)

    return handle


def conference_handler(control: SupervisionControl):
    async def handle(request, headers: dict, call_id: str) -> None:
        number = headers.get("agi_arg_1", "")
        result, room = control.conference_room(headers.get("agi_callerid", ""), headers.get("agi_channel", ""), number)
        log.info("conference_dial", call_id=call_id, number=number, result=result, room=room)
        if room:
            await set_variable(request, wire.ROOM, room)
        await set_variable(request, wire.RESULT, result)

    return handle


def conference_merge_handler(control: SupervisionControl):
    async def handle(request, headers: dict, call_id: str) -> None:
        room = headers.get("agi_arg_1", "")
        try:
            variables = await control.conference_merge(room)
        except SupervisionError as exc:
            log.error("conference_merge_failed", call_id=call_id, room=room, error=str(exc))
            await set_variable(request, wire.RESULT, "failed")
            return
        for name, value in variables.items():
            await set_variable(request, name, value)
        await set_variable(request, wire.RESULT, "ok")

    return handle
