"""Supervisors and desk phones on the real sandbox Asterisk (issue 5): barge in three modes
from the CLI and from feature codes, switching by CLI and by key, the agent notice heard
on the agent's leg only, help requests, the *71 three-way surviving the agent leaving,
transfers with return, and the bad cases. After each test CoreShowChannels must show
none of the test's channels.

tests/sites/supervision.yaml is applied with pbxctl's own apply; `pbxctl serve asterisk`
runs as a subprocess; phones are Local channels (tests/helpers/supervision_lab.py).

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from pbxctl.apply.asterisk_apply import apply_asterisk
from pbxctl.asterisk.ami_client import AmiClient
from pbxctl.site.load import load_site

from helpers.sandbox import applied_test_site

from helpers.site_files import point_at_sandbox
from helpers.controller_harness import Service, free_port, pbxctl
from helpers.supervision_lab import DB_FAMILY, Lab, install_test_dialplan

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "supervision.yaml"
PIN = "4321"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def lab_site(sandbox, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("supervision")
    text = point_at_sandbox(SITE.read_text(), sandbox)
    text = text.replace("port: 4573", f"port: {free_port()}").replace("port: 9464", f"port: {free_port()}")
    text = text.replace("sqlite:///pbxctl-supervision.db", f"sqlite:///{tmp / 'pbxctl.db'}")
    site_file = tmp / "supervision.yaml"
    site_file.write_text(text)
    (tmp / "sv-pin.txt").write_text(PIN + "\n")
    with applied_test_site(sandbox, site_file, install_test_dialplan, DB_FAMILY):
        service = Service(site_file).start()
        try:
            yield site_file, service, sandbox["root"]
        finally:
            service.stop()


def keep_recording(request, lab: Lab) -> None:
    """With PBXCTL_RECORD_AMI_DIR set, the test's AMI traffic is written there (gzip, AMI
    blocks; X-Pbxctl-T: seconds since the first) - how tests/fixtures/ami/supervision_*.ami.gz
    were made for tests/test_live_calls.py."""
    import gzip
    import os

    directory = os.environ.get("PBXCTL_RECORD_AMI_DIR")
    if not directory or not lab.events:
        return
    t0 = lab.events[0]["_t"]
    blocks = []
    for event in lab.events:
        lines = [f"{k}: {v}" for k, v in event.items() if k != "_t"]
        lines.append(f"X-Pbxctl-T: {event['_t'] - t0:.3f}")
        blocks.append("\r\n".join(lines) + "\r\n\r\n")
    name = request.node.name.removeprefix("test_")
    Path(directory, f"supervision_{name}.ami.gz").write_bytes(gzip.compress("".join(blocks).encode(), mtime=0))


@pytest.fixture
def play(lab_site, ami_secret, request):
    """play(scenario): `async scenario(lab, site_file, service)` with every phone answering;
    afterwards no test channel may be left (checked, then cleared for the next test)."""
    site_file, service, root = lab_site

    def player(scenario, check_left: bool = True):
        async def main():
            async with Lab(ami_secret, root) as lab:
                for ext in ("7101", "7102", "8101", "8102", "9001"):
                    await lab.phone(ext, "answer")
                await lab.phone("9002", "ring")
                try:
                    result = await scenario(lab, site_file, service)
                    if check_left:
                        await lab.none_left()
                    return result
                finally:
                    keep_recording(request, lab)
                    await lab.clear()
                    await lab.none_left()

        return run(main())

    return player


def cli(site_file: Path, *args: str, timeout: float = 40):
    return pbxctl(*args, "--site", str(site_file), timeout=timeout)


async def cli_async(site_file: Path, *args: str, timeout: float = 40):
    return await asyncio.to_thread(cli, site_file, *args, timeout=timeout)


def live_calls(site_file: Path) -> list[dict]:
    done = cli(site_file, "calls", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["calls"]


async def wait_calls(site_file: Path, predicate, what: str, timeout: float = 10) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    calls: list[dict] = []
    while asyncio.get_running_loop().time() < deadline:
        calls = await asyncio.to_thread(live_calls, site_file)
        if predicate(calls):
            return calls
        await asyncio.sleep(0.3)
    raise AssertionError(f"pbxctl calls never showed {what}: {calls}")


async def a1_talking(lab: Lab, site_file: Path) -> tuple[dict, str, str]:
    """A caller into help_desk, answered by a1, and known to the service: the AgentConnect
    event, the caller's channel and the agent's."""
    connect = await lab.call_queue("help_desk")
    await wait_calls(site_file, lambda cs: any(c["agent"] == "a1" for c in cs), "a1's call")
    return connect, connect["Channel"], connect["DestChannel"]


async def spy_of(lab: Lab, supervisor_prefix: str) -> dict:
    """The supervisor's ChanSpy channel as CoreShowChannels shows it."""
    for _ in range(50):
        for c in await lab.channels():
            if c["Channel"].startswith(supervisor_prefix) and c["Channel"].endswith(";1") and c.get("Application") == "ChanSpy":
                return c
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ChanSpy running for {supervisor_prefix}: {[(c['Channel'], c.get('Application')) for c in await lab.channels()]}")


