"""The books from FreeSWITCH's CDR (freeswitch/cdr.py, cdr_follower.py): the recorded
mod_cdr_csv file of the FreeSWITCH 1.10.12 sessions read into the same tables as
Asterisk's queue_log, checked against what the same calls' recorded `callcenter::info`
events say (the live controller's reading of them), read again after a cut, and read
twice without counting anything twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from esl_double.transcript import FIXTURES
from pbxctl.books.store import BatchWriter
from pbxctl.freeswitch.cdr import CdrAssembler, parse_line, queue_mapping
from pbxctl.freeswitch.cdr_follower import CdrFollower
from pbxctl.freeswitch.esl_protocol import FrameReader, event_of
from pbxctl.freeswitch.queue_state import QueueState
from pbxctl.storage.db import engine_for

HERE = Path(__file__).resolve().parent
SITE = HERE / "sites" / "esltest.yaml"
CDR = FIXTURES / "freeswitch-1.10.12-cdr-cc.csv"
PBXCTL = str(Path(sys.executable).parent / "pbxctl")
RECORDED_CALLS = ("cc-answered-ringall", "cc-answered-lia-agent-hangup", "cc-abandon", "cc-timeout",
                  "cc-no-agent-timeout", "cc-agent-noanswer")


def pbxctl(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PBXCTL_DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([PBXCTL, *args, "-s", str(SITE)], env=env, capture_output=True, text=True, timeout=60)


def rows(db: Path, sql: str) -> list[tuple]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def live_outcomes() -> dict[str, tuple[str, str, float, str | None]]:
    """caller channel uuid -> (queue, outcome, wait, agent), from the recorded events."""
    state = QueueState("esltest", {"q_ringall": 20, "q_lia": 20, "q_timeout": 20, "q_noagent": 20})
    out = {}
    for name in RECORDED_CALLS:
        frames = FrameReader().feed((FIXTURES / f"freeswitch-1.10.12-{name}.bin").read_bytes())
        for frame in frames:
            if frame.content_type.startswith("text/event-"):
                event = event_of(frame)
                for call in state.apply(event, int(event.get("Event-Date-Timestamp")) / 1e6):
                    out[call.uniqueid] = (call.queue, call.outcome, call.wait_seconds, call.agent)
    return out


STINTS = "SELECT callid, queue, outcome, wait_seconds, agent FROM books_queue_stints"


def test_the_cdr_books_what_the_events_said(tmp_path):
    db = tmp_path / "books.db"
    done = pbxctl(db, "books", "import-freeswitch", str(CDR))
    assert done.returncode == 0, done.stderr
    assert "88 records, 12 queue calls, 0 rejected" in done.stdout
    booked = {callid: (queue, outcome, float(wait), agent) for callid, queue, outcome, wait, agent in rows(db, STINTS)}
    live = live_outcomes()
    assert len(live) >= 6
    for uniqueid, seen in live.items():  # every call the events settled, booked the same
        assert booked[uniqueid] == seen, uniqueid
    # the rings of the ring-all call: agent1001 answered, agent1002 lost the race (canceled)
    ringall = next(u for u, s in live.items() if s[:2] == ("q_ringall", "answered"))
    assert sorted(rows(db, f"SELECT agent, outcome FROM books_agent_rings WHERE callid = '{ringall}'")) == [
        ("agent1001", "answered"), ("agent1002", "canceled")]
    (talk,) = rows(db, f"SELECT talk_seconds, wrapup_seconds FROM books_agent_legs WHERE callid = '{ringall}'")
    assert talk == (3, 2)  # answered 1796164139, caller gone 1796164142; the agent's wrap-up

    report = pbxctl(db, "report", "queues", "--from", "2026-12-01", "--interval", "total", "--format", "json")
    assert report.returncode == 0, report.stderr
    doc = {r["queue"]: r for r in json.loads(report.stdout)["rows"]}
    for queue, r in doc.items():
        if queue == "(all queues)":
            continue
        mine = [s for s in booked.values() if s[0] == queue]
        assert r["offered"] == len(mine)
        assert (r["answered"], r["abandoned"], r["timed_out"], r["exit_empty"]) == tuple(
            sum(1 for s in mine if s[1] == o) for o in ("answered", "abandoned", "timed_out", "exit_empty"))
    agents = pbxctl(db, "report", "agents", "--from", "2026-12-01", "--interval", "total", "--format", "json")
    handled = {r["agent"]: r["handled"] for r in json.loads(agents.stdout)["rows"]}
    assert handled["agent1001"] == sum(1 for s in booked.values() if s[1] == "answered" and s[3] == "agent1001")

    before = {t: rows(db, f"SELECT * FROM {t}") for t in ("books_calls", "books_queue_stints", "books_agent_rings",
                                                          "books_agent_legs")}
    copy = tmp_path / "Master.csv.1"  # another file (inode): read from its first line again
    copy.write_bytes(CDR.read_bytes())
    again = subprocess.run([PBXCTL, "books", "import-freeswitch", str(copy), "-s", str(SITE), "--db", f"sqlite:///{db}"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "12 queue calls" in again.stdout, again.stderr
    assert {t: rows(db, f"SELECT * FROM {t}") for t in before} == before  # nothing counted twice


def follower(engine, path: Path) -> CdrFollower:
    assembler = CdrAssembler(queue_mapping("esltest"), lambda a: a, lambda a: 2)
    f = CdrFollower(path, BatchWriter(engine, "fs1"), "fs1", assembler)
    f.start(engine)
    return f


def all_rows(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {t: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}")))
                for t in ("books_calls", "books_queue_stints", "books_agent_rings", "books_agent_legs")}


def test_books_rebuilt_after_an_outage_equal_one_reading(tmp_path):
    """The service stopped after a third of the file (an offer waiting for its member row),
    FreeSWITCH went on writing; the restarted follower books the rest, nothing twice."""
    lines = CDR.read_bytes().splitlines(keepends=True)
    whole = engine_for(f"sqlite:///{tmp_path / 'whole.db'}")
    (tmp_path / "whole.csv").write_bytes(b"".join(lines))
    follower(whole, tmp_path / "whole.csv").poll()

    cut = engine_for(f"sqlite:///{tmp_path / 'cut.db'}")
    live = tmp_path / "Master.csv"
    records = [parse_line(line) for line in lines]
    # cut right after an offer row whose member row comes later
    at = next(i + 1 for i, r in enumerate(records) if r["cc_side"] == "agent" and r["cc_queue_joined_epoch"]
              and any(m["cc_side"] == "member" and m["cc_member_uuid"] == r["cc_member_uuid"] for m in records[i + 2:]))
    live.write_bytes(b"".join(lines[:at]) + lines[at][:40])  # and the next line half written
    first = follower(cut, live)
    first.poll()
    assert first.assembler.pending_since() is not None  # an offer row waits for its member row
    live.write_bytes(b"".join(lines))
    follower(cut, live).poll()  # a new process: from the checkpoint's replay point
    assert all_rows(cut) == all_rows(whole)
    assert len(all_rows(cut)["books_queue_stints"]) == 12


def test_a_line_that_is_not_the_template_is_rejected_with_its_place(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'b.db'}")
    path = tmp_path / "Master.csv"
    lines = CDR.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'"only","three","fields"\n' + b"\xff\xfe\n" + lines[1])
    f = follower(engine, path)
    f.poll()
    assert f.stats.examples == ["Master.csv:2: 3 fields, pbxctl's CDR template has 32",
                                "Master.csv:3: not UTF-8 (byte 0xff)"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM books_rejects")).scalar() == 2


def test_a_rename_rotation_loses_no_line_while_following_or_while_down(tmp_path):
    """mod_cdr_csv's rotation renames Master.csv and opens a new one: the lines written to the
    old file after the last poll are read before the new file's, by a running follower and by
    one restarted after the rotation (the old inode found beside the file)."""
    lines = CDR.read_bytes().splitlines(keepends=True)
    whole = engine_for(f"sqlite:///{tmp_path / 'whole.db'}")
    (tmp_path / "whole.csv").write_bytes(b"".join(lines))
    follower(whole, tmp_path / "whole.csv").poll()
    third = len(lines) // 3

    for case in ("following", "down"):
        engine = engine_for(f"sqlite:///{tmp_path / f'{case}.db'}")
        directory = tmp_path / case
        directory.mkdir()
        live = directory / "Master.csv"
        live.write_bytes(b"".join(lines[:third]))
        f = follower(engine, live)
        f.poll()
        with open(live, "ab") as handle:  # written after the last poll, before the rotation
            handle.write(b"".join(lines[third:2 * third]))
        live.rename(directory / "Master.csv.2026-12-02-03-40-00")
        live.write_bytes(b"".join(lines[2 * third:]))
        if case == "down":
            f = follower(engine, live)  # a new process, after the rotation
        f.poll()
        f.poll()
        assert all_rows(engine) == all_rows(whole), case
