"""The queue/agent controller against the real sandbox Asterisk, run as the operator runs
it (`pbxctl serve asterisk`, `pbxctl agent ...`, `pbxctl status --json`), with AMI behind a
proxy the tests cut, freeze and refuse, and one real Asterisk restart.

What Asterisk itself says (`queue show`, AMI QueueStatus) is the reference every time."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import time

import pytest

from helpers.sandbox import SANDBOX, sandbox_rx
from helpers.controller_harness import AmiProxy, Service, controller_site, pbxctl
from pbxctl.asterisk.ami_events import EventRecorder

pytestmark = pytest.mark.asterisk

DYNAMIC = "PJSIP/1004"  # lars, login: dynamic, member of support with priority 1


def queue_show(queue: str) -> dict[str, dict]:
    """Members of `queue` as Asterisk's own `queue show` prints them."""
    out = sandbox_rx(f"queue show {queue}")
    members: dict[str, dict] = {}
    section = ""
    for line in out.splitlines():
        if line.strip().endswith(":"):
            section = line.strip()
            continue
        # "Lars Johansen (PJSIP/1004) (ringinuse disabled) (dynamic) (paused:lunch was 3 secs ago) ..."
        # (" from STATE" after the interface only when the state interface differs)
        m = re.match(r"\s+(.+?) \((\S+?)(?: from (\S+))?\)(.*)$", line)
        if section != "Members:" or not m:
            continue
        rest = m.group(4)
        paused = re.search(r"\(paused(?::([^)]*?))? was", rest)
        members[m.group(2)] = {
            "name": m.group(1),
            "dynamic": "(dynamic)" in rest,
            "paused": paused is not None,
            "reason": (paused.group(1) or "") if paused else "",
        }
    return members


def callers_waiting(queue: str) -> int:
    m = re.search(r"has (\d+) calls?", sandbox_rx(f"queue show {queue}"))
    assert m, sandbox_rx(f"queue show {queue}")
    return int(m.group(1))


def reset_members() -> None:
    """Earlier tests (or runs) may have left lars logged in or agents paused."""
    for queue in ("support", "sales_east", "sales_west"):
        for iface, member in queue_show(queue).items():
            if member["dynamic"]:
                sandbox_rx(f"queue remove member {iface} from {queue}")
            elif member["paused"]:
                sandbox_rx(f"queue unpause member {iface} queue {queue}")


def status_members(doc: dict, queue: str) -> dict[str, dict]:
    out = {}
    for agent in doc["agents"]:
        for q in agent["queues"]:
            if q["queue"] == queue and q["member"]:
                out[agent["agent"]] = q
    return out


def assert_status_matches_asterisk(doc: dict) -> None:
    """Every queue: the members pbxctl shows are those `queue show` lists, paused alike."""
    interfaces = {"kari": "PJSIP/1001", "ola": "PJSIP/1002", "ingrid": "PJSIP/1003", "lars": "PJSIP/1004", "mina": "PJSIP/1005", "erik": "PJSIP/1006"}
    for q in doc["queues"]:
        shown = queue_show(q["name"])
        mine = status_members(doc, q["name"])
        assert {interfaces[a] for a in mine} == set(shown), (q["name"], mine, shown)
        for agent, member in mine.items():
            assert member["paused"] == shown[interfaces[agent]]["paused"], (q["name"], agent)
            assert member["reason"] == shown[interfaces[agent]]["reason"], (q["name"], agent)
        assert q["agents"]["logged_in"] == len(shown)
        assert q["waiting"] == callers_waiting(q["name"])


@pytest.fixture
def proxy():
    p = AmiProxy().start()
    yield p
    p.stop()


@pytest.fixture
def site(example_site, tmp_path, proxy):
    site = controller_site(example_site, tmp_path, proxy.port)
    applied = pbxctl("apply", "-s", str(site), timeout=60)
    assert applied.returncode == 0, applied.stderr
    reset_members()
    return site