def spy_mode(channel: dict) -> str:
    options = channel["ApplicationData"].split(",")[1]
    return "both" if "B" in options else "whisper" if "w" in options else "listen"


# -- barge from the CLI, switching by CLI and by key, notice on the agent's leg only ------


def test_barge_from_cli_switches_modes_and_notifies_only_the_agent(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)

        agent_ear, caller_ear = await lab.start_hearing(agent), await lab.start_hearing(caller)
        start = lab.mark()
        done = await cli_async(site_file, "barge", "a1", "--mode", "listen", "--from", "8101")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "s1 joined a1's call" in done.stdout
        spy = await lab.wait_from(start, lambda e: e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == agent)
        supervisor = spy["SpyerChannel"]
        assert supervisor.startswith("Local/8101@pbxctl-sv-phones-")
        assert spy_mode(await spy_of(lab, "Local/8101@")) == "listen"
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["listeners"] and cs[0]["listeners"][0]["mode"] == "listen", "s1 listening")
        assert calls[0]["listeners"][0]["supervisor"] == "s1"
        await asyncio.sleep(1.0)
        assert await lab.beeps_heard(agent, agent_ear) == 0, "listen mode is silent for the agent (notify_agent.listen: none)"

        agent_ear = await lab.start_hearing(agent)
        done = await cli_async(site_file, "barge", "a1", "--set-mode", "whisper")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "s1 now in whisper mode" in done.stdout
        assert spy_mode(await spy_of(lab, "Local/8101@")) == "whisper"
        await wait_calls(site_file, lambda cs: cs[0]["listeners"] and cs[0]["listeners"][0]["mode"] == "whisper", "whisper mode")
        await asyncio.sleep(1.0)
        assert await lab.beeps_heard(agent, agent_ear) == 1, "the agent heard one notice beep on the switch to whisper"

        agent_ear = await lab.start_hearing(agent)
        await lab.press(supervisor, "6")   # the supervisor's key for both
        for _ in range(30):
            if spy_mode(await spy_of(lab, "Local/8101@")) == "both":
                break
            await asyncio.sleep(0.1)
        assert spy_mode(await spy_of(lab, "Local/8101@")) == "both"
        await wait_calls(site_file, lambda cs: cs[0]["listeners"] and cs[0]["listeners"][0]["mode"] == "both", "both mode")
        await asyncio.sleep(1.0)
        assert await lab.beeps_heard(agent, agent_ear) == 1, "switching to both by key notified the agent again"
        assert await lab.beeps_heard(caller, caller_ear) == 0, "the caller never hears the notice"

        await lab.press(supervisor, "4")
        for _ in range(30):
            if spy_mode(await spy_of(lab, "Local/8101@")) == "listen":
                break
            await asyncio.sleep(0.1)
        assert spy_mode(await spy_of(lab, "Local/8101@")) == "listen"

        # The agent hangs up during the barge: the session ends with the call, nothing hangs.
        start = lab.mark()
        await lab.hang_up_handset(agent)
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == supervisor)

    play(scenario)


# -- feature codes from the supervisor's desk phone ----------------------------------------


