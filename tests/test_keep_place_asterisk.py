"""Keep my place on the sandbox Asterisk (issue 13, item 2).

tests/sites/queues.yaml plus q_keep (one agent, a5, paused while callers gather; keep-place
key 5, a one-beep prompt) is applied to the sandbox. Callers are Local channels into
queue:q_keep (tests/helpers/queue_calls.py) that press keys by AMI PlayDTMF on their
other half; the customer who is called back is one of tests/test_callbacks_asterisk.py's
test customers (AstDB says it answers and presses 1). After each test no channel of
ours is left (CoreShowChannels).

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.controller_harness import Service, free_port, pbxctl
from helpers.queue_calls import DB_FAMILY, Call, Lab, TimedRecorder
from helpers.sandbox import applied_test_site
from helpers.site_files import point_at_sandbox
from test_callbacks_asterisk import CUSTOMERS_CONTEXT, install_dialplans

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "queues.yaml"
QUEUE = "q_keep"
KEEP_QUEUE = f"""
  {QUEUE}:
    strategy: ring_all
    members:
      - {{agent: a5}}
    ring_time: 1
    retry: 1
"""
HOLD = "@pbxctl-keep-place-hold-"


@pytest.fixture(scope="module")
def keep_site(sandbox, tmp_path_factory):
    directory = tmp_path_factory.mktemp("keep_place")
    site_file = directory / "keep.yaml"
    text = point_at_sandbox(SITE.read_text(), sandbox).replace("\nqueues:\n", "\nqueues:\n" + KEEP_QUEUE, 1)
    text = text.replace("    outbound_context: pbxctl-test-exit\n",
                        "    outbound_context: pbxctl-test-exit\n"
                        f"    fastagi: {{host: 127.0.0.1, port: {free_port()}}}\n")
    text += f"""
callbacks:
  outbound:
    context: {CUSTOMERS_CONTEXT}
    allowed: ["+4755XXXXXXX"]
  queues:
    {QUEUE}: {{keep_place_key: "5", keep_place_prompt: beep, min_wait: 1h, ring_time: 5, attempts: 2}}