@pytest.fixture
def service(site):
    svc = Service(site).start()
    yield svc
    svc.stop()


def agent(site, *args: str) -> subprocess.CompletedProcess:
    return pbxctl("agent", *args, "-s", str(site))


def test_login_pause_unpause_logout_from_the_cli_match_queue_show(service, site):
    done = agent(site, "login", "lars")
    assert done.returncode == 0, done.stderr
    assert "PJSIP/1004 logged in to support" in done.stdout
    member = queue_show("support")[DYNAMIC]
    assert member["dynamic"] and member["name"] == "Lars Johansen" and not member["paused"]

    assert agent(site, "pause", "lars", "--reason", "lunch").returncode == 0
    assert queue_show("support")[DYNAMIC]["paused"] and queue_show("support")[DYNAMIC]["reason"] == "lunch"
    doc = service.wait(lambda d: status_members(d, "support").get("lars", {}).get("paused"), 5, "lars paused in status")
    lars = next(a for a in doc["agents"] if a["agent"] == "lars")
    assert lars["state"] == "paused" and lars["pause_reason"] == "lunch"
    assert_status_matches_asterisk(doc)

    # The operator's view: the CLI tables and the JSON document say the same.
    table = pbxctl("agents", "-s", str(site))
    assert table.returncode == 0, table.stderr
    assert re.search(r"lars\s+│\s+1004\s+│\s+paused", table.stdout) and "lunch" in table.stdout
    queues = pbxctl("queues", "-s", str(site), "--json")
    assert queues.returncode == 0
    import json

    doc = json.loads(queues.stdout)
    assert [q["name"] for q in doc["queues"]] == ["sales_east", "sales_west", "support"]
    assert next(q for q in doc["queues"] if q["name"] == "support")["agents"]["paused"] == 1

    assert agent(site, "unpause", "lars").returncode == 0
    assert not queue_show("support")[DYNAMIC]["paused"]
    again = agent(site, "login", "lars")
    assert again.returncode == 0 and "nothing to change" in again.stdout

    assert agent(site, "logout", "lars").returncode == 0
    assert DYNAMIC not in queue_show("support")
    doc = service.wait(lambda d: "lars" not in status_members(d, "support"), 5, "lars gone from status")
    assert next(a for a in doc["agents"] if a["agent"] == "lars")["state"] == "logged_out"
    assert_status_matches_asterisk(doc)

    rows = sqlite3.connect(site.parent / "pbxctl.db").execute(
        "select agent, queue, logged_in, paused from agent_memberships"
    ).fetchall()
    assert ("lars", "support", 0, 0) in rows


def test_static_agent_pause_in_one_queue(service, site):
    done = agent(site, "pause", "kari", "--queue", "sales_west", "--reason", "training")
    assert done.returncode == 0, done.stderr
    assert queue_show("sales_west")["PJSIP/1001"]["paused"]
    assert queue_show("sales_west")["PJSIP/1001"]["reason"] == "training"
    assert not queue_show("sales_east")["PJSIP/1001"]["paused"]
    assert_status_matches_asterisk(service.wait(lambda d: status_members(d, "sales_west")["kari"]["paused"], 5, "kari paused"))
    assert agent(site, "unpause", "kari").returncode == 0
    assert not queue_show("sales_west")["PJSIP/1001"]["paused"]


def test_cli_errors_name_what_is_wrong(site):
    # No service running yet: said so, exit 1, quickly.
    started = time.monotonic()
    down = agent(site, "login", "lars")
    assert down.returncode == 1 and "not answering" in down.stderr and "pbxctl serve asterisk" in down.stderr
    assert time.monotonic() - started < 10
    unknown = agent(site, "login", "nobody")
    assert unknown.returncode == 1 and "unknown agent 'nobody'" in unknown.stderr
    wrong_queue = agent(site, "login", "lars", "--queue", "sales")
    assert wrong_queue.returncode == 1 and "unknown queue 'sales'" in wrong_queue.stderr
    not_member = agent(site, "pause", "lars", "--queue", "sales_east")
    assert not_member.returncode == 1 and "not a member of queue 'sales_east'" in not_member.stderr