def test_barge_code_with_pin_joins_in_whisper_mode(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        sup = await lab.dial_from("8102", "*2237101")
        await lab.wait_from(start, lambda e: e.get("Event") == "Newexten" and e.get("Channel") == sup and e.get("Application") == "Read")
        await asyncio.sleep(0.5)
        await lab.press(sup, PIN + "#")
        spy = await lab.wait_from(start, lambda e: e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == agent)
        assert spy["SpyerChannel"] == sup
        assert spy_mode(await spy_of(lab, "Local/8102@")) == "whisper"
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["listeners"], "s2 listening")
        assert calls[0]["listeners"][0] == {**calls[0]["listeners"][0], "supervisor": "s2", "mode": "whisper"}
        await lab.hang_up(sup)
        await lab.hang_up(connect["Channel"])

    play(scenario)


def root_of(site_file: Path) -> Path:
    text = site_file.read_text()
    return Path(re.search(r"config_dir: (\S+)/etc/asterisk", text).group(1))


def queue_log_lines(root: Path, call_id: str, event: str) -> list[list[str]]:
    """The data fields of queue_log lines for this call and event (time|callid|queue|agent|event|data...)."""
    lines = (root / "var/log/asterisk/queue_log").read_text(errors="replace").splitlines()
    return [line.split("|")[5:] for line in lines if line.split("|")[1:2] == [call_id] and line.split("|")[4:5] == [event]]


def prompts_played(lab: Lab, start: int, channel: str) -> list[str]:
    return [e.get("AppData", "") for e in lab.events[start:]
            if e.get("Event") == "Newexten" and e.get("Channel") == channel and e.get("Application") == "Playback"]


def test_barge_code_refusals_end_cleanly_with_a_prompt(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        # Wrong PIN three times.
        connect = await lab.call_queue("help_desk")
        start = lab.mark()
        sup = await lab.dial_from("8102", "*2227101")
        since = start
        for _ in range(3):
            read = await lab.wait_from(since, lambda e: e.get("Event") == "Newexten" and e.get("Channel") == sup and e.get("Application") == "Read")
            since = lab.events.index(read) + 1
            await asyncio.sleep(0.4)
            await lab.press(sup, "1111#")
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == sup, timeout=20)
        assert prompts_played(lab, start, sup) == ["auth-incorrect"] * 3 + ["vm-goodbye"]
        reads = [e for e in lab.events[start:] if e.get("Event") == "Newexten" and e.get("Channel") == sup and e.get("Application") == "Read"]
        assert len(reads) == 3, "three tries, then goodbye"
        assert not [e for e in lab.events[start:] if e.get("Event") == "ChanSpyStart"]

        # Not a supervisor: an agent's phone dials the code.
        start = lab.mark()
        other = await lab.dial_from("7102", "*2227101")
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == other)
        assert "feature-not-avail-line" in prompts_played(lab, start, other)

        # An agent with no call.
        start = lab.mark()
        sup = await lab.dial_from("8101", "*2227102")
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == sup)
        assert "vm-isunavail" in prompts_played(lab, start, sup)

        # Not an agent's extension.
        start = lab.mark()
        sup = await lab.dial_from("8101", "*2225555")
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == sup)
        assert "agent-incorrect" in prompts_played(lab, start, sup)
        await lab.hang_up(connect["Channel"])

    play(scenario)


