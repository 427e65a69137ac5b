"""The FreeSWITCH controller's inbound link against the Event Socket double: keep-alive,
reconnect with backoff, re-subscribe without duplicated handlers, resync from the
recorded `callcenter_config` lists. The link (gevent) runs in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbxctl.freeswitch.callcenter_lists import CallcenterError, parse_table

from esl_double.queue_calls import QueueCall
from esl_double.server import InboundServer
from esl_double.transcript import read_transcript

HERE = Path(__file__).resolve().parent


def recorded_api_bodies() -> dict[str, str]:
    """api command -> body, as FreeSWITCH answered them in the ringall recording."""
    entries = read_transcript("freeswitch-1.10.12-cc-answered-ringall.txt")
    bodies, pending = {}, None
    for e in entries:
        if not e.sent_by_freeswitch and e.data.startswith(b"api "):
            pending = e.data.decode().strip()[4:]
        elif e.sent_by_freeswitch and pending and e.data.startswith(b"Content-Type: api/response"):
            bodies.setdefault(pending, e.data.split(b"\n\n", 1)[1].decode())
            pending = None
    return bodies


BODIES = recorded_api_bodies()


def api(cmd: str) -> str:
    if cmd == "status":
        return "UP 0 years, 0 days, 0 hours, 1 minute\n+OK\n"  # not recorded; only its arrival matters
    return BODIES.get(cmd, f"-ERR {cmd.split()[0]} Command not found!\n")


def test_callcenter_lists_parse_as_recorded():
    queues = parse_table(BODIES["callcenter_config queue list"])
    assert [q["name"] for q in queues] == ["q_noagent@esltest", "q_lia@esltest", "q_timeout@esltest", "q_ringall@esltest"]
    assert queues[3]["strategy"] == "ring-all" and queues[3]["calls_answered"] == "1"
    tiers = parse_table(BODIES["callcenter_config tier list"])
    assert tiers[0] == {"queue": "q_ringall@esltest", "agent": "agent1001", "state": "Active Inbound", "level": "1", "position": "1"}
    assert parse_table("+OK\n") == []
    with pytest.raises(CallcenterError, match="Invalid"):
        parse_table("-ERR Invalid!\n")


class Probe:
    def __init__(self, port: int, password: str, out: Path):
        self.out = out
        self.proc = subprocess.Popen([sys.executable, str(HERE / "esl_link_probe.py"), str(port), password, str(out)])

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines()] if self.out.exists() else []

    def wait_for(self, pred, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recs = self.records()
            if pred(recs):
                return recs
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout} s: {self.records()}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server():
    srv = InboundServer("ClueCon", api)
    yield srv
    srv.close()


def resyncs(recs):
    return [r for r in recs if "resync" in r]


def test_link_subscribes_resyncs_and_reconnects_without_duplicate_handlers(server, tmp_path):
    probe = Probe(server.port, "ClueCon", tmp_path / "link.jsonl")
    try:
        probe.wait_for(lambda r: len(resyncs(r)) == 1)
        assert resyncs(probe.records())[0]["resync"][3] == "q_ringall@esltest"
        assert any(c.startswith("event plain CHANNEL_CREATE") and "CUSTOM callcenter::info" in c for c in server.commands)
        call = QueueCall("abandoned", "support@default", "+4722445566", {})
        for event in call.events():
            server.emit(event)
        first = probe.wait_for(lambda r: any(x.get("action") == "member-queue-end" for x in r))
        server.drop()  # FreeSWITCH restarted
        probe.wait_for(lambda r: len(resyncs(r)) == 2)
        before = len([x for x in probe.records() if x.get("action") == "member-queue-start"])
        for event in call.events():
            server.emit(event)
        recs = probe.wait_for(lambda r: len([x for x in r if x.get("action") == "member-queue-start"]) == before + 1)
        time.sleep(0.3)
        recs = probe.records()
        assert len([x for x in recs if x.get("action") == "member-queue-start"]) == 2  # once per call, not per connection
        assert resyncs(recs)[1]["reconnects"] >= 1
        assert sum(1 for c in server.commands if c.startswith("event plain")) == 2
        assert len([x for x in first if "event" in x]) > 0
    finally:
        probe.stop()


def test_half_open_link_is_detected_by_the_keepalive(server, tmp_path):
    probe = Probe(server.port, "ClueCon", tmp_path / "link.jsonl")
    try:
        probe.wait_for(lambda r: len(resyncs(r)) == 1)
        server.freeze()
        recs = probe.wait_for(lambda r: any(x.get("connected") is False and "keep-alive" in x.get("reason", "") for x in r))
        server.freeze(False)
        probe.wait_for(lambda r: len(resyncs(r)) >= 2)
        assert any("half-open" in x.get("reason", "") for x in recs)
    finally:
        probe.stop()


def test_wrong_password_is_named_and_retried(tmp_path):
    srv = InboundServer("ClueCon", api)
    probe = Probe(srv.port, "WrongPassword", tmp_path / "link.jsonl")
    try:
        recs = probe.wait_for(lambda r: sum(1 for c in srv.commands if c.startswith("auth")) >= 3)
        assert any("refused the ESL password (-ERR invalid)" in x.get("reason", "") for x in probe.records())
        assert resyncs(recs) == []
    finally:
        probe.stop()
        srv.close()
