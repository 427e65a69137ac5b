"""IVR calls end to end: real calls through the sandbox Asterisk, decided by pbxctl's
FastAGI service, asserted from AMI events; each outcome is also what `ivr test` predicts."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from pbxctl.cli import app
from pbxctl.ivr.decide import CallContext
from pbxctl.ivr.walk import walk_call
from pbxctl.storage.callback_list import list_entries
from pbxctl.storage.callbacks import CallbackRequest

from helpers.agiservice import ServiceThread
from pbxctl.asterisk.ami_events import EventRecorder
from pbxctl.asterisk.live_call import is_ivr_channel, outcome, place_call

pytestmark = pytest.mark.asterisk
runner = CliRunner()


@pytest.fixture
def applied_site(example_site):
    result = runner.invoke(app, ["apply", "-s", str(example_site)])
    assert result.exit_code == 0, result.output
    return example_site


@pytest.fixture
def service(applied_site, tmp_path):
    svc = ServiceThread(applied_site, tmp_path / "pbxctl.db").start()
    yield svc
    svc.stop()


def predicted(service: ServiceThread, entry: str, caller: str, digits: list[str]) -> str:
    walk = walk_call(service.holder.get(), entry, CallContext(caller=caller, now=service.clock.now()), digits)
    return walk.destination.split(" ")[0]


CASES = [
    # (id, local time, caller, digits, expected)
    ("open_menu_postcode_east", "2026-12-23 10:00", "+4722445566", ["1", "0150"], "queue:sales_east"),
    ("open_menu_postcode_west", "2026-12-23 10:00", "+4722445566", ["1", "5003"], "queue:sales_west"),
    ("open_postcode_unknown", "2026-12-23 10:00", "+4722445566", ["1", "12", "", ""], "queue:sales_east"),
    ("open_menu_support", "2026-12-23 10:00", "+4722445566", ["2"], "queue:support"),
    ("open_menu_invalid_three_times", "2026-12-23 10:00", "+4722445566", ["7", "8", "5"], "queue:support"),
    ("open_menu_english_link", "2026-12-23 10:00", "+4722445566", ["9", "2"], "queue:sales_east"),
    ("closed_evening", "2026-12-23 19:00", "+4722445566", [], "voicemail:100"),
    ("holiday_exception", "2026-12-24 13:05", "+4722445566", [], "voicemail:100"),
    ("holiday_morning_open", "2026-12-24 10:00", "+4722445566", ["2"], "queue:support"),
    ("vip_caller", "2026-12-23 19:00", "98765432", [], "queue:support"),
    ("blocked_caller", "2026-12-23 10:00", "+4781549300", [], "hangup"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_call_ends_where_the_dry_run_says(service, ami_secret, case):
    _, at, caller, digits, expected = case
    service.set_time(at)
    assert predicted(service, "200", caller, digits) == expected

    async def call():
        async with EventRecorder(ami_secret) as rec:
            channel = await place_call(rec, "200", caller, digits)
            return await outcome(rec, channel)

    assert asyncio.run(call()) == expected


def test_no_input_takes_the_no_input_branch(service, ami_secret):
    service.set_time("2026-12-23 10:00")

    async def call():
        async with EventRecorder(ami_secret) as rec:
            channel = await place_call(rec, "200", "+4722445566", [])
            # three silent prompts of 5 s each, then main_menu.no_input = support_queue
            return await outcome(rec, channel, timeout=30)

    assert asyncio.run(call()) == "queue:support"


def test_lunch_callback_is_recorded(service, ami_secret, sandbox):
    """Recorded, on the callback list, and in queue_log (the books count it). The call is
    decided as if at lunch (the service's clock), so it is no `ivr test --call` and logs."""
    service.set_time("2026-12-22 11:45")
    queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
    logged_before = queue_log.stat().st_size

    async def call():
        async with EventRecorder(ami_secret) as rec:
            channel = await place_call(rec, "200", "+4722445566", [])
            event = await rec.wait_for(lambda e: e.get("Event") == "VarSet" and e.get("Channel") == channel and e.get("Variable") == "PBXCTL_RECORDED" and e.get("Value") == "1")
            result = await outcome(rec, channel)
            return event, result

    _, result = asyncio.run(call())
    assert result == "hangup"
    with Session(service.engine) as session:
        rows = list(session.exec(select(CallbackRequest)))
    assert [(r.queue, r.number, r.source, r.status) for r in rows] == [("support", "+4722445566", "ivr", "open")]
    (entry,) = list_entries(service.engine)
    assert (entry.queue, entry.number, entry.source, entry.call_ids) == ("support", "+4722445566", "ivr", (rows[0].call_id,))
    with queue_log.open("rb") as log:
        log.seek(logged_before)
        lines = [line.decode().strip().split("|") for line in log if b"|PBXCTLCALLBACK|" in line]
    assert [(f[1], f[2], f[5]) for f in lines] == [(rows[0].call_id, "support", "+4722445566")]


def test_service_stopped_mid_call_falls_back(service, ami_secret):
    """The first decisions come from the service; it stops before the menu digit is
    decided; the call must take the entry's fallback (queue support), not drop."""
    service.set_time("2026-12-23 10:00")

    async def call():
        async with EventRecorder(ami_secret) as rec:
            await rec.send({
                "Action": "Originate", "Channel": "Local/200@pbxctl-entries", "Application": "Wait",
                "Data": "30", "CallerID": "Test <+4722445566>", "Async": "true",
            })
            read = await rec.wait_for(lambda e: e.get("Event") == "Newexten" and is_ivr_channel(e) and e.get("Application") == "Read")
            channel = read["Channel"]
            await asyncio.to_thread(service.stop)
            await asyncio.sleep(0.3)
            await rec.send({"Action": "PlayDTMF", "Channel": channel, "Digit": "1", "Duration": "120", "Receive": "true"})
            return await outcome(rec, channel)

    assert asyncio.run(call()) == "queue:support"


def test_imported_routing_list_takes_effect_for_new_calls(service, ami_secret, applied_site):
    """`pbxctl routes import` while the service runs: the next call uses the new value,
    without restarting the service or reloading the dialplan."""
    service.set_time("2026-12-23 10:00")
    new = applied_site.parent / "new-postcodes.csv"
    new.write_text("value,destination\n0001-0999,queue:support\n1000-9999,queue:sales_west\n")
    result = runner.invoke(app, ["routes", "import", "postcodes", str(new), "--site", str(applied_site)])
    assert result.exit_code == 0, result.output
    deadline = time.monotonic() + 5
    while service.holder.get().route_lists["postcodes"].lookup("0150") != "queue:support":
        assert time.monotonic() < deadline, "the service did not pick up the imported list"
        time.sleep(0.1)

    async def call():
        async with EventRecorder(ami_secret) as rec:
            channel = await place_call(rec, "200", "+4722445566", ["1", "0150"])
            return await outcome(rec, channel)

    assert asyncio.run(call()) == "queue:support"


def test_ivr_test_call_behaves_as_if_at_the_given_time(service, applied_site):
    """`pbxctl ivr test --call`: the service's own clock says an open Wednesday morning,
    the call asks for Christmas Eve afternoon and must be treated as closed."""
    service.set_time("2026-12-23 10:00")
    result = runner.invoke(app, ["ivr", "test", "200", "-s", str(applied_site), "--from", "22445566",
                                 "--at", "2026-12-24 13:05", "--call"])
    assert result.exit_code == 0, result.output
    assert "destination: voicemail:100" in result.output
    assert "live call: voicemail:100 (matches the dry run)" in result.output


def test_an_ipv6_fastagi_host_is_reached_by_asterisk(example_site, ami_secret, tmp_path):
    """The generator writes agi://[::1]:PORT/: Asterisk connects to the service on ::1 (a
    call from a blocked caller hangs up only if the service decided; without it the call
    would fall back to queue:support)."""
    text = example_site.read_text()
    old = "fastagi: {host: 127.0.0.1,"
    assert old in text
    example_site.write_text(text.replace(old, 'fastagi: {host: "::1",'))
    result = runner.invoke(app, ["apply", str(example_site)])
    assert result.exit_code == 0, result.output
    svc = ServiceThread(example_site, tmp_path / "pbxctl.db").start()
    try:
        async def call():
            async with EventRecorder(ami_secret) as rec:
                channel = await place_call(rec, "200", "+4781549300", [])
                return await outcome(rec, channel)

        assert asyncio.run(call()) == "hangup"
    finally:
        svc.stop()
        example_site.write_text(text)
        assert runner.invoke(app, ["apply", str(example_site)]).exit_code == 0


WITHHELD_CALLER_CONTEXT = "pbxctl-test-withheld"
WITHHELD_DIALPLAN = f"""; Test-only (tests/test_ivr_asterisk.py): a caller whose trunk delivers the number
; but marks it withheld, as SIP trunks do with Privacy: id.
[{WITHHELD_CALLER_CONTEXT}]
exten => _X.,1,Set(CALLERID(pres)=prohib)
 same => n,Goto(pbxctl-entries,${{EXTEN}},1)
"""


@pytest.fixture
def withheld_dialplan(sandbox, applied_site):
    from helpers.queue_calls import install_dialplan_file

    from helpers.sandbox import sandbox_rx

    if install_dialplan_file(sandbox["config_dir"], "extensions_pbxctl_withheld_test.conf", WITHHELD_DIALPLAN, "withheld caller"):
        sandbox_rx("dialplan reload")


@pytest.mark.parametrize("caller, shown, withheld", [
    ("+4781549300", "hangup", "voicemail:100"),  # on the block list: allowed as anonymous when withheld
    ("98765432", "queue:support", "voicemail:100"),  # on the VIP list: normal (closed -> voicemail) when withheld
])
def test_withheld_number_counts_as_anonymous(service, ami_secret, withheld_dialplan, caller, shown, withheld):
    service.set_time("2026-12-23 19:00")

    async def withheld_call():
        async with EventRecorder(ami_secret) as rec:
            await rec.send({
                "Action": "Originate", "Channel": f"Local/200@{WITHHELD_CALLER_CONTEXT}", "Application": "Wait",
                "Data": "30", "CallerID": f"Test <{caller}>", "Async": "true",
            })
            first = await rec.wait_for(lambda e: e.get("Event") == "Newexten" and is_ivr_channel(e) and e.get("Context") == "pbxctl-entries")
            channel = first["Channel"]
            agi = await rec.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Channel") == channel and e.get("Application") == "AGI")
            return agi["AppData"], await outcome(rec, channel)

    async def shown_call():
        async with EventRecorder(ami_secret) as rec:
            return await outcome(rec, await place_call(rec, "200", caller, []))

    assert asyncio.run(shown_call()) == shown
    app_data, where = asyncio.run(withheld_call())
    assert app_data.endswith(",prohib")  # what the generated dialplan hands the service
    assert where == withheld
