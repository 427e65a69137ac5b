"""Who may barge into which call, and where transfers go: pure decisions, no AMI.

The answers of a supervisor's desk-phone code ([pbxctl-supervise-code] turns them into
prompts): pin, ok, not_allowed, wrong_pin, not_an_agent, no_call.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from pbxctl.domain.agent_membership import agent_by_extension
from pbxctl.site import model as m
from pbxctl.site.supervision_model import BARGE_MODES


class SupervisionError(Exception):
    """A request that cannot be carried out; the message says why, in the operator's words."""


@dataclass(frozen=True)
class CodeAnswer:
    result: str
    supervisor: str | None = None
    agent: str | None = None


def supervisor_by_extension(site: m.Site, extension: str) -> str | None:
    return next((name for name, s in site.supervisors.items() if s.extension == extension), None)


def answer_code(
    site: m.Site,
    supervisor: str | None,
    agent_extension: str,
    pin_given: str,
    pin_expected: str | None,
    agent_has_call,
) -> CodeAnswer:
    """A supervisor dialled a barge code + agent extension. `supervisor`: who the adapter
    found the call comes from (None: nobody configured); `pin_expected` is the resolved
    PIN (None: none configured); `agent_has_call(agent)` says whether the agent talks now."""
    if supervisor is None:
        return CodeAnswer("not_allowed")
    if pin_expected is not None:
        if not pin_given:
            return CodeAnswer("pin", supervisor)
        if not hmac.compare_digest(pin_given.encode(), pin_expected.encode()):
            return CodeAnswer("wrong_pin", supervisor)
    agent = agent_by_extension(site, agent_extension)
    if agent is None:
        return CodeAnswer("not_an_agent", supervisor)
    if not agent_has_call(agent):
        return CodeAnswer("no_call", supervisor, agent)
    return CodeAnswer("ok", supervisor, agent)


def check_mode(mode: str) -> str:
    if mode not in BARGE_MODES:
        raise SupervisionError(f"unknown mode {mode!r} (use {', '.join(BARGE_MODES)})")
    return mode


def check_supervisor_extension(site: m.Site, extension: str) -> str:
    name = supervisor_by_extension(site, extension)
    if name is None:
        known = ", ".join(f"{s.extension} ({n})" for n, s in site.supervisors.items()) or "none are configured"
        raise SupervisionError(f"{extension} is not a supervisor's extension (supervisors: {known})")
    return name


TRANSFER_TARGET = re.compile(r"^\+?[0-9*#]{1,32}$")


def check_transfer_target(target: str) -> str:
    target = target.strip()
    if not TRANSFER_TARGET.match(target):
        raise SupervisionError(f"{target!r} is not a number or extension to transfer to (digits, '*', '#', leading '+')")
    return target


def room_name(call_id: str) -> str:
    """A ConfBridge room per call: the caller's Uniqueid with its dot, which dialplan
    patterns would read as a wildcard, made plain."""
    return "pbxctl-" + re.sub(r"[^0-9A-Za-z]", "-", call_id)
