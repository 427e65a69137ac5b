"""The callback list from what the sandbox Asterisk really logs (issue 13, item 1).

tests/sites/queues.yaml, with callbacks for q_wrapup (min_wait 2 s), is applied to the
sandbox. Callers abandon and call again; the sandbox's own queue_log lines of those calls
are read into a fresh database by `pbxctl books import`, and `pbxctl callbacks list` must
show what the callers did: one entry per number, counted up, closed once the number calls
in again and is answered. After each test no channel of ours is left (CoreShowChannels).

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.controller_harness import PBXCTL, Service, free_port
from helpers.queue_calls import DB_FAMILY, Lab, TimedRecorder, install_dialplan_file, install_test_dialplan
from helpers.sandbox import applied_test_site
from helpers.site_files import point_at_sandbox

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "queues.yaml"
CALLBACKS = """
callbacks:
  outbound:
    allowed: ["+4755XXXXXXX"]
  queues:
    q_wrapup: {min_wait: 2}
"""


@pytest.fixture(scope="module")
def callback_site(sandbox, tmp_path_factory):
    directory = tmp_path_factory.mktemp("callback_site")
    site_file = directory / "queues.yaml"
    db = directory / "callbacks.db"
    site_file.write_text(point_at_sandbox(SITE.read_text(), sandbox) + CALLBACKS
                         + f"\nstorage: {{url: 'sqlite:///{db}', node: sandbox}}\n")
    with applied_test_site(sandbox, site_file, install_test_dialplan, DB_FAMILY) as loaded:
        yield site_file, loaded.site


def uniqueid_of(lab: Lab, call) -> str:
    return next(e["Uniqueid"] for e in lab.rec.events if e.get("Channel") == call.channel and e.get("Uniqueid"))


def book(sandbox, site_file: Path, ids: set[str], tmp_path: Path) -> None:
    """The sandbox's queue_log lines of these calls into the site's books."""
    queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
    lines = [line for line in queue_log.read_bytes().splitlines(keepends=True)
             if len(line.split(b"|")) > 2 and line.split(b"|")[1].decode() in ids]
    recorded = tmp_path / f"queue_log.{len(ids)}"
    recorded.write_bytes(b"".join(lines))
    done = subprocess.run([str(PBXCTL), "books", "import", str(recorded), "--site", str(site_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "0 rejected" in done.stdout, done.stderr + done.stdout


def callbacks(site_file: Path, *args: str) -> list[dict]:
    done = subprocess.run([str(PBXCTL), "callbacks", "list", "--format", "json", "-s", str(site_file), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["callbacks"]


async def abandon(lab: Lab, number: str, wait: float):
    call = await lab.call("q_wrapup", number=number)
    await lab.joined(call)
    await asyncio.sleep(wait)
    await lab.hang_up(call)
    return call


def test_abandoned_calls_make_one_entry_per_number_and_an_answered_call_closes_it(callback_site, ami_secret, sandbox, tmp_path):
    site_file, site = callback_site

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            await lab.reset("q_wrapup")
            try:
                first = await abandon(lab, "551230001", 2.5)
                again = await abandon(lab, "551230001", 2.5)
                short = await abandon(lab, "551230002", 0.2)
                assert await lab.settle() == []
                return [uniqueid_of(lab, c) for c in (first, again, short)]
            finally:
                await lab.hang_up_leftovers()

    async def calls_in_and_is_answered():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            await lab.answers("a1", talk=1)
            try:
                call = await lab.call("q_wrapup", number="551230001")
                assert await lab.answered_by(call) == "a1"
                assert await lab.settle() == []
                return uniqueid_of(lab, call)
            finally:
                await lab.hang_up_leftovers()
                await lab.rings()

    ids = asyncio.run(scenario())
    book(sandbox, site_file, set(ids), tmp_path)
    (entry,) = callbacks(site_file)
    assert (entry["queue"], entry["number"], entry["times_called"], entry["status"]) == ("q_wrapup", "+4755123000" + "1", 2, "open")
    assert entry["call_ids"] == ids[:2] and entry["source"] == "abandoned"

    answered = asyncio.run(calls_in_and_is_answered())
    book(sandbox, site_file, {*ids, answered}, tmp_path)
    assert callbacks(site_file) == []
    (closed,) = callbacks(site_file, "--status", "closed")
    assert closed["closed_by"] == "pbxctl" and answered in closed["close_reason"]
    assert closed["call_ids"] == [*ids[:2], answered]


# --- *47: an agent takes the next callback, hears the number, the customer is dialled --------

CUSTOMERS_CONTEXT = "pbxctl-test-customers"
CUSTOMERS_FILE = "extensions_pbxctl_callbacks_test.conf"
# A customer's phone, dialled as +E.164: AstDB pbxctl_test/<digits> = answer:<seconds> answers,
# talks that long and hangs up (an answering machine: it never presses a key); accept:<seconds>
# answers and presses 1; busy is busy; anything else rings until the caller gives up.
CUSTOMERS = f"""\
; Written by pbxctl's tests/test_callbacks_asterisk.py: customers who are called back.
[{CUSTOMERS_CONTEXT}]
exten => _+X.,1,NoOp(pbxctl test customer ${{EXTEN}})
 same => n,Set(MODE=${{DB({DB_FAMILY}/${{EXTEN:1}})}})
 same => n,GotoIf($["${{MODE}}" = "busy"]?busy)
 same => n,GotoIf($["${{MODE:0:7}}" = "answer:"]?answer)
 same => n,GotoIf($["${{MODE:0:7}}" = "accept:"]?accept)
 same => n,Ringing()
 same => n,Wait(300)
 same => n,Hangup()
 same => n(busy),Busy(5)
 same => n(answer),Answer()
 same => n,UserEvent(PbxctlTestCustomer,Number: ${{EXTEN}})
 same => n,Wait(${{MODE:7}})
 same => n,Hangup()
 same => n(accept),Answer()
 same => n,Wait(1)
 same => n,SendDTMF(1)
 same => n,UserEvent(PbxctlTestCustomer,Number: ${{EXTEN}})
 same => n,Wait(${{MODE:7}})
 same => n,Hangup()
