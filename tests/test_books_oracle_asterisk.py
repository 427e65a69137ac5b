"""The oracle: Asterisk itself. A scripted mix of queue calls on the sandbox Asterisk
(answered within and after the service level, abandoned before and after the
short-abandon threshold, timed out and overflowed into another queue, left when the
queue emptied; and, by an agent's desk phone as agents do it, a blind transfer into
another queue (`##`), a transfer with return that comes back (`*4`), one nobody takes
back, which goes into the queue again, a help request (`*9`) and a three-way call (`*71`
on a second line, through `pbxctl serve asterisk`)), then the sandbox's own queue_log
ingested with `pbxctl books import`: pbxctl's queue report equals app_queue's
counters (AMI QueueStatus: Completed, Abandoned, ServiceLevelPerf, ServiceLevelPerf2)
where both count the same thing, and each call in the call log - stints, talks,
transfers, help, the three-way party - is what the test did.

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

from helpers import supervision_lab
from helpers.controller_harness import Service, free_port
from helpers.sandbox import applied_test_site
from helpers.site_files import point_at_sandbox
from pbxctl.books.queue_report import queue_report
from pbxctl.books.report_request import ReportRequest, build_document, check_request, queues_document
from pbxctl.books.report_source import tally_quarters, tally_scan
from pbxctl.cli import app
from pbxctl.storage.db import engine_for
from helpers.queue_calls import DB_FAMILY, Lab, install_dialplan_file, install_test_dialplan

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "books_oracle.yaml"
QUEUES = ("oracle_a", "oracle_b", "oracle_e", "oracle_t")
OSLO = ZoneInfo("Europe/Oslo")
DIAL_CONTEXT = "pbxctl-oracle-dial"   # the site's internal_context
TO_ORACLE_B = "802"
THIRD, NO_ANSWER = "9001", "9002"
DIAL_PLAN = f"""\
; Written by pbxctl's tests/test_books_oracle_asterisk.py: where the oracle site's agents
; dial transfers and three-way numbers (its internal_context).
[{DIAL_CONTEXT}]
exten => {TO_ORACLE_B},1,Goto(pbxctl-queue,oracle_b,1)
exten => _9XXX,1,Dial(Local/${{EXTEN}}@{supervision_lab.PHONES}/n,60)
 same => n,Hangup()
