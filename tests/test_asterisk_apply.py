"""The generated configuration of conf/example.yaml, applied to the real sandbox Asterisk."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbxctl.apply.asterisk_apply import apply_asterisk, plan_asterisk
from pbxctl.apply.files import ApplyError
from pbxctl.asterisk.ami_client import AmiClient
from pbxctl.cli import app
from pbxctl.asterisk.member_actions import agent_interface, penalty_for
from pbxctl.render.asterisk import ENGINE_STRATEGY
from pbxctl.site.load import load_site

from pbxctl.asterisk.ami_events import EventRecorder
from helpers.sandbox import sandbox_rx

pytestmark = pytest.mark.asterisk
runner = CliRunner()


def run(coro):
    return asyncio.run(coro)


def ami(secret: str, username: str = "pbxctl") -> AmiClient:
    return AmiClient("127.0.0.1", 5038, username, secret)


@pytest.fixture
def applied(example_site):
    result = runner.invoke(app, ["apply", "-s", str(example_site)])
    assert result.exit_code == 0, result.output
    return load_site(example_site)


def test_apply_twice_changes_nothing_the_second_time(example_site, sandbox):
    first = runner.invoke(app, ["apply", "-s", str(example_site)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["apply", "-s", str(example_site)])
    assert second.exit_code == 0, second.output
    assert "no change" in second.output
    diff = runner.invoke(app, ["diff", "-s", str(example_site)])
    assert "no change" in diff.output
    # the include lines are there exactly once
    for operator, include in [("extensions.conf", "extensions_pbxctl.conf"), ("queues.conf", "queues_pbxctl.conf"), ("queuerules.conf", "queuerules_pbxctl.conf")]:
        text = (sandbox["config_dir"] / operator).read_text()
        assert text.count(f'#include "{include}"') == 1


def test_queues_are_loaded_with_strategy_members_and_penalties(applied, ami_secret):
    site = applied.site

    async def check():
        async with ami(ami_secret) as client:
            for name, queue in site.queues.items():
                reply = await client.action({"Action": "QueueStatus", "Queue": name})
                params = [m for m in reply if m.get("Event") == "QueueParams"]
                assert params, f"queue {name} missing"
                assert params[0]["Strategy"] == ENGINE_STRATEGY[queue.strategy]
                assert params[0]["ServiceLevel"] == str(queue.service_level)
                members = {m["Location"]: m for m in reply if m.get("Event") == "QueueMember"}
                expected = {
                    agent_interface(site, site.agents[mem.agent]): str(penalty_for(queue, mem))
                    for mem in queue.members
                    if site.agents[mem.agent].login == "static"
                }
                assert {loc: m["Penalty"] for loc, m in members.items()} == expected
                for loc, m in members.items():
                    assert m["Membership"] == "static"

    run(check())
    # escalating: the penalty rule is loaded with its steps
    rules = sandbox_rx("queue show rules")
    assert "Rule: pbxctl-support" in rules
    assert "After 30 seconds, adjust QUEUE_MAX_PENALTY to 1" in rules
    assert "After 60 seconds, adjust QUEUE_MAX_PENALTY to 2" in rules
    show = sandbox_rx("queue show support")
    assert "'ringall' strategy" in show and "within 30s" in show


def test_ring_time_and_wrapup_as_asterisk_parses_them(applied, ami_secret):
    """app_queue does not report ring time or wrap-up in its status; GetConfig returns them
    as Asterisk's own config parser reads the generated file."""
    site = applied.site

    async def check():
        async with ami(ami_secret) as client:
            reply = (await client.action({"Action": "GetConfig", "Filename": "queues_pbxctl.conf"}))[0]
            assert reply["Response"] == "Success"
            return reply

    reply = run(check())
    categories = {v: k.split("-")[1] for k, v in reply.items() if k.startswith("Category-")}
    lines = {}
    for key, value in reply.items():
        if key.startswith("Line-"):
            _, cat, _ = key.split("-")
            name, _, val = value.partition("=")
            lines.setdefault(cat, {})[name.strip()] = val.strip()
    for name, queue in site.queues.items():
        cat = categories[name]
        assert lines[cat]["timeout"] == str(queue.ring_time)
        assert lines[cat]["wrapuptime"] == str(queue.wrapup)
        assert lines[cat]["retry"] == str(queue.retry)


