"""`pbxctl serve freeswitch`'s Event Socket controller against the strict double on a TCP
port: its mod_callcenter model configured by `pbxctl apply` from conf/example-freeswitch.yaml,
queue calls whose events are the recorded ones. The service runs as it does in production
(three processes: asyncio HTTP, gevent controller, gevent IVR); the test talks to it only
through the CLI, /api and /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from esl_double.callcenter import Callcenter
from esl_double.queue_calls import QueueCall
from esl_double.server import InboundServer
from freeswitch_service import ServiceProcess, free_port
from pbxctl.apply.freeswitch_apply import apply_freeswitch
from pbxctl.freeswitch.esl_client import EslClient
from pbxctl.site.load import load_site

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_CONF = Path(__file__).resolve().parent / "fixtures" / "freeswitch_conf"
PASSWORD = "ClueCon"
PBXCTL = str(Path(sys.executable).parent / "pbxctl")
# conf/example-freeswitch.yaml's support queue and its agents, for the recorded agents
AGENTS = {"agent1001": "ingrid", "agent1002": "mina", "agent1003": "erik"}
SUPPORT = "support@oslo"  # pbx.freeswitch.queue_domain: oslo


def site_file(tmp: Path, conf: Path, esl_port: int, http_port: int, password: str = PASSWORD) -> Path:
    text = (ROOT / "conf" / "example-freeswitch.yaml").read_text(encoding="utf-8")
    text = text.replace("config_dir: /etc/freeswitch", f"config_dir: {conf}")
    text = text.replace("port: 8021, password: {env: PBXCTL_ESL_PASSWORD}",
                        f"port: {esl_port}, password: {password}, keepalive: 1, keepalive_timeout: 1")
    text = text.replace("outbound: {host: 127.0.0.1, port: 8084}", f"outbound: {{host: 127.0.0.1, port: {free_port()}}}")
    text = text.replace("    queue_domain: oslo\n", f"    queue_domain: oslo\n    cdr_file: {tmp / 'Master.csv'}\n")
    text += f"\nservice: {{port: {http_port}}}\n"
    path = tmp / "site" / "example-freeswitch.yaml"
    path.parent.mkdir(exist_ok=True)
    shutil.copy(ROOT / "conf" / "postcodes.csv", path.parent / "postcodes.csv")
    path.write_text(text, encoding="utf-8")
    return path


class Service(ServiceProcess):
    def __init__(self, site: Path, tmp: Path, http_port: int):
        loaded = load_site(site)
        super().__init__(site, tmp / "pbxctl.db", loaded.site.pbx.freeswitch.outbound.port, http_port=http_port)
        self.site = site
        self.start()

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            body = r.read()
        return json.loads(body) if path.startswith("/api") else body.decode()

    def status(self) -> dict:
        return self.get("/api/status")

    def wait_for(self, pred, timeout: float = 15.0, what: str = ""):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited: {self.output()}")
            try:
                last = self.status()
                if pred(last):
                    return last
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not seen within {timeout} s: {what} {json.dumps(last)[:2000]}\n{self.output()[-3000:]}")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([PBXCTL, *args, "-s", str(self.site)], env=self.env, capture_output=True, text=True,
                              timeout=30)


@pytest.fixture
def fs(tmp_path):
    """The double with mod_callcenter configured by `pbxctl apply`, and the running service."""
    conf = tmp_path / "freeswitch"
    shutil.copytree(OPERATOR_CONF, conf)
    model = Callcenter(conf)
    assert model.api("reloadxml") == "+OK [Success]\n"
    server = InboundServer(PASSWORD, model.api)
    model.emit = server.emit
    site = site_file(tmp_path, conf, server.port, free_port())
    loaded = load_site(site)
    with EslClient("127.0.0.1", server.port, PASSWORD) as esl:
        apply_freeswitch(loaded, conf, esl)
    service = Service(site, tmp_path, loaded.site.service.port)
    yield model, server, service
    service.stop()
    server.close()


def queue_doc(doc: dict, name: str) -> dict:
    return next(q for q in doc["queues"] if q["name"] == name)


def agent_doc(doc: dict, name: str) -> dict:
    return next(a for a in doc["agents"] if a["agent"] == name)


def link_up(n: int = 1):
    return lambda d: d["ami"]["up"] and d["ami"]["resyncs"] >= n


def test_live_state_agents_metrics_and_resync_after_a_restart(fs, tmp_path):
    model, server, svc = fs
    doc = svc.wait_for(link_up(), what="link up")
    assert doc["ami"]["detail"].startswith(f"ESL link to 127.0.0.1:{server.port} up since")
    assert "support" in [q["name"] for q in doc["queues"]]
    assert agent_doc(doc, "lars")["state"] == "logged_out"  # dynamic: Logged Out after apply
    assert agent_doc(doc, "ingrid")["state"] == "available"
    assert any(c.startswith("event plain") and "CUSTOM callcenter::info" in c for c in server.commands)

    # agent login/pause through the CLI, as on Asterisk
    out = svc.cli("agent", "login", "lars")
    assert out.returncode == 0, out.stderr + out.stdout
    assert model.agents["lars"]["status"] == "Available"
    svc.wait_for(lambda d: agent_doc(d, "lars")["state"] == "available", what="lars in")
    out = svc.cli("agent", "pause", "ingrid", "--reason", "lunch")
    assert out.returncode == 0, out.stderr + out.stdout
    assert model.agents["ingrid"]["status"] == "On Break"
    doc = svc.wait_for(lambda d: agent_doc(d, "ingrid")["pause_reason"] == "lunch", what="ingrid paused")
    assert agent_doc(doc, "ingrid")["state"] == "paused"
    out = svc.cli("agent", "unpause", "ingrid")
    assert out.returncode == 0 and model.agents["ingrid"]["status"] == "Available"
    out = svc.cli("agent", "logout", "ingrid")
    assert out.returncode == 1 and "static" in (out.stderr + out.stdout)
    # the books' agent events, for the agent report's login and pause time
    time.sleep(1.5)  # the controller process books them every second
    engine = create_engine(f"sqlite:///{tmp_path / 'pbxctl.db'}")
    with engine.connect() as conn:
        booked = [tuple(r) for r in conn.execute(text(
            "SELECT agent, queue, event, reason FROM books_agent_events ORDER BY at, event"))]
    assert ("lars", "support", "ADDMEMBER", "freeswitch") in booked
    assert [r for r in booked if r[0] == "ingrid"] == [("ingrid", "NONE", "PAUSEALL", "lunch"),
                                                       ("ingrid", "NONE", "UNPAUSEALL", "")]

    # a recorded answered call, then a recorded abandon, in `support`
    answered = QueueCall("answered", SUPPORT, "+4722445566", AGENTS).events()
    start = next(i for i, e in enumerate(answered) if e.get("CC-Action") == "bridge-agent-start")
    for event in answered[:start]:
        server.emit(event)
    doc = svc.wait_for(lambda d: queue_doc(d, "support")["waiting"] == 1, what="caller waiting")
    assert queue_doc(doc, "support")["callers"][0]["caller"] == "+4722445566"
    for event in answered[start:]:
        server.emit(event)
    for event in QueueCall("abandoned", SUPPORT, "+4722000000", AGENTS).events():
        server.emit(event)
    doc = svc.wait_for(lambda d: queue_doc(d, "support")["today"]["abandoned"] == 1, what="abandon counted")
    today = queue_doc(doc, "support")["today"]
    assert (today["answered"], today["abandoned"], today["answered_within_sl"], today["service_level_pct"]) == (1, 1, 1, 50.0)
    metrics = svc.get("/metrics")
    assert 'pbxctl_queue_calls_total{outcome="answered",queue="support"} 1.0' in metrics
    assert 'pbxctl_queue_calls_total{outcome="abandoned",queue="support"} 1.0' in metrics
    assert "pbxctl_ami_connected 1.0" in metrics
    assert 'pbxctl_agent_state{agent="lars",state="available"} 1.0' in metrics
    out = svc.cli("queues")
    assert out.returncode == 0 and "support" in out.stdout and "ESL link" in out.stdout
    assert svc.cli("calls").returncode == 0

    # FreeSWITCH restarted: the link comes back, resyncs, and events are not doubled
    events_before = svc.status()["ami"]["events"]
    model.agents["lars"]["status"] = "Logged Out"  # e.g. a restart put back the XML's status
    server.drop()
    doc = svc.wait_for(link_up(2), what="second resync")
    assert doc["ami"]["reconnects"] >= 1
    assert model.agents["lars"]["status"] == "Available"  # wanted membership re-applied
    assert sum(1 for c in server.commands if c.startswith("event plain")) == 2
    for event in QueueCall("timed_out", SUPPORT, "+4722111111", AGENTS).events():
        server.emit(event)
    doc = svc.wait_for(lambda d: queue_doc(d, "support")["today"]["timed_out"] == 1, what="timeout counted")
    n = len(QueueCall("timed_out", SUPPORT, "+4722111111", AGENTS).events())
    time.sleep(0.5)
    assert svc.status()["ami"]["events"] - events_before == n + 1  # the call's events once, + lars' status change


def test_half_open_link_is_noticed_and_resynced(fs):
    model, server, svc = fs
    svc.wait_for(link_up(), what="link up")
    server.freeze()
    doc = svc.wait_for(lambda d: not d["ami"]["up"], what="link down")
    assert "keep-alive" in doc["ami"]["detail"]
    out = svc.cli("agent", "login", "lars")
    assert out.returncode == 1 and "is down since" in (out.stderr + out.stdout)
    assert model.agents["lars"]["status"] == "Logged Out"
    server.freeze(False)
    svc.wait_for(link_up(2), what="resynced after the freeze")


def test_waiting_caller_seen_by_the_resync(fs):
    """A caller who joined while the link was down is listed by `queue list members`."""
    model, server, svc = fs
    svc.wait_for(link_up(), what="link up")
    now = int(time.time())
    model.members.append({
        "queue": SUPPORT, "instance_id": "single_box", "uuid": "bc624806-79fb-42cc-bf01-d97b39d07e01",
        "session_uuid": "25b5f7a3-2ec4-464a-b033-4424efd507b8", "cid_number": "+4799999999", "cid_name": "Kunde",
        "system_epoch": str(now - 30), "joined_epoch": str(now - 30), "rejoined_epoch": "0", "bridge_epoch": "0",
        "abandoned_epoch": "0", "base_score": "0", "skill_score": "0", "serving_agent": "ring-all",
        "serving_system": "", "state": "Trying", "score": "30"})
    server.drop()
    doc = svc.wait_for(lambda d: d["ami"]["resyncs"] >= 2 and queue_doc(d, "support")["waiting"] == 1, what="member")
    assert queue_doc(doc, "support")["longest_wait_s"] >= 29


def test_wrong_password_is_named(tmp_path):
    conf = tmp_path / "freeswitch"
    shutil.copytree(OPERATOR_CONF, conf)
    model = Callcenter(conf)
    server = InboundServer(PASSWORD, model.api)
    site = site_file(tmp_path, conf, server.port, free_port(), password="WrongPassword")
    svc = Service(site, tmp_path, load_site(site).site.service.port)
    try:
        doc = svc.wait_for(lambda d: "password" in d["ami"]["detail"], what="password named")
        assert not doc["ami"]["up"] and "-ERR invalid" in doc["ami"]["detail"]
        assert svc.get("/metrics").count("pbxctl_ami_connected 0.0") == 1
    finally:
        svc.stop()
        server.close()


def test_mod_callcenter_not_loaded_is_named(tmp_path):
    conf = tmp_path / "freeswitch"
    shutil.copytree(OPERATOR_CONF, conf)
    model = Callcenter(conf, loaded=False)
    server = InboundServer(PASSWORD, model.api)
    site = site_file(tmp_path, conf, server.port, free_port())
    svc = Service(site, tmp_path, load_site(site).site.service.port)
    try:
        doc = svc.wait_for(lambda d: "mod_callcenter" in d["ami"]["detail"], what="mod_callcenter named")
        assert not doc["ami"]["up"] and "not loaded" in doc["ami"]["detail"]
    finally:
        svc.stop()
        server.close()


def test_the_service_books_the_cdr_as_freeswitch_writes_it(fs, tmp_path):
    """mod_cdr_csv's file followed into the books while the service runs: the recorded
    ring-all calls (renamed into this site's support queue) in the queue report."""
    model, server, svc = fs
    svc.wait_for(link_up(), what="link up")
    recorded = (Path(__file__).parent / "fixtures" / "esl" / "freeswitch-1.10.12-cdr-cc.csv").read_text()
    for old, new in {"q_ringall@esltest": SUPPORT, **AGENTS}.items():
        recorded = recorded.replace(old, new)
    (tmp_path / "Master.csv").write_text(recorded)
    deadline = time.monotonic() + 15
    while True:
        doc = svc.get("/api/reports/queues?from=2026-12-01&interval=total&queue=support")
        row = next(r for r in doc["rows"] if r["queue"] == "support")
        if row["offered"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (row["offered"], row["answered"], row["abandoned"]) == (3, 2, 1)


def test_a_queue_added_to_the_site_while_running_is_shown_with_its_members(fs):
    model, server, svc = fs
    svc.wait_for(link_up(), what="link up")
    model.queues["billing@oslo"] = dict(model.queues["support@oslo"])  # as `pbxctl apply` would load it
    model.tiers[("billing@oslo", "mina")] = {"state": "Ready", "level": "0", "position": "1"}
    text = svc.site.read_text().replace("\nqueues:\n", "\nqueues:\n  billing:\n    strategy: ring_all\n"
                                        "    members: [{agent: mina, priority: 0}]\n", 1)
    svc.site.write_text(text)
    doc = svc.wait_for(lambda d: any(q["name"] == "billing" and q["agents"]["logged_in"] == 1 for q in d["queues"]),
                       timeout=20, what="billing with mina")
    assert doc["ami"]["resyncs"] >= 2 and doc["ami"]["reconnects"] == 0
