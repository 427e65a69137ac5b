"""Agents' desk-phone codes on FreeSWITCH (*45 log in/out, *46 pause/unpause by default):
the generated dialplan's code extension sets pbxctl_agent_code and runs the same outbound
socket as the IVR (freeswitch/outbound_service.py), which answers with a prompt and hangs up.

The change itself goes to the controller through the service's own /api (the main process
hands it to the controller process, which plans it with the domain's plan_request and sends
the `callcenter_config` commands over its Event Socket link): the wanted membership lives
there, and a change made behind its back would be undone by its next resync.

Results as on Asterisk (asterisk/agent_codes.py): logged_in, logged_out, paused, unpaused,
not_an_agent, refused (a static agent logging out, a pause while logged out), failed (the
service or FreeSWITCH could not take it). Blocking (urllib): run it off the gevent hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from pbxctl.domain.agent_membership import Action, Wanted, agent_by_extension, resolve_toggle
from pbxctl.service.client import ServiceError, call
from pbxctl.site import model as m

log = structlog.get_logger("pbxctl.freeswitch.agent_codes")

CODE_ACTIONS = ("login_toggle", "pause_toggle")
DONE = {"login": "logged_in", "logout": "logged_out", "pause": "paused", "unpause": "unpaused"}


@dataclass(frozen=True)
class ServiceApi:
    """Where the IVR process reaches the service's /api (the main process of `serve freeswitch`)."""

    host: str
    port: int
    token: str | None = field(default=None, repr=False)  # the API token (service/api_token.py)
    timeout_s: float = 4.0

    def get(self, path: str) -> dict:
        return call(self.host, self.port, "GET", path, timeout=self.timeout_s, backend="freeswitch", token=self.token)

    def post(self, path: str, body: dict) -> dict:
        return call(self.host, self.port, "POST", path, body, timeout=self.timeout_s, backend="freeswitch",
                    token=self.token)


def standing(agent: str, doc: dict) -> list[Wanted]:
    """An agent's rows as the status document shows them: wanted in or out, paused as
    mod_callcenter has it (On Break)."""
    mine = next((a for a in doc.get("agents", []) if a.get("agent") == agent), None)
    if mine is None:
        return []
    return [Wanted(agent, q["queue"], q["wanted"] == "in", bool(q["paused"])) for q in mine["queues"]]


def carry_out(api: ServiceApi | None, site: m.Site, caller: str, action: str, call_id: str = "?") -> str:
    """One desk-phone code from `caller` (the calling extension): its result word."""
    if action not in CODE_ACTIONS:
        log.warning("unknown_agent_code_action", call_id=call_id, action=action)
        return "failed"
    agent = agent_by_extension(site, caller)
    if agent is None:
        log.info("agent_code_from_no_agent", call_id=call_id, caller=caller)
        return "not_an_agent"
    if api is None:
        return "failed"
    try:
        # the toggle resolved here, by the domain's rule, so the answer names what was done
        explicit: Action = resolve_toggle(action, standing(agent, api.get("/api/status")))  # type: ignore[arg-type]
        api.post(f"/api/agents/{agent}/{explicit}", {"source": "phone"})
    except ServiceError as exc:
        if exc.status == 400:
            log.info("agent_code_refused", call_id=call_id, agent=agent, action=action, why=str(exc))
            return "refused"
        log.error("agent_code_failed", call_id=call_id, agent=agent, action=action, error=str(exc))
        return "failed"
    log.info("agent_code", call_id=call_id, agent=agent, action=explicit)
    return DONE[explicit]