def test_static_logout_is_refused_by_the_service(service, site):
    refused = agent(site, "logout", "kari")
    assert refused.returncode == 1 and "static member" in refused.stderr
    assert "PJSIP/1001" in queue_show("sales_east")


async def _dial_code(secret: str, code: str, caller: str) -> list[dict]:
    """A desk phone (caller id = extension) dials a feature code; the AMI events of it.
    The phone's side waits up to 10 s, as a person listening for the prompt would. With a
    1 s wait, in two full runs the service answered the AGI after the phone had hung up: the
    login was done, but the prompt was never played."""
    async with EventRecorder(secret) as rec:
        await rec.send({
            "Action": "Originate", "Channel": f"Local/{code}@pbxctl-features", "Application": "Wait", "Data": "10",
            "CallerID": f"Agent <{caller}>", "Async": "true",
        })
        played = await rec.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "Playback" and e.get("Context") == "pbxctl-agent-code", 10)
        await rec.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == played["Channel"], 15)
        return list(rec.events)


def _played(events: list[dict]) -> list[str]:
    return [e["AppData"] for e in events if e.get("Event") == "Newexten" and e.get("Application") == "Playback"]


def test_desk_phone_codes_toggle_login_and_pause(service, site, ami_secret):
    events = asyncio.run(_dial_code(ami_secret, "*45", "1004"))
    assert _played(events) == ["agent-loginok"]
    assert queue_show("support")[DYNAMIC]["dynamic"]

    events = asyncio.run(_dial_code(ami_secret, "*46", "1004"))
    assert _played(events) == ["dictate/paused"]
    assert queue_show("support")[DYNAMIC]["paused"]
    events = asyncio.run(_dial_code(ami_secret, "*46", "1004"))
    assert _played(events) == ["beep"]
    assert not queue_show("support")[DYNAMIC]["paused"]

    events = asyncio.run(_dial_code(ami_secret, "*45", "1004"))
    assert _played(events) == ["agent-loggedoff"]
    assert DYNAMIC not in queue_show("support")

    # Static agents cannot log out; a phone that is no agent's is told so.
    assert _played(asyncio.run(_dial_code(ami_secret, "*45", "1001"))) == ["feature-not-avail-line"]
    assert _played(asyncio.run(_dial_code(ami_secret, "*45", "7777"))) == ["agent-incorrect"]
    rows = sqlite3.connect(site.parent / "pbxctl.db").execute(
        "select agent, logged_in, source from agent_memberships where agent = 'lars'"
    ).fetchall()
    assert rows == [("lars", 0, "phone")]


def test_desk_phone_code_without_the_service_says_it_failed(site, ami_secret):
    events = asyncio.run(_dial_code(ami_secret, "*45", "1004"))
    assert _played(events) == ["im-sorry&cannot-complete-as-dialed"]
    assert DYNAMIC not in queue_show("support")


def test_cut_link_reconnects_resyncs_and_reapplies(service, site, proxy):
    assert agent(site, "login", "lars").returncode == 0
    proxy.refuse()
    proxy.cut()
    service.wait(lambda d: not d["ami"]["up"], 5, "the link seen down")
    # While it is down: commands fail at once and say why; nothing is changed.
    started = time.monotonic()
    down = agent(site, "pause", "kari")
    assert down.returncode == 1 and "AMI link" in down.stderr and "down" in down.stderr
    assert time.monotonic() - started < 10
    assert not queue_show("sales_east")["PJSIP/1001"]["paused"]
    # Meanwhile someone removes lars behind pbxctl's back (no event reaches it).
    sandbox_rx(f"queue remove member {DYNAMIC} from support")
    proxy.restore()
    doc = service.wait(lambda d: d["ami"]["up"] and d["ami"]["resyncs"] >= 2, 40, "reconnect and resync")
    assert doc["ami"]["reconnects"] >= 1
    # pbxctl still wants lars logged in: the resync put him back.
    assert queue_show("support")[DYNAMIC]["dynamic"]
    assert_status_matches_asterisk(service.wait(lambda d: "lars" in status_members(d, "support"), 5, "lars back"))


