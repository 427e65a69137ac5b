"""Agents' desk-phone codes on FreeSWITCH: the generated dialplan's *45 / *46 extensions
run through the strict double's outbound socket to `serve freeswitch`, which carries the
change out through its controller (mod_callcenter model of the double, over the Event
Socket) and answers with a prompt, as the Asterisk codes do."""

from __future__ import annotations

import signal
import time

from esl_double.pbx import place_call
from freeswitch_service import dialplan_of
from test_fs_controller import agent_doc, fs, link_up  # noqa: F401  (fs: the fixture)
from test_fs_controller import OPERATOR_CONF, PASSWORD, Service, site_file

from esl_double.callcenter import Callcenter
from esl_double.server import InboundServer
from freeswitch_service import free_port
from pbxctl.apply.freeswitch_apply import apply_freeswitch
from pbxctl.freeswitch.esl_client import EslClient
from pbxctl.site.load import load_site

from pbxctl.freeswitch import wire

PROMPTS = {result: f"playback {prompt}" for result, prompt in wire.AGENT_CODE_PROMPTS.items()}


def dial(svc, code: str, caller: str, **kw):
    result = place_call(dialplan_of(svc.site), code, caller, [], service=("127.0.0.1", svc.port), **kw)
    assert result.violations == [], result.violations
    return result


def heard(result) -> list[str]:
    return [step for step in result.trace if step.startswith("playback ")]


def test_login_pause_and_refusals_from_the_desk_phone(fs):  # noqa: F811
    model, _server, svc = fs
    svc.wait_for(link_up(), what="link up")

    # lars (1004) is a dynamic agent, Logged Out after apply: *45 logs him in, *45 again out
    result = dial(svc, "*45", "1004")
    assert (result.outcome, heard(result), result.fell_back_by) == ("hangup", [PROMPTS["logged_in"]], "")
    assert model.agents["lars"]["status"] == "Available"
    svc.wait_for(lambda d: agent_doc(d, "lars")["state"] == "available", what="lars in")
    result = dial(svc, "*45", "1004")
    assert heard(result) == [PROMPTS["logged_out"]]
    assert model.agents["lars"]["status"] == "Logged Out"

    # ingrid (1003) is static: she cannot log out (what FreeSWITCH is left with: unchanged),
    # but *46 pauses her (On Break) and *46 again unpauses her
    result = dial(svc, "*45", "1003")
    assert (result.outcome, heard(result)) == ("hangup", [PROMPTS["refused"]])
    assert model.agents["ingrid"]["status"] == "Available"
    result = dial(svc, "*46", "1003")
    assert heard(result) == [PROMPTS["paused"]]
    assert model.agents["ingrid"]["status"] == "On Break"
    svc.wait_for(lambda d: agent_doc(d, "ingrid")["state"] == "paused", what="ingrid paused")
    result = dial(svc, "*46", "1003")
    assert heard(result) == [PROMPTS["unpaused"]]
    assert model.agents["ingrid"]["status"] == "Available"

    # lars, logged out, cannot pause
    result = dial(svc, "*46", "1004")
    assert heard(result) == [PROMPTS["refused"]] and model.agents["lars"]["status"] == "Logged Out"

    # an extension that is no agent's
    result = dial(svc, "*45", "1999")
    assert (result.outcome, heard(result)) == ("hangup", [PROMPTS["not_an_agent"]])

    output = svc.output()
    assert "agent_code_refused" in output and "agent_code_from_no_agent" in output


def test_event_socket_down_is_a_failure_the_agent_hears(fs):  # noqa: F811
    """FreeSWITCH's Event Socket gone (the controller cannot send the change): the failure
    prompt, nothing changed."""
    model, server, svc = fs
    svc.wait_for(link_up(), what="link up")
    server.close()
    svc.wait_for(lambda d: not d["ami"]["up"], what="link down")
    result = dial(svc, "*45", "1004")
    assert (result.outcome, heard(result), result.fell_back_by) == ("hangup", [PROMPTS["failed"]], "")
    assert model.agents["lars"]["status"] == "Logged Out"


def test_service_down_plays_the_failure_prompt(fs):  # noqa: F811
    """Nothing listening on the outbound socket: the socket app returns at once and the
    dialplan's fallback plays the failure prompt."""
    _model, _server, svc = fs
    svc.stop()
    result = place_call(dialplan_of(svc.site), "*45", "1004", [], service=("127.0.0.1", svc.port))
    assert result.fell_back_by == "socket returned"
    assert result.trace[-2:] == [wire.AGENT_CODE_FAILED, PROMPTS["failed"]] and result.outcome == "hangup"


def test_frozen_service_is_cut_short_by_the_watchdog(fs):  # noqa: F811
    """The IVR process SIGSTOPped: the socket connects and nothing answers; the dialplan's
    watchdog (pbx.freeswitch.outbound.watchdog, 3 s) transfers to the failure prompt."""
    model, _server, svc = fs
    svc.wait_for(link_up(), what="link up")
    svc.signal_ivr(signal.SIGSTOP)
    try:
        result = place_call(dialplan_of(svc.site), "*45", "1004", [], service=("127.0.0.1", svc.port))
    finally:
        svc.signal_ivr(signal.SIGCONT)
    assert (result.fell_back_by, result.outcome) == ("watchdog", "hangup")
    assert result.trace[-2:] == [wire.AGENT_CODE_FAILED, PROMPTS["failed"]]
    assert 3 <= result.seconds < 5 and model.agents["lars"]["status"] == "Logged Out"


def test_the_ivr_process_sends_the_api_token(tmp_path):
    """A site with service.token: the /api refuses requests without it, and the code still
    goes through (the IVR process reads the token as the CLI does)."""
    import shutil

    conf = tmp_path / "freeswitch"
    shutil.copytree(OPERATOR_CONF, conf)
    model = Callcenter(conf)
    model.api("reloadxml")
    server = InboundServer(PASSWORD, model.api)
    model.emit = server.emit
    http_port = free_port()
    site = site_file(tmp_path, conf, server.port, http_port)
    site.write_text(site.read_text().replace(f"service: {{port: {http_port}}}",
                                             f"service: {{port: {http_port}, token: agent-codes-test-token}}"))
    loaded = load_site(site)
    with EslClient("127.0.0.1", server.port, PASSWORD) as esl:
        apply_freeswitch(loaded, conf, esl)
    svc = Service(site, tmp_path, http_port)
    try:
        svc.env["PBXCTL_API_TOKEN"] = "unused"  # the site's token wins for the CLI and the service
        deadline = time.monotonic() + 15
        while not server.commands and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the controller's first resync
        result = dial(svc, "*45", "1004")
        assert heard(result) == [PROMPTS["logged_in"]], svc.output()[-2000:]
        assert model.agents["lars"]["status"] == "Available"
    finally:
        svc.stop()
        server.close()
