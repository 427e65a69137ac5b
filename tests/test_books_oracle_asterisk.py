"""The oracle: Asterisk itself. A scripted mix of queue calls on the sandbox Asterisk
(answered within and after the service level, abandoned before and after the
short-abandon threshold, timed out and overflowed into another queue, left when the
queue emptied), then the sandbox's own queue_log ingested with `pbxctl books import`:
pbxctl's queue report equals app_queue's counters (AMI QueueStatus: Completed,
Abandoned, ServiceLevelPerf, ServiceLevelPerf2) where both count the same thing, and each
call in the call log is what the test did.

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from helpers.sandbox import applied_test_site
from helpers.site_files import point_at_sandbox
from pbxctl.books.report_request import ReportRequest, build_document
from pbxctl.cli import app
from pbxctl.storage.db import engine_for
from helpers.queue_calls import DB_FAMILY, Lab, TimedRecorder, install_test_dialplan

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "books_oracle.yaml"
QUEUES = ("oracle_a", "oracle_b", "oracle_e")
OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture(scope="module")
def oracle_site(sandbox, tmp_path_factory):
    site_file = tmp_path_factory.mktemp("oracle_site") / "books_oracle.yaml"
    site_file.write_text(point_at_sandbox(SITE.read_text(), sandbox))
    with applied_test_site(sandbox, site_file, install_test_dialplan, DB_FAMILY) as loaded:
        yield loaded


async def the_mix(lab: Lab) -> dict[str, dict]:
    """Each case's caller and what happened to it, as the test made it happen."""
    done: dict[str, dict] = {}

    async def answered(name: str, queue: str, agent: str, ring_first: float = 0.0) -> None:
        await lab.wait_idle(queue)
        await lab.rings(agent)
        call = await lab.call(queue)
        await lab.joined(call)
        if ring_first:
            await asyncio.sleep(ring_first)
        await lab.answers(agent, 1)
        assert await lab.answered_by(call) == agent
        done[name] = {"call": call, "stints": [(queue, "answered")], "agent": agent}

    async def abandoned(name: str, after: float) -> None:
        await lab.rings("o1")
        call = await lab.call("oracle_a")
        await lab.joined(call)
        await asyncio.sleep(after)
        await lab.hang_up(call)
        done[name] = {"call": call, "stints": [("oracle_a", "abandoned")], "agent": None}

    await answered("in_sl", "oracle_a", "o1")
    await answered("after_sl", "oracle_a", "o1", ring_first=2.6)   # answered in the round at ~4 s
    await abandoned("short_abandon", 0.4)
    await abandoned("long_abandon", 3.3)
    # nobody answers in oracle_a: after max_wait (5 s) the caller goes on to oracle_b
    await lab.rings("o1")
    await lab.answers("o2", 1)
    call = await lab.call("oracle_a")
    await lab.joined_queue(call, "oracle_b", timeout=15)
    assert await lab.answered_by(call) == "o2"
    done["overflow"] = {"call": call, "stints": [("oracle_a", "timed_out"), ("oracle_b", "answered")], "agent": "o2",
                        "exits": ["queue:oracle_b"]}
    # oracle_e empties under the caller (its only member pauses): the caller leaves
    await lab.rings("o1")
    call = await lab.call("oracle_e")
    await lab.joined(call)
    await asyncio.sleep(1.2)
    await lab.pause("oracle_e", "o1")
    await lab.left(call, timeout=10)
    await lab.pause("oracle_e", "o1", paused=False)
    done["exit_empty"] = {"call": call, "stints": [("oracle_e", "exit_empty")], "agent": None, "exits": ["hangup"]}
    for case in done.values():
        case["uniqueid"] = lab.of(case["call"], "QueueCallerJoin")[0]["Uniqueid"]
    assert await lab.settle() == []
    return done


async def asterisk_counters(lab: Lab) -> dict[str, dict]:
    reply = await lab.rec.action({"Action": "QueueStatus"})
    return {e["Queue"]: e for e in reply if e.get("Event") == "QueueParams" and e.get("Queue") in QUEUES}