def test_half_open_link_is_detected_by_the_keepalive(service, site, proxy):
    proxy.freeze()  # no FIN, no RST: only a missing Pong tells
    started = time.monotonic()
    service.wait(lambda d: not d["ami"]["up"], 10, "the frozen link seen down")
    assert time.monotonic() - started < 6  # keepalive 1 s + timeout 1 s, with slack
    assert "Pong" in service.status()["ami"]["detail"] or "connect" in service.status()["ami"]["detail"]
    proxy.restore()
    service.wait(lambda d: d["ami"]["up"], 40, "the link back up")
    assert_status_matches_asterisk(service.status())


def test_asterisk_restart_gets_agents_state_back(service, site):
    assert agent(site, "login", "lars").returncode == 0
    assert agent(site, "pause", "kari", "--queue", "sales_east", "--reason", "meeting").returncode == 0
    resyncs = service.status()["ami"]["resyncs"]
    restarted = subprocess.run([str(SANDBOX), "restart"], capture_output=True, text=True, timeout=180)
    assert restarted.returncode == 0, restarted.stderr
    service.wait(lambda d: d["ami"]["up"] and d["ami"]["resyncs"] > resyncs, 60, "resync after the restart")
    # A static member's pause does not survive an Asterisk restart by itself: pbxctl re-applied it.
    kari = queue_show("sales_east")["PJSIP/1001"]
    assert kari["paused"] and kari["reason"] == "meeting"
    assert queue_show("support")[DYNAMIC]["dynamic"]
    assert_status_matches_asterisk(service.wait(lambda d: status_members(d, "sales_east")["kari"]["paused"], 10, "kari paused"))


async def _wait_in_queue(secret: str, queue: str, caller: str, service: Service):
    async with EventRecorder(secret) as rec:
        await rec.send({
            "Action": "Originate", "Channel": f"Local/{queue}@pbxctl-queue", "Application": "Wait", "Data": "60",
            "CallerID": f"Customer <{caller}>", "Async": "true",
        })
        join = await rec.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Queue") == queue, 15)
        doc = await asyncio.to_thread(service.wait, lambda d: next(q for q in d["queues"] if q["name"] == queue)["waiting"] == 1, 5, "the caller in status")
        metrics = await asyncio.to_thread(service.metrics)
        shown = await asyncio.to_thread(callers_waiting, queue)
        await asyncio.sleep(1.2)
        await rec.send({"Action": "Hangup", "Channel": join["Channel"]})
        await rec.wait_for(lambda e: e.get("Event") == "QueueCallerAbandon" and e.get("Queue") == queue, 10)
        return doc, metrics, shown


def test_waiting_caller_and_abandon_in_status_metrics_and_books(service, site, ami_secret):
    doc, metrics, shown = asyncio.run(_wait_in_queue(ami_secret, "support", "+4722334455", service))
    support = next(q for q in doc["queues"] if q["name"] == "support")
    assert shown == 1 and support["waiting"] == 1
    assert support["callers"][0]["position"] == 1 and support["callers"][0]["caller"].endswith("22334455")
    assert 'pbxctl_queue_callers_waiting{queue="support"} 1.0' in metrics
    assert 'pbxctl_ami_connected 1.0' in metrics
    after = service.wait(lambda d: next(q for q in d["queues"] if q["name"] == "support")["today"]["abandoned"] >= 1, 5, "abandon counted")
    assert next(q for q in after["queues"] if q["name"] == "support")["waiting"] == 0
    assert callers_waiting("support") == 0
    assert re.search(r'pbxctl_queue_calls_total\{outcome="abandoned",queue="support"\} [1-9]', service.metrics())
    time.sleep(1.5)  # the books are written once a second
    rows = sqlite3.connect(site.parent / "pbxctl.db").execute("select queue, outcome from queue_calls").fetchall()
    assert ("support", "abandoned") in rows
    assert_status_matches_asterisk(after)
    # A restarted service reads today's calls back from the books.
    counted = next(q for q in after["queues"] if q["name"] == "support")["today"]
    service.stop()
    service.start()
    again = next(q for q in service.status()["queues"] if q["name"] == "support")["today"]
    assert again["abandoned"] == counted["abandoned"] and again["answered"] == counted["answered"]