def test_barge_cli_refusals(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        done = await cli_async(site_file, "barge", "a2", "--mode", "listen", "--from", "8101")
        assert done.returncode != 0 and "agent 'a2' has no call now" in done.stderr
        connect, caller, agent = await a1_talking(lab, site_file)
        done = await cli_async(site_file, "barge", "a1", "--mode", "listen", "--from", "7102")
        assert done.returncode != 0 and "7102 is not a supervisor's extension" in done.stderr
        done = await cli_async(site_file, "barge", "a1", "--mode", "shout", "--from", "8101")
        assert done.returncode != 0 and "unknown mode 'shout'" in done.stderr
        await lab.phone("8101", "busy")
        done = await cli_async(site_file, "barge", "a1", "--mode", "listen", "--from", "8101")
        assert done.returncode != 0 and "is busy" in done.stderr, done.stderr
        done = await cli_async(site_file, "barge", "a1", "--set-mode", "whisper")
        assert done.returncode != 0 and "nobody is listening in" in done.stderr
        await lab.hang_up(connect["Channel"])

    play(scenario)


# -- help requests --------------------------------------------------------------------------


def test_help_request_shows_in_calls_counts_and_rings_the_supervisor_into_whisper(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        await lab.press(agent, "*9")
        await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlHelp")
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["help_requested"], "help requested")
        assert calls[0]["agent"] == "a1" and calls[0]["queue"] == "help_desk"
        table = cli(site_file, "calls")
        assert table.returncode == 0 and "YES" in table.stdout, table.stdout
        assert re.search(r'^pbxctl_help_requests_total\{queue="help_desk"\} 1\.0$', service.metrics(), re.M)
        # supervision.help.ring: [s1] -> s1 is rung and lands in whisper mode on this call.
        spy = await lab.wait_from(start, lambda e: e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == agent
                                  and "pbxctl-agent-notice" not in e.get("SpyerChannel", ""))
        assert spy_mode(await spy_of(lab, spy["SpyerChannel"][:-1])) == "whisper"
        # Shown by name (the phone that answered is s1's), in pbxctl calls (--json) ...
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["listeners"], "the supervisor rung in")
        assert [(lis["supervisor"], lis["mode"]) for lis in calls[0]["listeners"]] == [("s1", "whisper")]
        # ... so that s1's session is found by s1's extension.
        done = await cli_async(site_file, "barge", "a1", "--set-mode", "both", "--from", "8101")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "s1 now in both mode" in done.stdout
        for _ in range(30):
            if spy_mode(await spy_of(lab, spy["SpyerChannel"][:-1])) == "both":
                break
            await asyncio.sleep(0.1)
        assert spy_mode(await spy_of(lab, spy["SpyerChannel"][:-1])) == "both"
        await lab.hang_up(agent)
        await lab.hang_up(connect["Channel"])

    play(scenario)


# -- three-way from the agent's second line -------------------------------------------------


def test_star71_three_way_puts_three_in_one_conference_that_survives_the_agent_leaving(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        line2 = await lab.dial_from("7101", "*719001")
        answered = await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                                       and "9001@pbxctl-sv-phones" in e.get("Channel", ""))
        third_handset = answered["Channel"]
        await asyncio.sleep(0.5)            # the agent talks privately, then hangs up line 2
        await lab.hang_up(line2)
        event = await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlConference")
        room = event["Room"]
        assert event["Third"] == "9001" and event["Queue"] == "help_desk"
        # Asterisk logs no three-way call: the dialplan's own queue_log line does.
        for _ in range(20):
            if queue_log_lines(root_of(site_file), connect["Uniqueid"], "PBXCTLCONF"):
                break
            await asyncio.sleep(0.1)
        assert queue_log_lines(root_of(site_file), connect["Uniqueid"], "PBXCTLCONF") == [["9001"]]

        async def members() -> set[str]:
            reply = await lab.action({"Action": "ConfbridgeList", "Conference": room})
            return {e["Channel"] for e in reply if e.get("Event") == "ConfbridgeList"}

        for _ in range(50):
            inside = await members()
            if len(inside) == 3:
                break
            await asyncio.sleep(0.1)
        assert caller in inside and agent in inside and len(inside) == 3, inside
        third = next(c for c in inside if c.startswith("Local/9001@"))
        assert third.endswith(";1") and third_handset.endswith(";2")
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["state"] == "conference", "the conference")
        assert calls[0]["third_party"] == "9001"
        # The agent leaves; caller and third party go on.
        await lab.hang_up(agent)
        await asyncio.sleep(1.0)
        assert await members() == {caller, third}
        assert (await wait_calls(site_file, lambda cs: cs and cs[0]["state"] == "conference", "the call after the agent left"))
        await lab.hang_up(caller)
        await lab.hang_up(third)

    play(scenario)


def test_star71_third_party_not_answering_leaves_the_call_as_it_was(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        line2 = await lab.dial_from("7101", "*719002")   # 9002 rings and never answers
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == line2, timeout=20)
        assert "vm-isunavail" in prompts_played(lab, start, line2)
        bridged = {c["Channel"]: c.get("BridgeId") for c in await lab.channels()}
        assert bridged[caller] and bridged[caller] == bridged[agent], "caller and agent still talk"
        await lab.hang_up(caller)

    play(scenario)


# -- transfers --------------------------------------------------------------------------------