def test_reports_equal_asterisks_counters_and_what_the_test_did(oracle_site, sandbox, ami_secret, tmp_path):
    queue_log = sandbox["root"] / "var" / "log" / "asterisk" / "queue_log"
    offset = queue_log.stat().st_size
    started = dt.datetime.now(OSLO) - dt.timedelta(minutes=1)

    async def main():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, oracle_site.site)
            for queue in QUEUES:
                await lab.reset(queue)   # QueueReset also zeroes the queue's counters
            try:
                mix = await the_mix(lab)
                return mix, await asterisk_counters(lab)
            finally:
                await lab.hang_up_leftovers()
                await lab.rings()

    mix, counters = asyncio.run(asyncio.wait_for(main(), 120))
    time.sleep(0.5)  # app_queue writes queue_log lines as they happen; let the last ones land
    ours = tmp_path / "queue_log"
    with queue_log.open("rb") as log:
        log.seek(offset)
        ours.write_bytes(log.read())
    db = f"sqlite:///{tmp_path / 'books.db'}"
    imported = CliRunner().invoke(app, ["books", "import", str(ours), "--site", str(oracle_site.path), "--db", db])
    assert imported.exit_code == 0, imported.output
    assert "0 rejected" in imported.output, imported.output

    ended = dt.datetime.now(OSLO) + dt.timedelta(minutes=1)
    window = dict(start=started.strftime("%Y-%m-%d %H:%M"), end=ended.strftime("%Y-%m-%d %H:%M"), hours="office")
    engine = engine_for(db)
    report = build_document(engine, oracle_site.site, ReportRequest("queues", interval="total", **window))
    totals = {r["queue"]: r for r in report["totals"]}

    # Where pbxctl and app_queue count the same thing, they agree.
    for queue in QUEUES:
        ours_, theirs = totals[queue], counters[queue]
        asterisk_abandoned = ours_["abandoned"] + ours_["timed_out"] + ours_["exit_empty"]
        assert (ours_["answered"], asterisk_abandoned) == (int(theirs["Completed"]), int(theirs["Abandoned"])), (queue, theirs)
        # AMI spells them ServicelevelPerf / ServicelevelPerf2 (QueueParams)
        for mine, field in (("asterisk_sl_pct", "ServicelevelPerf"), ("asterisk_sl2_pct", "ServicelevelPerf2")):
            assert (ours_[mine] or 0.0) == float(theirs[field]), (queue, mine, ours_[mine], theirs[field])

    # And they are what the test did.
    a, b, e = totals["oracle_a"], totals["oracle_b"], totals["oracle_e"]
    assert (a["offered"], a["answered"], a["answered_in_sl"]) == (5, 2, 1)
    assert (a["abandoned"], a["short_abandoned"], a["timed_out"]) == (2, 1, 1)
    assert a["service_level_pct"] == round(100 * 1 / (5 - 1), 1)
    # The overflow: the dialplan's PBXCTLEXIT names where the caller went (the site's
    # overflow / when_empty text), so oracle_b counts it as come in by overflow.
    assert (a["overflowed"], a["overflow_to"]) == (1, {"queue:oracle_b": 1})
    assert (b["offered"], b["answered"], b["overflow_in"], b["callers"]) == (1, 1, 1, 0)
    assert (e["offered"], e["exit_empty"], e["overflow_to"]) == (1, 1, {})  # a hang-up is no overflow
    assert e["exit_paths"] == {"exit_empty -> hangup": 1}

    log = build_document(engine, oracle_site.site, ReportRequest("calls", **window))
    calls = {c["call_id"]: c for c in log["calls"]}
    assert len(calls) == len(mix)
    for name, case in mix.items():
        call = calls[case["uniqueid"]]
        stints = [(s["queue"], s["outcome"]) for s in call["children"] if s["kind"] == "stint"]
        assert stints == case["stints"], (name, call)
        exits = [s["exit_to"] for s in call["children"] if s["kind"] == "stint" and s["outcome"] != "answered"]
        assert exits == case.get("exits", [None] * len(exits)), (name, call)
        assert call["caller_number"] == case["call"].number, (name, call)
        answered = [s for s in call["children"] if s["kind"] == "stint" and s["outcome"] == "answered"]
        assert [s["agent"] for s in answered] == ([case["agent"]] if case["agent"] else []), (name, call)
    waits = {name: [s["wait"] for s in calls[case["uniqueid"]]["children"] if s["kind"] == "stint"] for name, case in mix.items()}
    assert waits["in_sl"][0] <= 2 < waits["after_sl"][0]
    assert waits["short_abandon"][0] < 2 <= waits["long_abandon"][0]
    assert waits["overflow"][0] >= 5