"""


def install_dialplans(config_dir: Path) -> bool:
    changed = install_test_dialplan(config_dir)
    changed |= supervision_lab.install_test_dialplan(config_dir)
    return install_dialplan_file(config_dir, "extensions_pbxctl_oracle_test.conf", DIAL_PLAN, "oracle dial") or changed


@pytest.fixture(scope="module")
def oracle_site(sandbox, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oracle_site")
    site_file = tmp / "books_oracle.yaml"
    text = point_at_sandbox(SITE.read_text(), sandbox)
    text = text.replace("port: 4573", f"port: {free_port()}").replace("port: 9464", f"port: {free_port()}")
    site_file.write_text(text.replace("sqlite:///pbxctl-oracle.db", f"sqlite:///{tmp / 'pbxctl.db'}"))
    with applied_test_site(sandbox, site_file, install_dialplans, DB_FAMILY) as loaded:
        service = Service(site_file).start()   # *71 asks it for the room and the merge
        try:
            yield loaded
        finally:
            service.stop()


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
        done[name] = {"call": call, "stints": [(queue, "answered")], "agents": [agent]}

    async def abandoned(name: str, after: float) -> None:
        await lab.rings("o1")
        call = await lab.call("oracle_a")
        await lab.joined(call)
        await asyncio.sleep(after)
        await lab.hang_up(call)
        done[name] = {"call": call, "stints": [("oracle_a", "abandoned")], "agents": []}

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
    done["overflow"] = {"call": call, "stints": [("oracle_a", "timed_out"), ("oracle_b", "answered")], "agents": ["o2"],
                        "exits": ["queue:oracle_b"]}
    # oracle_e empties under the caller (its only member pauses): the caller leaves
    await lab.rings("o1")
    call = await lab.call("oracle_e")
    await lab.joined(call)
    await asyncio.sleep(1.2)
    await lab.pause("oracle_e", "o1")
    await lab.left(call, timeout=10)
    await lab.pause("oracle_e", "o1", paused=False)
    done["exit_empty"] = {"call": call, "stints": [("oracle_e", "exit_empty")], "agents": [], "exits": ["hangup"]}
    for case in done.values():
        case["uniqueid"] = lab.of(case["call"], "QueueCallerJoin")[0]["Uniqueid"]
        case["number"] = case.pop("call").number
    assert await lab.settle() == []
    done.update(await desk_phone_mix(lab, lab.rec))
    return done


def is_event(name: str, **fields):
    return lambda e: e.get("Event") == name and all(e.get(k) == v for k, v in fields.items())


def answered_phone(extension: str):
    return lambda e: (e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlSvAnswered"
                      and f"{extension}@{supervision_lab.PHONES}" in e.get("Channel", ""))


async def desk_phone_mix(lab: Lab, sv: supervision_lab.Lab) -> dict[str, dict]:
    """What agents do from their phones during a call, each on o3 in oracle_t: `##` + a
    number that is queue oracle_b; `*4` + a number that rings out, the call coming back to
    o3; `*71` + a number on a second line, the third party joining. Talk times as the test
    timed them (monotonic), to compare with the books' whole seconds."""
    done: dict[str, dict] = {}
    for extension in ("7103", THIRD):
        await sv.phone(extension, "answer")
    await sv.phone(NO_ANSWER, "ring")

    async def connected() -> tuple[dict, float]:
        await lab.wait_idle("oracle_t")
        connect = await sv.call_queue("oracle_t")
        return connect, connect["_t"]

    # Blind transfer into another queue: o3 dials ## 802, oracle_b's o2 answers there.
    await lab.answers("o2", 1)
    connect, t0 = await connected()
    caller, agent = connect["Channel"], connect["DestChannel"]
    await asyncio.sleep(1.0)
    start = sv.mark()
    await sv.press(agent, "##")
    await asyncio.sleep(0.5)
    await sv.press(agent, TO_ORACLE_B)
    moved = await sv.wait_from(start, is_event("BlindTransfer", Result="Success"), 10)
    await sv.wait_from(start, is_event("QueueCallerJoin", Channel=caller, Queue="oracle_b"))
    await sv.wait_from(start, is_event("AgentComplete", Channel=caller, Queue="oracle_b"), 15)
    await sv.hang_up(caller)
    done["blind_to_queue"] = {
        "uniqueid": connect["Uniqueid"], "number": connect["CallerIDNum"],
        "stints": [("oracle_t", "answered"), ("oracle_b", "answered")], "agents": ["o3", "o2"],
        "talks": [("o3", moved["_t"] - t0), ("o2", 1.0)],
        "transfers": [("transfer_blind", "o3", f"{TO_ORACLE_B}@{DIAL_CONTEXT}")],
    }
    await sv.none_left()

    async def star4_ringing_out(before_return=None) -> tuple[dict, float, dict, dict]:
        """A call o3 answers and, after a second, sends with *4 to 9002, which rings out:
        (AgentConnect, its time, the PbxctlTransfer and PbxctlTransferReturn events)."""
        connect, t0 = await connected()
        agent = connect["DestChannel"]
        await asyncio.sleep(1.0)
        start = sv.mark()
        await sv.press(agent, "*4")
        await sv.wait_from(start, lambda e: e.get("Event") == "Newexten" and e.get("Channel") == agent and e.get("Application") == "Read")
        await asyncio.sleep(0.3)
        await sv.press(agent, NO_ANSWER + "#")
        left = await sv.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlTransfer")
        if before_return:
            await before_return()
        back = await sv.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlTransferReturn", 15)
        return connect, t0, left, back

    # Transfer with return: o3 dials *4 9002, which rings out; the call comes back to o3.
    connect, t0, left, back = await star4_ringing_out()
    caller = connect["Channel"]
    again = await sv.wait_from(sv.events.index(back), answered_phone("7103"))
    await asyncio.sleep(1.5)
    await sv.hang_up(caller)
    ended = time.monotonic()
    done["with_return"] = {
        "uniqueid": connect["Uniqueid"], "number": connect["CallerIDNum"],
        "stints": [("oracle_t", "answered")], "agents": ["o3"],
        "talks": [("o3", (left["_t"] - t0) + (ended - again["_t"]))],
        "transfers": [("transfer_with_return", "o3", NO_ANSWER), ("returned", "o3", NO_ANSWER)],
    }
    await sv.none_left()

    # The same, but o3 lets the ring back ring out: the caller goes back into oracle_t,
    # where o3 answers this time.
    connect, t0, left, back = await star4_ringing_out(before_return=lambda: sv.phone("7103", "ring"))
    caller = connect["Channel"]
    await sv.wait_from(sv.events.index(back), lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller)
    await asyncio.sleep(0.3)
    await sv.phone("7103", "answer")   # from the next call on: the queue's
    again = await sv.wait_from(sv.events.index(back), is_event("AgentConnect", Channel=caller), 20)
    await asyncio.sleep(1.0)
    await sv.hang_up(caller)
    ended = time.monotonic()
    done["with_return_requeued"] = {
        "uniqueid": connect["Uniqueid"], "number": connect["CallerIDNum"],
        "stints": [("oracle_t", "answered"), ("oracle_t", "answered")], "agents": ["o3", "o3"],
        "talks": [("o3", left["_t"] - t0), ("o3", ended - again["_t"])],
        "transfers": [("transfer_with_return", "o3", NO_ANSWER), ("returned", "o3", NO_ANSWER)],
    }
    await sv.none_left()

    # Three-way: o3 asks for help (*9), then its second line dials *71 9001, talks, hangs
    # up: the three in one room.
    connect, t0 = await connected()
    caller, agent = connect["Channel"], connect["DestChannel"]
    start = sv.mark()
    await asyncio.sleep(0.5)
    await sv.press(agent, "*9")
    await sv.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlHelp")
    line2 = await sv.dial_from("7103", f"*71{THIRD}")
    await sv.wait_from(start, answered_phone(THIRD))
    await asyncio.sleep(0.5)
    await sv.hang_up(line2)
    await sv.wait_from(start, lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlConference")
    await sv.wait_from(start, lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Channel") == agent)
    await asyncio.sleep(1.0)
    await sv.hang_up(agent)     # the agent leaves; caller and third party go on, then hang up
    agent_left = time.monotonic()
    await asyncio.sleep(0.5)
    await sv.clear()
    done["three_way"] = {
        "uniqueid": connect["Uniqueid"], "number": connect["CallerIDNum"],
        "stints": [("oracle_t", "answered")], "agents": ["o3"],
        "talks": [("o3", agent_left - t0)],
        "conference": [("o3", THIRD)], "help": ["o3"],
    }
    await sv.none_left()
    return done


async def asterisk_counters(lab: Lab) -> dict[str, dict]:
    reply = await lab.rec.action({"Action": "QueueStatus"})
    return {e["Queue"]: e for e in reply if e.get("Event") == "QueueParams" and e.get("Queue") in QUEUES}


def test_reports_equal_asterisks_counters_and_what_the_test_did(oracle_site, sandbox, ami_secret, tmp_path):
    queue_log = sandbox["root"] / "var" / "log" / "asterisk" / "queue_log"
    offset = queue_log.stat().st_size
    started = dt.datetime.now(OSLO) - dt.timedelta(minutes=1)

    async def main():
        async with supervision_lab.Lab(ami_secret, sandbox["root"]) as rec:
            lab = Lab(rec, oracle_site.site)
            for queue in QUEUES:
                await lab.reset(queue)   # QueueReset also zeroes the queue's counters
            try:
                mix = await the_mix(lab)
                return mix, await asterisk_counters(lab)
            finally:
                await lab.hang_up_leftovers()
                await rec.clear()
                await lab.rings()
                await rec.action({"Action": "DBDelTree", "Family": supervision_lab.DB_FAMILY})

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
    # oracle_b also took the caller o3 transferred there (##): offered and answered in
    # both queues, one caller.
    t = totals["oracle_t"]
    assert (b["offered"], b["answered"], b["overflow_in"], b["transfer_in"], b["callers"]) == (2, 2, 1, 1, 0)
    # oracle_t: the with-return call nobody took back came in again (transfer_in)
    assert (t["offered"], t["answered"], t["answered_in_sl"], t["transfer_in"], t["callers"]) == (5, 5, 5, 1, 4)
    assert t["transferred_to"] == {"queue:oracle_b": 1, "queue:oracle_t": 1}
    every = totals["(all queues)"]
    assert every["callers"] == len(mix) and every["offered"] == len(mix) + 3
    assert (e["offered"], e["exit_empty"], e["overflow_to"]) == (1, 1, {})  # a hang-up is no overflow
    assert e["exit_paths"] == {"exit_empty -> hangup": 1}

    # That report read the stints (its window is not on whole quarter hours); over the
    # quarter hours around it, the quarter-hour sums the import kept give the same document.
    first = started.replace(minute=started.minute - started.minute % 15, second=0, microsecond=0)
    last = ended.replace(minute=ended.minute - ended.minute % 15, second=0, microsecond=0) + dt.timedelta(minutes=15)
    c = check_request(oracle_site.site, ReportRequest("queues", first.strftime("%Y-%m-%d %H:%M"),
                                                      last.strftime("%Y-%m-%d %H:%M"), "total", hours="office"))
    sums = tally_quarters(engine, c.window, c.queues, c.service_levels, c.short_abandon)
    assert sums is not None
    quarters, scan = (queue_report(t, c.window, c.queues, c.service_levels, c.short_abandon, c.target_pct)
                      for t in (sums, tally_scan(engine, c.window, c.queues, c.service_levels, c.short_abandon)))
    assert quarters == scan and queues_document(engine, c)["totals"] == report["totals"]

    log = build_document(engine, oracle_site.site, ReportRequest("calls", **window))
    calls = {c["call_id"]: c for c in log["calls"]}
    assert len(calls) == len(mix)
    for name, case in mix.items():
        call = calls[case["uniqueid"]]
        stints = [(s["queue"], s["outcome"]) for s in call["children"] if s["kind"] == "stint"]
        assert stints == case["stints"], (name, call)
        exits = [s["exit_to"] for s in call["children"] if s["kind"] == "stint" and s["outcome"] != "answered"]
        assert exits == case.get("exits", [None] * len(exits)), (name, call)
        assert call["caller_number"] == case["number"], (name, call)
        answered = [s for s in call["children"] if s["kind"] == "stint" and s["outcome"] == "answered"]
        assert [s["agent"] for s in answered] == case["agents"], (name, call)
        below = [c for s in call["children"] if s["kind"] == "stint" for c in s["children"]]
        talks = [(c["agent"], c["talk"]) for c in below if c["kind"] == "talk"]
        if "talks" in case:   # whole seconds in queue_log: within a second of the test's clock
            assert [a for a, _ in talks] == [a for a, _ in case["talks"]], (name, call)
            for (_, booked), (_, timed) in zip(talks, case["talks"]):
                assert abs(booked - timed) <= 1.5, (name, talks, case["talks"])
        moves = [(c["kind"], c["agent"], c["target"]) for c in below if c["kind"].startswith(("transfer", "returned"))]
        assert moves == case.get("transfers", []), (name, call)
        parties = [(c["agent"], c["detail"]) for c in below if c["kind"] == "conference"]
        assert parties == case.get("conference", []), (name, call)
        assert [c["agent"] for c in below if c["kind"] == "help"] == case.get("help", []), (name, call)
    waits = {name: [s["wait"] for s in calls[case["uniqueid"]]["children"] if s["kind"] == "stint"] for name, case in mix.items()}
    assert waits["in_sl"][0] <= 2 < waits["after_sl"][0]
    assert waits["short_abandon"][0] < 2 <= waits["long_abandon"][0]
    assert waits["overflow"][0] >= 5