def test_transfer_with_return_comes_back_to_the_agent_after_the_timeout(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        done = await cli_async(site_file, "transfer", "a1", "--to", "9002", "--with-return")
        assert done.returncode == 0, done.stderr
        assert "with return transfer to 9002" in done.stdout
        ringing = await lab.wait_from(start, lambda e: e.get("Event") == "Newchannel" and e.get("Channel", "").startswith("Local/9002@pbxctl-sv-phones"))
        # While the target rings the call stays in pbxctl calls, as transferring.
        away = await wait_calls(site_file, lambda cs: cs and cs[0]["state"] == "transferring", "the call being transferred")
        assert (away[0]["call"], away[0]["caller_channel"], away[0]["agent"]) == (connect["Uniqueid"], caller, "a1")
        back = await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlTransferReturn", timeout=15)
        waited = back["_t"] - ringing["_t"]
        assert 4.5 <= waited <= 7, f"returned after {waited:.1f} s, return_after is 5"
        assert back["Back"] == "Local/7101@pbxctl-sv-phones/n"
        # The agent's phone rings again and answers: caller and agent talk again.
        again = await lab.wait_from(lab.events.index(back), lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                                    and "7101@pbxctl-sv-phones" in e.get("Channel", ""))
        await asyncio.sleep(0.3)
        channels = {c["Channel"]: c for c in await lab.channels()}
        agent_again = again["Channel"][:-1] + "1"
        assert channels[caller]["BridgeId"] and channels[caller]["BridgeId"] == channels[agent_again]["BridgeId"]
        # Back with the agent: the same call, talking again on the agent's new channel.
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["state"] == "talking", "the call back with a1")
        assert (calls[0]["call"], calls[0]["agent"], calls[0]["agent_channel"]) == (connect["Uniqueid"], "a1", agent_again)
        await lab.hang_up(caller)
        await wait_calls(site_file, lambda cs: cs == [], "the call gone after the caller hung up")

    play(scenario)


def test_blind_transfer_from_the_cli_and_with_return_by_feature_code(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        done = await cli_async(site_file, "transfer", "a1", "--to", "9001")
        assert done.returncode == 0, done.stderr
        await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                            and "9001@pbxctl-sv-phones" in e.get("Channel", ""))
        await lab.wait_from(start, lambda e: e.get("Event") == "Hangup" and e.get("Channel") == agent)
        await asyncio.sleep(0.3)
        channels = {c["Channel"]: c for c in await lab.channels()}
        dialled = next(n for n in channels if n.startswith("Local/9001@") and n.endswith(";1"))
        assert channels[caller]["BridgeId"] and channels[caller]["BridgeId"] == channels[dialled]["BridgeId"]
        # Asterisk's own blind transfer: app_queue logs it and ends the agent's talk there.
        blind = queue_log_lines(root_of(site_file), connect["Uniqueid"], "BLINDTRANSFER")
        assert [fields[:2] for fields in blind] == [["9001", "pbxctl-extension"]], blind
        await lab.hang_up(caller)
        await lab.none_left()

        # *4 + target from the agent's phone: the target rings out, the caller comes back.
        connect = await lab.call_queue("help_desk")
        caller, agent = connect["Channel"], connect["DestChannel"]
        start = lab.mark()
        await lab.press(agent, "*4")
        await lab.wait_from(start, lambda e: e.get("Event") == "Newexten" and e.get("Channel") == agent and e.get("Application") == "Read")
        await asyncio.sleep(0.3)
        await lab.press(agent, "9002#")
        back = await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlTransferReturn", timeout=15)
        assert back["Target"] == "9002" and back["Channel"] == caller
        await lab.wait_from(lab.events.index(back), lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                            and "7101@pbxctl-sv-phones" in e.get("Channel", ""))
        await lab.hang_up(caller)

    play(scenario)


