"""The books from what the sandbox Asterisk really writes (issue 12, items 1-2).

tests/sites/queues.yaml (with a display_name and a number prefix on q_overflow) is applied
to the sandbox; callers are placed as in tests/test_queue_strategies_asterisk.py. The
sandbox's own queue_log lines of those calls are read into a fresh database through
`pbxctl books import`, and every call in the books must be what the test did. The lines
are also saved to tests/fixtures/queue_log/sandbox_calls.queue_log when
PBXCTL_RECORD_FIXTURES=1 (the unit tests replay that recording).

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from helpers.sandbox import applied_test_site

from helpers.site_files import point_at_sandbox
from helpers.controller_harness import PBXCTL
from helpers.queue_calls import DB_FAMILY, Lab, TimedRecorder, install_test_dialplan

pytestmark = pytest.mark.asterisk


SITE = Path(__file__).parent / "sites" / "queues.yaml"
FIXTURE = Path(__file__).parent / "fixtures" / "queue_log" / "sandbox_calls.queue_log"
CDR_FIXTURE = FIXTURE.with_name("sandbox_calls.pbxctl.csv")


def books_site_text(sandbox) -> str:
    text = point_at_sandbox(SITE.read_text(), sandbox)
    # Agents see "Overflow line" and 9+number in q_overflow; the books must keep the caller's own.
    return text.replace(
        "    max_wait: 5\n    overflow: queue:q_next\n",
        "    max_wait: 5\n    overflow: queue:q_next\n    display_name: Overflow line\n    number_prefix: \"9\"\n",
    )


@pytest.fixture(scope="module")
def books_site(sandbox, tmp_path_factory):
    site_file = tmp_path_factory.mktemp("books_site") / "queues.yaml"
    site_file.write_text(books_site_text(sandbox))
    assert "display_name: Overflow line" in site_file.read_text()
    with applied_test_site(sandbox, site_file, install_test_dialplan, DB_FAMILY) as loaded:
        yield site_file, loaded.site


def uniqueid_of(lab: Lab, call) -> str:
    return next(e["Uniqueid"] for e in lab.rec.events if e.get("Channel") == call.channel and e.get("Uniqueid"))


def cdr_records_of(path: Path, ids: set[str], timeout: float = 5) -> list[bytes]:
    """The CDR records (cdr_custom pbxctl.csv) whose uniqueid or linkedid is one of `ids`,
    once every call has at least one (a CDR is written when its channel hangs up)."""
    from pbxctl.books.cdr import parse_record

    deadline = time.monotonic() + timeout
    while True:
        records = [(line, parse_record(line)) for line in path.read_bytes().splitlines(keepends=True)]
        found = [(line, rec) for line, rec in records if {rec["uniqueid"], rec["linkedid"]} & ids]
        if ids <= {rec["uniqueid"] for _, rec in found}:
            return [line for line, _ in found]
        if time.monotonic() > deadline:
            return [line for line, _ in found]
        time.sleep(0.2)


def test_calls_in_the_books_are_what_the_callers_did(books_site, ami_secret, sandbox, tmp_path):
    site_file, site = books_site
    queue_log = sandbox["root"] / "var/log/asterisk/queue_log"

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            for queue in ("q_overflow", "q_next", "q_empty", "q_wrapup"):
                await lab.reset(queue)
            try:
                await lab.answers("a5", talk=1)
                # 1: rung in q_overflow (a1, a2 never answer), times out after 5 s into
                # q_next, where a5 answers and hangs up after 1 s.
                overflow = await lab.call("q_overflow")
                await lab.joined_queue(overflow, "q_next", timeout=10)
                assert await lab.answered_by(overflow) == "a5"
                # 2: q_empty with every member paused: join_empty false refuses the caller.
                await lab.pause("q_empty", "a1", "a2")
                refused = await lab.call("q_empty")
                await lab.exited(refused)
                await lab.pause("q_empty", "a1", "a2", paused=False)
                # 3: q_wrapup rings a1, a2, a6 (none answers); the caller hangs up after 2 s.
                abandoned = await lab.call("q_wrapup")
                await lab.joined(abandoned)
                await asyncio.sleep(2)
                await lab.hang_up(abandoned)
                assert await lab.settle() == []
                return {
                    "overflow": (uniqueid_of(lab, overflow), overflow.number),
                    "refused": (uniqueid_of(lab, refused), refused.number),
                    "abandoned": (uniqueid_of(lab, abandoned), abandoned.number),
                }
            finally:
                await lab.hang_up_leftovers()
                await lab.rings()

    calls = asyncio.run(scenario())
    ids = {uid for uid, _ in calls.values()}
    lines = [line for line in queue_log.read_bytes().splitlines(keepends=True) if line.split(b"|")[1:2] and line.split(b"|")[1].decode() in ids]
    recorded = tmp_path / "queue_log"
    recorded.write_bytes(b"".join(lines))
    cdr_lines = cdr_records_of(sandbox["root"] / "var/log/asterisk/cdr-custom/pbxctl.csv", ids)
    recorded_cdr = tmp_path / "pbxctl.csv"
    recorded_cdr.write_bytes(b"".join(cdr_lines))
    if os.environ.get("PBXCTL_RECORD_FIXTURES") == "1":
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_bytes(b"".join(lines))
        CDR_FIXTURE.write_bytes(b"".join(cdr_lines))
    db = tmp_path / "books.db"
    done = subprocess.run(
        [str(PBXCTL), "books", "import", str(recorded), "--cdr", str(recorded_cdr),
         "--site", str(site_file), "--db", f"sqlite:///{db}", "--node", "sandbox"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "0 rejected" in done.stdout, done.stdout
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stints = {
            (row.callid, row.queue): row
            for row in conn.execute(text("SELECT * FROM books_queue_stints WHERE node = 'sandbox'"))
        }
        books = {row.callid: row for row in conn.execute(text("SELECT * FROM books_calls"))}
        legs = list(conn.execute(text("SELECT * FROM books_agent_legs")))
        rings = list(conn.execute(text("SELECT agent, outcome, queue, callid FROM books_agent_rings")))

    uid, number = calls["overflow"]
    assert books[uid].linkedid is not None  # from the CDR
    first, second = stints[(uid, "q_overflow")], stints[(uid, "q_next")]
    assert (first.outcome, first.exit_status, first.caller_number) == ("timed_out", "TIMEOUT", "9" + number)
    assert 4 <= first.wait_seconds <= 6
    assert (second.outcome, second.ended_by, second.agent) == ("answered", "agent", "a5")
    assert second.entered_at >= first.ended_at
    # the caller's own name and number, though q_overflow showed agents "Overflow line" / 9+number
    assert (books[uid].caller_number, books[uid].caller_name) == (number, "Test")
    assert [(leg.agent, leg.queue, leg.ended_by) for leg in legs if leg.callid == uid] == [("a5", "q_next", "agent")]
    assert 0 <= [leg.talk_seconds for leg in legs if leg.callid == uid][0] <= 2
    overflow_rings = sorted((r.agent, r.outcome) for r in rings if r.callid == uid and r.queue == "q_overflow")
    assert {agent for agent, _ in overflow_rings} == {"a1", "a2"} and {o for _, o in overflow_rings} == {"no_answer"}

    uid, number = calls["refused"]
    assert stints[(uid, "q_empty")].outcome == "refused"
    assert stints[(uid, "q_empty")].exit_status in ("JOINEMPTY", "JOINUNAVAIL")

    uid, number = calls["abandoned"]
    row = stints[(uid, "q_wrapup")]
    assert (row.outcome, row.agent) == ("abandoned", None)
    assert 1 <= row.wait_seconds <= 3


def test_the_service_books_calls_also_those_made_while_it_was_down(books_site, ami_secret, sandbox, tmp_path):
    """`pbxctl serve asterisk` follows the sandbox's queue_log and its CDR file: a call made
    before it started (the fail-open outage) and one made while it runs are both booked, once
    each, and their CDR records reach books_cdr while it runs (linking the calls)."""
    from helpers.controller_harness import Service, free_port

    site_file, site = books_site
    db = tmp_path / "books.db"
    queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
    cdr_file = sandbox["root"] / "var/log/asterisk/cdr-custom/pbxctl.csv"
    text = site_file.read_text().replace(
        "    outbound_context: pbxctl-test-exit\n",
        f"    outbound_context: pbxctl-test-exit\n    queue_log: {queue_log}\n    cdr_file: {cdr_file}\n"
        f"    fastagi: {{host: 127.0.0.1, port: {free_port()}}}\n",
    )
    text += f"\nstorage: {{url: 'sqlite:///{db}', node: sandbox}}\nservice: {{host: 127.0.0.1, port: {free_port()}}}\n"
    serve_site = tmp_path / "serve.yaml"
    serve_site.write_text(text)

    async def one_call(queue: str, answer: bool) -> str:
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            if answer:
                await lab.answers("a5", talk=1)
            call = await lab.call(queue)
            if answer:
                await lab.answered_by(call)
            else:
                await lab.joined(call)
                await asyncio.sleep(1)
                await lab.hang_up(call)
            await lab.settle()
            await lab.rings()
            return uniqueid_of(lab, call)

    before = asyncio.run(one_call("q_wrapup", answer=False))  # the service is not running
    service = Service(serve_site).start()
    try:
        during = asyncio.run(one_call("q_overflow", answer=True))
        booked = wait_for_stints(db, {before: 1, during: 2}, timeout=30)
        cdr = wait_for_cdr(db, {before, during}, timeout=15)
    finally:
        service.stop()
    assert cdr[before] and cdr[during], cdr  # the one from before the start is read from the file too
    assert {linkedid for _callid, linkedid in cdr[during]} != {None}
    assert booked[before] == [("q_wrapup", "abandoned")]
    assert booked[during] == [("q_overflow", "timed_out"), ("q_next", "answered")]
    # restarted, the service reads on from its checkpoint: nothing counted twice
    service = Service(serve_site).start()
    try:
        time.sleep(3)
    finally:
        service.stop()
    assert wait_for_stints(db, {before: 1, during: 2}, timeout=1) == booked
    assert "books_following" in service.log_path.read_text()


def wait_for_cdr(db: Path, uniqueids: set[str], timeout: float) -> dict[str, list[tuple]]:
    """uniqueid -> its books_cdr records and its call's linkedid, once every call has one."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[tuple]] = {u: [] for u in uniqueids}
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            for uniqueid in uniqueids:
                found[uniqueid] = [tuple(r) for r in conn.execute(text(
                    "SELECT d.record_key, c.linkedid FROM books_cdr d LEFT JOIN books_calls c "
                    "ON c.node = d.node AND c.callid = d.uniqueid WHERE d.node = 'sandbox' AND d.uniqueid = :u"),
                    {"u": uniqueid})]
        engine.dispose()
        if all(found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def wait_for_stints(db: Path, expected: dict[str, int], timeout: float) -> dict[str, list[tuple]]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[tuple]] = {}
        if db.exists():
            engine = create_engine(f"sqlite:///{db}")
            with engine.connect() as conn:
                for callid in expected:
                    found[callid] = [tuple(r) for r in conn.execute(text(
                        "SELECT queue, outcome FROM books_queue_stints WHERE node = 'sandbox' AND callid = :c "
                        "ORDER BY entered_at"), {"c": callid})]
            engine.dispose()
        if all(len(found.get(c, [])) >= n for c, n in expected.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