class MailSink:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


async def _caller_waits_until(secret: str, queue: str, caller: str, until, timeout: float) -> None:
    """A caller waits in `queue` until `until()` is true, then hangs up."""
    async with EventRecorder(secret) as rec:
        await rec.send({
            "Action": "Originate", "Channel": f"Local/{queue}@pbxctl-queue", "Application": "Wait", "Data": "60",
            "CallerID": f"Customer <{caller}>", "Async": "true",
        })
        join = await rec.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Queue") == queue, 15)
        deadline = time.monotonic() + timeout
        try:
            while not until():
                assert time.monotonic() < deadline, "the condition did not come true while the caller waited"
                await asyncio.sleep(0.2)
        finally:
            await rec.send({"Action": "Hangup", "Channel": join["Channel"]})
            await rec.wait_for(lambda e: e.get("Event") == "QueueCallerAbandon" and e.get("Queue") == queue, 10)


def test_sla_rule_mails_an_alert_then_a_recovery(site, ami_secret):
    from aiosmtpd.controller import Controller

    from helpers.controller_harness import free_port

    sink = MailSink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    site.write_text(site.read_text() + f"""
alerts:
  targets:
    team: {{email: {{to: [team@example.com], host: 127.0.0.1, port: {smtp.port}, sender: pbxctl@example.com}}}}
  rules:
    - {{queue: support, name: support_queueing, when: {{waiting_over: 0}}, for: 0, notify: [team]}}
""")
    svc = Service(site).start()
    try:
        asyncio.run(_caller_waits_until(ami_secret, "support", "+4791234567", lambda: len(sink.messages) >= 1, 20))
        alert = sink.messages[0]
        assert alert.rcpt_tos == ["team@example.com"]
        body = alert.content.decode()
        assert "support: 1 caller waiting > 0" in body
        assert 'pbxctl_sla_alert_active{queue="support",rule="support_queueing"} 1.0' in svc.metrics()
        deadline = time.monotonic() + 20
        while len(sink.messages) < 2:
            assert time.monotonic() < deadline, "no recovery mail"
            time.sleep(0.2)
        assert "recovered" in sink.messages[1].content.decode()
        assert 'pbxctl_sla_alert_active{queue="support",rule="support_queueing"} 0.0' in svc.metrics()
    finally:
        svc.stop()
        smtp.stop()


def test_refused_login_is_reported_and_retried(site, tmp_path):
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret\n")
    text = site.read_text()
    import re as _re

    text = _re.sub(r"secret: \{file: [^}]*\}", f"secret: {{file: {wrong}}}", text, count=1)
    site.write_text(text)
    svc = Service(site).start(wait_up=False)
    try:
        doc = svc.wait(lambda d: d["ami"]["reconnects"] >= 2, 15, "two more login attempts")
        assert not doc["ami"]["up"]
        assert "login as 'pbxctl'" in doc["ami"]["detail"] and "refused" in doc["ami"]["detail"]
        down = agent(site, "login", "lars")
        assert down.returncode == 1 and "refused" in down.stderr
        assert "ami_link_down" in svc.tail(200)
    finally:
        svc.stop()