"""
DESK_QUEUE = """
  q_callback:
    strategy: ring_all
    members:
      - {agent: a3}
      - {agent: a4}
    ring_time: 1
    retry: 1
  q_auto:
    strategy: ring_all
    members:
      - {agent: a6}
      - {agent: a7}
    ring_time: 1
    retry: 1
"""


def install_dialplans(config_dir: Path) -> bool:
    return install_test_dialplan(config_dir) | install_dialplan_file(config_dir, CUSTOMERS_FILE, CUSTOMERS, "callback customers")


@pytest.fixture(scope="module")
def desk_service(sandbox, tmp_path_factory):
    """The test site with q_callback (only a3, a4; callbacks after 2 s, dialled through the
    test customers) and q_auto (a6, a7; automatic), its books following the sandbox's
    queue_log, served by `pbxctl serve`."""
    directory = tmp_path_factory.mktemp("callback_desk")
    site_file = directory / "desk.yaml"
    text = point_at_sandbox(SITE.read_text(), sandbox).replace("\nqueues:\n", "\nqueues:\n" + DESK_QUEUE, 1)
    queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
    text = text.replace("    outbound_context: pbxctl-test-exit\n",
                        f"    outbound_context: pbxctl-test-exit\n    queue_log: {queue_log}\n"
                        f"    fastagi: {{host: 127.0.0.1, port: {free_port()}}}\n")
    text += f"""
callbacks:
  outbound:
    context: {CUSTOMERS_CONTEXT}
    allowed: ["+4755XXXXXXX"]
  queues:
    q_callback: {{min_wait: 2, ring_time: 5, attempts: 2}}
    q_auto: {{mode: automatic, min_wait: 2, ring_time: 5, attempts: 2, retry_interval: 30}}