def test_entry_numbers_and_ivr_contexts_are_in_the_dialplan(applied, ami_secret):
    site = applied.site

    async def check():
        async with ami(ami_secret) as client:
            entries = await client.action({"Action": "ShowDialPlan", "Context": "pbxctl-entries"})
            assert {m.get("Extension") for m in entries if m.get("Event") == "ListDialplan"} >= set(site.entries)
            for ivr_name, ivr in site.ivrs.items():
                reply = await client.action({"Action": "ShowDialPlan", "Context": f"pbxctl-ivr-{ivr_name}"})
                assert reply[0]["Response"] == "Success", reply[0]
                assert {m.get("Extension") for m in reply if m.get("Event") == "ListDialplan"} == set(ivr.elements)

    run(check())


def test_fails_open_to_the_fallback_when_the_service_is_down(applied, ami_secret):
    """No FastAGI service runs: a call to the main number must reach the fallback queue."""

    async def call():
        async with EventRecorder(ami_secret) as rec:
            action_id = f"t-{uuid.uuid4().hex[:8]}"
            await rec.send(
                {
                    "Action": "Originate",
                    "ActionID": action_id,
                    "Channel": "Local/200@pbxctl-entries",
                    "Application": "Wait",
                    "Data": "20",
                    "CallerID": "Tester <+4722334400>",
                    "Async": "true",
                }
            )
            joined = await rec.wait_for(lambda e: e.get("Event") == "QueueCallerJoin", timeout=20)
            await rec.send({"Action": "Hangup", "Channel": joined["Channel"]})
            await rec.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == joined["Channel"])
            return joined, rec.events

    joined, events = run(call())
    assert joined["Queue"] == "support"  # pbx.fallback of the example
    # the AGI never ran a command: nothing listened on the FastAGI port
    assert not [e for e in events if e.get("Event") == "AGIExecStart"]


def test_failed_reload_restores_the_previous_files(applied, sandbox, example_site, ami_secret, tmp_path):
    """An AMI user that may not run commands makes the reload fail: the previous files
    must come back, byte for byte, and Asterisk keep the previous dialplan."""
    config_dir = sandbox["config_dir"]
    before = {p.name: p.read_bytes() for p in config_dir.glob("*.conf")}
    user_file = config_dir / "manager.d" / "pbxctl_test_readonly.conf"
    user_file.write_text(f"[pbxctl-ro]\nsecret = {ami_secret}\nread = all\nwrite = call\npermit = 127.0.0.1/255.255.255.255\n")
    shutil.chown(user_file, *(lambda st: (st.st_uid, st.st_gid))((config_dir / "manager.conf").stat()))
    sandbox_rx("manager reload")
    try:
        changed = example_site.read_text().replace("ring_time: 12", "ring_time: 13")
        example_site.write_text(changed)
        loaded = load_site(example_site)
        assert any(c.changed for c in plan_asterisk(loaded, config_dir))

        async def attempt():
            async with ami(ami_secret, "pbxctl-ro") as client:
                await apply_asterisk(loaded, config_dir, client)

        with pytest.raises(ApplyError) as info:
            run(attempt())
        assert "restored" in str(info.value)
        assert {p.name: p.read_bytes() for p in config_dir.glob("*.conf")} == before
    finally:
        user_file.unlink()
        sandbox_rx("manager reload")


def test_refuses_to_replace_a_file_pbxctl_did_not_write(example_site, tmp_path):
    config = tmp_path / "etc"
    config.mkdir()
    (config / "extensions.conf").write_text("[general]\n")
    (config / "queues_pbxctl.conf").write_text("[myqueue]\nstrategy=ringall\n")
    result = runner.invoke(app, ["apply", "-s", str(example_site), "--config-dir", str(config), "--no-reload"])
    assert result.exit_code == 1
    assert "was not written by pbxctl" in result.output
    assert (config / "queues_pbxctl.conf").read_text() == "[myqueue]\nstrategy=ringall\n"
    assert (config / "extensions.conf").read_text() == "[general]\n"