def test_attended_transfer_from_the_cli_and_in_call_three_way(play):
    async def scenario(lab: Lab, site_file: Path, service: Service):
        # pbxctl transfer --attended: the agent's own leg calls the target (AMI Atxfer);
        # the agent hangs up to hand the caller over.
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        done = await cli_async(site_file, "transfer", "a1", "--to", "9001", "--attended")
        assert done.returncode == 0, done.stderr
        await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                            and "9001@pbxctl-sv-phones" in e.get("Channel", ""))
        # The agent talks to the target, the caller on hold: transferring, not held.
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["state"] != "talking", "the attended transfer")
        assert calls[0]["state"] == "transferring", calls
        await asyncio.sleep(0.5)
        await lab.hang_up_handset(agent)
        await lab.wait_from(start, lambda e: e.get("Event") == "AttendedTransfer" and e.get("Result") == "Success")
        await asyncio.sleep(0.3)
        channels = {c["Channel"]: c for c in await lab.channels()}
        peers = [n for n, c in channels.items() if c.get("BridgeId") and c["BridgeId"] == channels[caller].get("BridgeId") and n != caller]
        assert len(peers) == 1 and peers[0].startswith("Local/9001@"), peers
        await lab.hang_up(caller)
        await lab.none_left()

        # In-call: *2 + number (Asterisk's attended transfer), talk, *3: all three in one bridge.
        connect = await lab.call_queue("help_desk")
        caller, agent = connect["Channel"], connect["DestChannel"]
        start = lab.mark()
        await lab.press(agent, "*2")
        await asyncio.sleep(1.0)
        await lab.press(agent, "9001")
        await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                            and "9001@pbxctl-sv-phones" in e.get("Channel", ""), timeout=20)
        await asyncio.sleep(0.5)
        await lab.press(agent, "*3")
        event = await lab.wait_from(start, lambda e: e.get("Event") == "AttendedTransfer")
        assert event.get("Result") == "Success" and event.get("DestType") == "Threeway", event
        await asyncio.sleep(0.3)
        channels = {c["Channel"]: c for c in await lab.channels()}
        bridge = channels[caller]["BridgeId"]
        members = sorted(n for n, c in channels.items() if c.get("BridgeId") == bridge)
        assert len(members) == 3 and agent in members, members
        calls = await wait_calls(site_file, lambda cs: cs and cs[0]["state"] == "conference", "the three-way call")
        assert calls[0]["third_party"] == "9001"
        await lab.hang_up_handset(agent)
        await asyncio.sleep(0.5)
        channels = {c["Channel"]: c for c in await lab.channels()}
        assert len([n for n, c in channels.items() if c.get("BridgeId") == bridge]) == 2, "caller and third party go on"
        assert queue_log_lines(root_of(site_file), connect["Uniqueid"], "PBXCTLCONF") == [["9001"]]
        await lab.hang_up(caller)

    play(scenario)


def test_conference_ends_with_the_caller_when_configured(play, lab_site, sandbox, ami_secret):
    """desk_phone.conference.ends_with_caller: true - the agent and the third party are
    end_marked users of the room: when the caller (the marked user) leaves, they are hung
    up too. The site is re-applied with the setting for this test and put back after."""
    site_file = lab_site[0]
    original = site_file.read_text()

    def apply(text: str) -> None:
        site_file.write_text(text)

        async def go():
            async with AmiClient("127.0.0.1", 5038, "pbxctl", ami_secret) as ami:
                await apply_asterisk(load_site(site_file), sandbox["config_dir"], ami)

        run(go())

    async def scenario(lab: Lab, site_file: Path, service: Service):
        connect, caller, agent = await a1_talking(lab, site_file)
        start = lab.mark()
        line2 = await lab.dial_from("7101", "*719001")
        await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                            and "9001@pbxctl-sv-phones" in e.get("Channel", ""))
        await asyncio.sleep(0.5)
        await lab.hang_up(line2)
        event = await lab.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlConference")
        for _ in range(50):
            reply = await lab.action({"Action": "ConfbridgeList", "Conference": event["Room"]})
            inside = {e["Channel"] for e in reply if e.get("Event") == "ConfbridgeList"}
            if len(inside) == 3:
                break
            await asyncio.sleep(0.1)
        assert len(inside) == 3, inside
        third = next(c for c in inside if c.startswith("Local/9001@"))
        left = lab.mark()
        await lab.hang_up_handset(caller)     # the caller leaves
        for channel in (agent, third):
            await lab.wait_from(left, lambda e, c=channel: e.get("Event") == "Hangup" and e.get("Channel") == c, timeout=5)

    apply(original.replace('conference: {code: "*71", ring_time: 10}',
                           'conference: {code: "*71", ring_time: 10, ends_with_caller: true}'))
    try:
        play(scenario)
    finally:
        apply(original)