storage: {{url: 'sqlite:///{directory / "desk.db"}', node: sandbox}}
service: {{host: 127.0.0.1, port: {free_port()}}}
"""
    site_file.write_text(text)
    # The sandbox's queue_log holds earlier runs' calls: this list starts now, not a day back.
    from pbxctl.storage.callback_feed import OVERLAP_S
    from pbxctl.storage.callback_list import CallbackFeedRow
    from pbxctl.storage.db import new_engine
    from sqlmodel import Session

    with Session(new_engine(f"sqlite:///{directory / 'desk.db'}")) as session:
        session.add(CallbackFeedRow(node="sandbox", source="stints", last_at=int(time.time()) + OVERLAP_S))
        session.commit()
    with applied_test_site(sandbox, site_file, install_dialplans, DB_FAMILY) as loaded:
        service = Service(site_file).start()
        try:
            yield site_file, loaded.site, service
        finally:
            service.stop()


def api(service: Service, path: str):
    with urllib.request.urlopen(service.http + path, timeout=5) as reply:
        return json.loads(reply.read())


def wait_entries(service: Service, predicate, timeout: float = 15, query: str = "?status=all") -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        entries = api(service, "/api/callbacks" + query)["callbacks"]
        if predicate(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.3)


async def dial_code(rec: TimedRecorder, extension: str, hang_up_when=None) -> list[dict]:
    """A desk phone (caller id = the agent's extension) dials *47 and stays on the line; the
    events of its call. `hang_up_when(event)`: the agent hangs up at that event."""
    start = len(rec.events)
    await rec.send({"Action": "Originate", "Channel": "Local/*47@pbxctl-features", "Application": "Wait",
                    "Data": "30", "CallerID": f"Agent <{extension}>", "Async": "true"})
    first = await rec.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Context") == "pbxctl-callback-code", 10, start)
    channel = first["Channel"]
    if hang_up_when is not None:
        await rec.wait_for(lambda e: hang_up_when(e), 15, start)
        await rec.send({"Action": "Hangup", "Channel": channel})
    await rec.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == channel, 30, start)
    return rec.events[start:]


def app_data(events: list[dict], application: str) -> list[str]:
    return [e["AppData"] for e in events if e.get("Event") == "Newexten" and e.get("Application") == application
            and e.get("Context") == "pbxctl-callback-code"]


async def channels_left(rec: TimedRecorder) -> list[str]:
    """Channels of this test (desk-phone code, customers, callers) still up, after a moment."""
    deadline = time.monotonic() + 5
    while True:
        reply = await rec.action({"Action": "CoreShowChannels"})
        ours = [e["Channel"] for e in reply if e.get("Event") == "CoreShowChannel"
                and ("@pbxctl-features" in e["Channel"] or "@pbxctl-test-" in e["Channel"] or e["Channel"].startswith("Local/q_"))]
        if not ours or time.monotonic() > deadline:
            return ours
        await asyncio.sleep(0.2)


def test_star47_takes_the_next_callback_says_the_number_and_dials_it(desk_service, ami_secret):
    site_file, site, service = desk_service
    run = f"{int(time.time()) % 100000:05d}"
    refused_number, first_number, busy_number = f"5612{run}", f"5513{run}", f"5514{run}"

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            try:
                # three customers give up; the first may not be dialled (+4756...)
                await abandon_in(lab, refused_number, 2.5)
                await abandon_in(lab, first_number, 2.5)
                await abandon_in(lab, busy_number, 2.5)
                listed = await asyncio.to_thread(wait_entries, service, lambda es: len(es) >= 3, 15, "?queue=q_callback")
                assert [e["number"] for e in listed] == ["+47" + refused_number, "+47" + first_number, "+47" + busy_number]
                await rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": "47" + first_number, "Val": "answer:4"})
                await rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": "47" + busy_number, "Val": "busy"})
                first = await dial_code(rec, "7003")
                second = await dial_code(rec, "7004")
                # an agent who hangs up while the customer's phone rings
                await rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": "47" + busy_number, "Val": "ring"})
                gone = await dial_code(rec, "7004", lambda e: e.get("Event") == "DialBegin"
                                       and "pbxctl-test-customers" in e.get("DestChannel", ""))
                nothing = await dial_code(rec, "7003")
                not_agent = await dial_code(rec, "7777")
                return first, second, gone, nothing, not_agent, await channels_left(rec)
            finally:
                await lab.hang_up_leftovers()

    first, second, gone, nothing, not_agent, left = asyncio.run(scenario())
    assert left == []
    # the number outside the allowed patterns is skipped (refused, left unanswered), the next dialled
    assert app_data(first, "SayDigits") == [first_number]
    assert any(e.get("UserEvent") == "PbxctlTestCustomer" and e.get("Number") == "+47" + first_number for e in first)
    assert app_data(second, "SayDigits") == [busy_number]
    assert app_data(nothing, "Playback") == ["vm-nomore"]
    assert app_data(not_agent, "Playback") == ["agent-incorrect"]
    entries = {e["number"]: e for e in wait_entries(
        service, lambda es: sum(e["attempts"] for e in es) >= 4, query="?queue=q_callback&status=all")}
    refused, answered, busy = (entries["+47" + n] for n in (refused_number, first_number, busy_number))
    assert (refused["status"], refused["last_result"]) == ("unanswered", "refused")
    assert (answered["status"], answered["agent"], answered["last_result"]) == ("answered", "a3", "answered")
    # busy, then the agent hung up while it rang: two attempts, the queue's last (attempts: 2)
    shown = api(service, f"/api/callbacks/{busy['id']}")
    assert [a["result"] for a in shown["attempt_list"]] == ["busy", "agent_gone"]
    assert busy["status"] == "unanswered" and busy["agent"] == "a4"
    metrics = service.metrics()
    assert 'pbxctl_callbacks_total{outcome="answered",queue="q_callback"} 1.0' in metrics
    assert 'pbxctl_callbacks_open{queue="q_callback"} 2.0' in metrics


async def abandon_in(lab: Lab, number: str, wait: float, queue: str = "q_callback"):
    call = await lab.call(queue, number=number)
    await lab.joined(call)
    await asyncio.sleep(wait)
    await lab.hang_up(call)


# --- automatic callbacks, agent first ------------------------------------------------------


async def customers_give_up(lab: Lab, service: Service, modes: dict[str, str]) -> None:
    """With q_auto's agents paused (nobody free), these customers (number: how their phone
    answers a callback) wait and give up, in this order; back once all are listed."""
    await lab.pause("q_auto", "a6", "a7")
    for number in modes:
        await abandon_in(lab, number, 2.5, "q_auto")
    wanted = ["+47" + n for n in modes]
    listed = await asyncio.to_thread(wait_entries, service, lambda es: {e["number"] for e in es} >= set(wanted),
                                     25, "?queue=q_auto")
    assert [e["number"] for e in listed if e["number"] in wanted] == wanted
    for number, mode in modes.items():
        await lab.rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": "47" + number, "Val": mode})


def customer_dials(events: list[dict]) -> list[tuple[float, str]]:
    return [(e["_t"], e["DestChannel"].split("/")[1].split("@")[0]) for e in events
            if e.get("Event") == "DialBegin" and CUSTOMERS_CONTEXT in e.get("DestChannel", "")]


def test_automatic_callbacks_ring_the_free_agent_first_and_count_only_an_accepted_call(desk_service, ami_secret):
    site_file, site, service = desk_service
    run = f"{int(time.time()) % 100000:05d}"
    accepting, machine = f"5515{run}", f"5516{run}"

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            start = len(rec.events)
            try:
                await customers_give_up(lab, service, {accepting: "accept:2", machine: "answer:30"})
                await lab.answers("a6", talk=40)
                # one agent free: exactly one callback at a time
                await lab.pause("q_auto", "a6", paused=False)
                entries = await asyncio.to_thread(wait_entries, service, lambda es: all(
                    e["status"] != "open" or e["attempts"] >= 2 for e in es) and sum(e["attempts"] for e in es) >= 3,
                    120, "?queue=q_auto&status=all")
                left = await channels_left(rec)
                return entries, rec.events[start:], left
            finally:
                await lab.pause("q_auto", "a6", "a7", paused=False)
                await lab.hang_up_leftovers()
                await lab.rings()

    entries, events, left = asyncio.run(scenario())
    assert left == []
    by_number = {e["number"]: e for e in entries}
    good, robot = by_number["+47" + accepting], by_number["+47" + machine]
    assert (good["status"], good["agent"], good["last_result"], good["attempts"]) == ("answered", "a6", "answered", 1)
    # the machine answered twice (30 s apart) and never pressed 1: unanswered after the last attempt
    shown = api(service, f"/api/callbacks/{robot['id']}")
    assert [a["result"] for a in shown["attempt_list"]] == ["not_accepted", "not_accepted"]
    assert robot["status"] == "unanswered"
    dials = customer_dials(events)
    assert [n for _, n in dials] == ["+47" + accepting, "+47" + machine, "+47" + machine]
    # never two at once: each customer was dialled after the one before had hung up
    hangups = {e["Channel"]: e["_t"] for e in events if e.get("Event") == "Hangup"}
    begins = [e for e in events if e.get("Event") == "DialBegin" and CUSTOMERS_CONTEXT in e.get("DestChannel", "")]
    for earlier, later in zip(begins, begins[1:]):
        assert hangups[earlier["DestChannel"]] <= later["_t"]
    # the retry comes retry_interval (30 s) after the failed attempt ended, plus the agent's ring and the number said
    assert 30 <= begins[2]["_t"] - hangups[begins[1]["DestChannel"]] <= 40


# --- restarts with callbacks pending ----------------------------------------------------------

SANDBOX = Path(__file__).resolve().parents[1] / "scripts" / "asterisk-sandbox"


def stop_with_sigterm(service: Service) -> None:
    service.proc.send_signal(signal.SIGTERM)
    service.proc.wait(15)
    service.proc = None
    service.log.close()


async def customer_hangs_up(rec: TimedRecorder, number: str, start: int) -> None:
    customer = (await rec.wait_for(lambda e: e.get("Event") == "DialBegin" and number in e.get("DestChannel", ""),
                                   30, start))["DestChannel"]
    await rec.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == customer, 20, start)


def test_restarts_of_the_service_and_of_asterisk_dial_each_pending_callback_once(desk_service, ami_secret, sandbox):
    """Two customers gave up (q_auto, automatic). The first is called back and the service
    is stopped (SIGTERM) while they talk: the call ends, and its hangup handler writes the
    result, while the service is down. Started again, the service books that result
    (answered, from queue_log) and starts the second customer's callback; Asterisk is
    restarted while the agent's phone rings for it. After recovery the second customer is
    called back once, answers and hangs up at once (not accepted); the interrupted ring
    counts no attempt."""
    site_file, site, service = desk_service
    run = f"{int(time.time()) % 100000:05d}"
    talker, quick = f"5517{run}", f"5518{run}"
    mine = ["+47" + talker, "+47" + quick]

    async def before_the_asterisk_restart():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            start = len(rec.events)
            await customers_give_up(lab, service, {talker: "accept:3", quick: "answer:0"})
            await lab.answers("a6", talk=40)
            await lab.pause("q_auto", "a6", paused=False)
            await rec.wait_for(lambda e: e.get("UserEvent") == "PbxctlTestCustomer"
                               and e.get("Number") == "+47" + talker, 30, start)
            await asyncio.to_thread(stop_with_sigterm, service)
            await customer_hangs_up(rec, talker, start)  # with the service down: queue_log only
            await lab.rings("a6")
            restarting = len(rec.events)
            await asyncio.to_thread(service.start)
            # the second callback starts: the agent's phone rings (Originate into [pbxctl-callback-auto])
            await rec.wait_for(lambda e: e.get("Event") == "Newchannel"
                               and "7006@pbxctl-test-agents" in e.get("Channel", ""), 30, restarting)
            # the agents answer from now on (the ringing phone keeps ringing)
            await lab.answers("a6", talk=40)
            await lab.answers("a7", talk=40)
            return customer_dials(rec.events[start:])

    async def after_the_asterisk_restart():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            start = len(rec.events)
            try:
                await customer_hangs_up(rec, quick, start)
                entries = await asyncio.to_thread(wait_entries, service, lambda es: sum(
                    e["attempts"] for e in es if e["number"] in mine) >= 2, 20, "?queue=q_auto&status=all")
                await lab.pause("q_auto", "a6", "a7")
                return entries, customer_dials(rec.events[start:]), await channels_left(rec)
            finally:
                await lab.pause("q_auto", "a6", "a7", paused=False)
                await lab.hang_up_leftovers()
                await lab.rings()

    before = asyncio.run(before_the_asterisk_restart())
    resyncs = service.status()["ami"]["resyncs"]
    restarted = subprocess.run([str(SANDBOX), "restart"], capture_output=True, text=True, timeout=180)
    assert restarted.returncode == 0, restarted.stderr
    service.wait(lambda d: d["ami"]["up"] and d["ami"]["resyncs"] > resyncs, 60, "resync after the restart")
    entries, after, left = asyncio.run(after_the_asterisk_restart())
    assert left == []
    by_number = {e["number"]: e for e in entries}
    good, hung_up = (api(service, f"/api/callbacks/{by_number[n]['id']}") for n in mine)
    # the result written while the service was down: one answered attempt, by the agent
    assert (good["status"], good["agent"], [a["result"] for a in good["attempt_list"]]) == ("answered", "a6", ["answered"])
    assert good["attempt_list"][0]["call_id"].startswith("pbxctl-cb-")
    # the customer who answered and hung up at once (bad input): not accepted, not answered;
    # the ring Asterisk's restart cut off is no attempt
    assert [a["result"] for a in hung_up["attempt_list"]] == ["not_accepted"]
    # each customer dialled once: the first before, the second after the restarts
    assert [n for _, n in before] == ["+47" + talker] and [n for _, n in after] == ["+47" + quick]
    # its retry (30 s on) is not this test's: the entry is closed
    closing = urllib.request.Request(service.http + f"/api/callbacks/{hung_up['id']}/close", method="POST",
                                     data=json.dumps({"by": "test", "why": "done"}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(closing, timeout=5).close()
