"""Cross-checks for supervisors and desk-phone codes: who exists, and which codes would
shadow one another in the dialplan or in Asterisk's in-call feature matching."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbxctl.site.checks import Checker


def dialled_codes(site) -> dict[tuple[str, ...], str]:
    """Codes dialled as a call of their own ([pbxctl-features]), by their place in the YAML."""
    codes = site.feature_codes
    barge = site.supervision.codes
    return {
        ("feature_codes", "agent_login"): codes.agent_login,
        ("feature_codes", "agent_pause"): codes.agent_pause,
        ("feature_codes", "callback_next"): codes.callback_next,
        ("supervision", "codes", "listen"): barge.listen,
        ("supervision", "codes", "whisper"): barge.whisper,
        ("supervision", "codes", "both"): barge.both,
        ("desk_phone", "conference", "code"): site.desk_phone.conference.code,
    }


def in_call_codes(site) -> dict[tuple[str, ...], str]:
    return {("desk_phone", "in_call", k): v for k, v in site.desk_phone.in_call.model_dump().items()}


def _shadowing(path: tuple[str, ...], code: str, others: dict[tuple[str, ...], str]) -> str | None:
    for other_path, other in others.items():
        if other_path >= path:
            continue
        if other == code:
            return f"{code} is also {'.'.join(other_path)}"
        if code.startswith(other) or other.startswith(code):
            return f"{code} and {'.'.join(other_path)} ({other}) start alike: one would shadow the other"
    return None


def check_supervision(checker: "Checker") -> None:
    site = checker.site
    if checker.backend == "freeswitch" and site.supervisors:
        checker.warn(("supervisors",), "barge, help requests, three-way and transfers with return are generated for "
                     "Asterisk only so far; on FreeSWITCH these settings do nothing yet")
    owners = {agent.extension: f"agent {name!r}" for name, agent in site.agents.items()}
    for name, sup in site.supervisors.items():
        base = ("supervisors", name)
        if sup.extension in owners:
            checker.error(base + ("extension",), f"extension {sup.extension} is also {owners[sup.extension]}'s")
        owners[sup.extension] = f"supervisor {name!r}"
        if isinstance(sup.pin, str):
            if not sup.pin.isdigit() or not 1 <= len(sup.pin) <= 12:
                checker.error(base + ("pin",), "a PIN is 1 to 12 digits (typed on a desk phone)")
            else:
                checker.warn(base + ("pin",), "PIN written in the site file; prefer {env: NAME} or {file: PATH}")
    for i, who in enumerate(site.supervision.help.ring):
        if who not in site.supervisors:
            known = ", ".join(sorted(site.supervisors)) or "none are defined"
            checker.error(("supervision", "help", "ring", i), f"unknown supervisor {who!r} (known: {known})")

    dialled = dialled_codes(site)
    for path, code in dialled.items():
        problem = _shadowing(path, code, dialled)
        if problem:
            checker.error(path, problem)
        if code in owners:
            checker.error(path, f"{code} is {owners[code]}'s extension")
    in_call = in_call_codes(site)
    for path, code in in_call.items():
        problem = _shadowing(path, code, in_call)
        if problem:
            checker.error(path, problem)