storage: {{url: 'sqlite:///{directory / "keep.db"}', node: sandbox}}
service: {{host: 127.0.0.1, port: {free_port()}}}
"""
    site_file.write_text(text)
    with applied_test_site(sandbox, site_file, install_dialplans, DB_FAMILY) as loaded:
        yield site_file, loaded.site


@pytest.fixture(scope="module")
def keep_service(keep_site):
    service = Service(keep_site[0]).start()
    try:
        yield service
    finally:
        service.stop()


def api(service: Service, path: str):
    with urllib.request.urlopen(service.http + path, timeout=5) as reply:
        return json.loads(reply.read())


async def press(lab: Lab, call: Call, digits: str) -> None:
    """The caller presses keys: DTMF into the half of the caller that runs the dialplan."""
    other = call.channel[:-1] + "1"
    for digit in digits:
        reply = await lab.rec.action({"Action": "PlayDTMF", "Channel": other, "Digit": digit, "Duration": "120"})
        assert reply[0].get("Response") == "Success", reply
        await asyncio.sleep(0.25)


async def reaches(lab: Lab, call: Call, application: str, context: str = "pbxctl-keep-place", timeout: float = 10) -> dict:
    return await lab.rec.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Channel") == call.channel
                                  and e.get("Context") == context and e.get("Application") == application, timeout)


async def keeps_place(lab: Lab, call: Call, digits: str = "1#") -> None:
    """The caller presses the key, confirms (1: the own number), and hangs up."""
    await press(lab, call, "5")
    await reaches(lab, call, "Read")
    await press(lab, call, digits)
    await lab.rec.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == call.channel, 10)


async def three_wait(lab: Lab) -> list[Call]:
    """The agent paused, three callers join q_keep one after the other."""
    await lab.pause(QUEUE, "a5")
    calls = [await lab.call(QUEUE) for _ in range(3)]
    for call in calls:
        await lab.joined(call)
    return calls


async def waiting(lab: Lab) -> list[str]:
    """The channels waiting in q_keep, first first."""
    reply = await lab.rec.action({"Action": "QueueStatus", "Queue": QUEUE})
    entries = [e for e in reply if e.get("Event") == "QueueEntry" and e.get("Queue") == QUEUE]
    return [e["Channel"] for e in sorted(entries, key=lambda e: int(e["Position"]))]


async def placeholders(lab: Lab) -> list[str]:
    reply = await lab.rec.action({"Action": "CoreShowChannels"})
    return [e["Channel"] for e in reply if e.get("Event") == "CoreShowChannel" and HOLD in e.get("Channel", "")
            and e["Channel"].endswith(";2")]


async def placeholder_waits(lab: Lab, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = [c for c in await waiting(lab) if HOLD in c]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        await asyncio.sleep(0.2)


async def left_over(lab: Lab) -> list[str]:
    """Our channels (callers, agents, customers, placeholders) still up after a moment."""
    deadline = time.monotonic() + 8
    while True:
        reply = await lab.rec.action({"Action": "CoreShowChannels"})
        ours = [e["Channel"] for e in reply if e.get("Event") == "CoreShowChannel" and (
            "@pbxctl-test-" in e["Channel"] or e["Channel"].startswith(f"Local/{QUEUE}@") or HOLD in e["Channel"])]
        if not ours or time.monotonic() > deadline:
            return ours
        await asyncio.sleep(0.2)


async def clean_up(lab: Lab, site_file: Path) -> None:
    """Nothing held any more (so no placeholder comes back), nothing left up."""
    listed = pbxctl("callbacks", "list", "--format", "json", "--status", "in_progress", "-s", str(site_file))
    for entry in json.loads(listed.stdout or '{"callbacks": []}')["callbacks"]:
        pbxctl("callbacks", "close", str(entry["id"]), "--by", "test", "--why", "test over", "-s", str(site_file))
    await lab.pause(QUEUE, "a5", paused=False)
    await lab.hang_up_leftovers()
    for channel in await placeholders(lab):
        await lab.rec.send({"Action": "Hangup", "Channel": channel})
    await lab.rings()


def test_the_service_down_when_the_key_is_pressed_puts_the_caller_back_at_their_place(keep_site, ami_secret):
    """Nothing answers the keep_place AGI (the service is not running): the caller hears
    why and is back in the queue where they were, ahead of those who came later."""
    site_file, site = keep_site

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            try:
                a, b, c = await three_wait(lab)
                await press(lab, b, "5")
                await reaches(lab, b, "Read")
                await press(lab, b, "1#")
                prompt = await reaches(lab, b, "Playback", context="pbxctl-keep-place")
                again = await rec.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Channel") == b.channel
                                           and e["_t"] > prompt["_t"], 10)
                order = await waiting(lab)
                await lab.pause(QUEUE, "a5", paused=False)
                await lab.hang_up_leftovers()
                return prompt, again, order, [a.channel, b.channel, c.channel], await left_over(lab)
            finally:
                await clean_up(lab, site_file)

    prompt, again, order, (a, b, c), left = asyncio.run(scenario())
    assert prompt["AppData"] == "im-sorry&cannot-complete-as-dialed"
    assert again["Position"] == "2" and again["Queue"] == QUEUE
    assert order == [a, b, c]
    assert left == []


def connected(events: list[dict]) -> list[str]:
    return [e["Channel"] for e in events if e.get("Event") == "AgentConnect" and e.get("Queue") == QUEUE]


def test_a_caller_who_keeps_their_place_is_called_back_in_turn(keep_site, keep_service, ami_secret):
    """A, B, C wait; B presses 5 and confirms the own number. One agent frees up three
    times: A, then B's placeholder (the agent hears B's number, B is dialled and presses
    1), then C."""
    site_file, site = keep_site

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            start = len(rec.events)
            try:
                a, b, c = await three_wait(lab)
                await rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": "47" + b.number, "Val": "accept:2"})
                await keeps_place(lab, b)
                holder = await placeholder_waits(lab)
                order = await waiting(lab)
                # the agent frees up: A talks 1 s, the callback long enough for the number and the accept
                await lab.answers("a5", talk=1)
                await lab.pause(QUEUE, "a5", paused=False)
                await rec.wait_for(lambda e: e.get("Event") == "AgentConnect" and e.get("Channel") == a.channel, 10, start)
                await lab.answers("a5", talk=14)
                await rec.wait_for(lambda e: e.get("Event") == "AgentConnect" and e.get("Channel") == holder, 20, start)
                await lab.answers("a5", talk=1)
                await rec.wait_for(lambda e: e.get("Event") == "AgentComplete" and e.get("Channel") == c.channel, 45, start)
                return [a.channel, holder, c.channel], order, rec.events[start:], b.number, await left_over(lab)
            finally:
                await clean_up(lab, site_file)

    (a, holder, c), order, events, number, left = asyncio.run(scenario())
    assert order == [a, holder, c]
    assert connected(events) == [a, holder, c]
    said = [e["AppData"] for e in events if e.get("Event") == "Newexten" and e.get("Application") == "SayDigits"]
    assert said == [number]
    asked = [e["AppData"] for e in events if e.get("Event") == "Newexten" and e.get("Context") == "pbxctl-callback-accept"
             and e.get("Application") == "Read"]
    assert asked == ["PBXCTL_ACCEPT,vm-press&digits/1,1,,2,5"]
    assert any(e.get("UserEvent") == "PbxctlTestCustomer" and e.get("Number") == "+47" + number for e in events)
    entries = [e for e in api(keep_service, f"/api/callbacks?queue={QUEUE}&status=all")["callbacks"] if e["number"] == "+47" + number]
    assert [(e["source"], e["status"], e["agent"], e["last_result"]) for e in entries] == [("keep_place", "answered", "a5", "answered")]
    assert left == []


def test_a_lost_placeholder_comes_back_at_its_place_and_a_restarted_service_makes_no_second(keep_site, keep_service, ami_secret):
    """A, B, C wait; B keeps their place. The service restarts: the placeholder still in
    Asterisk is recognised, not doubled. A gives up and the placeholder is lost (hung up):
    it is made again, now first (nobody who joined before B is waiting), ahead of C. C then
    presses the key and hangs up while confirming: C's own number is listed as a request."""
    site_file, site = keep_site

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            try:
                a, b, c = await three_wait(lab)
                await keeps_place(lab, b)
                first = await placeholder_waits(lab)
                await asyncio.to_thread(keep_service.stop)
                await asyncio.to_thread(keep_service.start)
                await asyncio.sleep(2 * 2.0 + 0.5)  # two of the keeper's ticks
                after_restart = await placeholders(lab)
                start = len(rec.events)
                await lab.hang_up(a)
                await rec.send({"Action": "Hangup", "Channel": first})
                again = await rec.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and HOLD in e.get("Channel", ""),
                                           10, start)
                order = await waiting(lab)
                await press(lab, c, "5")
                await reaches(lab, c, "Read")
                await lab.hang_up(c)
                listed = await asyncio.to_thread(pbxctl, "callbacks", "list", "--format", "json", "-s", str(site_file))
                return first, after_restart, again, order, [c.channel], b.number, c.number, json.loads(listed.stdout)
            finally:
                await clean_up(lab, site_file)
                left = await left_over(lab)
                assert left == []

    first, after_restart, again, order, (c,), b_number, c_number, listed = asyncio.run(scenario())
    assert after_restart == [first]
    assert again["Position"] == "1" and again["Channel"] != first
    assert order == [again["Channel"], c]
    by_number = {e["number"]: e for e in listed["callbacks"]}
    assert (by_number["+47" + b_number]["status"], by_number["+47" + b_number]["agent"]) == ("in_progress", None)
    assert (by_number["+47" + c_number]["status"], by_number["+47" + c_number]["source"]) == ("open", "keep_place")
