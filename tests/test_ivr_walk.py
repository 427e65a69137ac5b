"""`walk_call` and `pbxctl ivr test`: a call followed through the example IVRs with the
decisions the live service would give (no PBX involved)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbxctl.cli import app
from pbxctl.ivr.decide import CallContext
from pbxctl.ivr.walk import MAX_STEPS, Step, UnknownEntry, walk_call
from pbxctl.site.load import load_site

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "conf" / "example.yaml"
MAIN = "+4721000000"
ENGLISH = "+4721000099"
CALLER = "+4722445566"
OPEN = dt.datetime(2026, 12, 23, 10, 0)  # Wednesday, naive = Oslo local time
LUNCH = dt.datetime(2026, 12, 22, 11, 45)
EVENING = dt.datetime(2026, 12, 23, 19, 0)

runner = CliRunner()


@pytest.fixture(scope="module")
def example():
    return load_site(SITE)


def walk(loaded, digits=(), caller=CALLER, at=OPEN, entry=MAIN):
    return walk_call(loaded, entry, CallContext(caller=caller, now=at, entry=entry), list(digits))


def path_of(result) -> list[str]:
    return [f"{s.ivr}.{s.element}" for s in result.steps]


# --- walk_call -----------------------------------------------------------------------------


def test_vip_caller_skips_hours_and_menu(example):
    result = walk(example, caller="98765432", at=EVENING)
    assert path_of(result) == ["main.screen", "main.vip_check", "main.vip_queue"]
    assert result.destination == "queue:support (priority 10)"
    assert result.steps[-1] == Step("main", "vip_queue", "queue", "queue:support", "joins queue support with priority 10")
    assert result.callbacks == [] and result.unused_digits == []


def test_blocked_caller_is_hung_up(example):
    result = walk(example, caller="004781549300")
    assert path_of(result) == ["main.screen"]
    assert result.steps[0].outcome == "hangup"
    assert result.destination == "hangup"


@pytest.mark.parametrize(
    "digits, destination",
    [
        (["1", "0150"], "queue:sales_east"),
        (["1", "5003"], "queue:sales_west"),
        (["1", "9301"], "queue:support"),
        (["1", "12", "", ""], "queue:sales_east"),  # bad, then silent twice: postcode.no_input
        (["1", "0000", "0000", "0000"], "queue:sales_east"),  # not listed three times: postcode.invalid
        (["1", "0000", "4001"], "queue:sales_west"),  # a good value on the second attempt
        (["2"], "queue:support (priority 0)"),
    ],
)
def test_open_menu_paths(example, digits, destination):
    result = walk(example, digits)
    assert result.destination == destination
    assert path_of(result)[:5] == ["main.screen", "main.vip_check", "main.office_hours", "main.welcome", "main.main_menu"]
    assert result.unused_digits == []


def test_postcode_steps_show_input_and_reason(example):
    result = walk(example, ["1", "12", "0150"])
    postcode = [s for s in result.steps if s.element == "postcode"]
    assert [(s.outcome, s.why) for s in postcode] == [
        ("retry", "input '12': 12 has 2 digits, expected 4-4; attempt 1 of 3, asking again"),
        ("queue:sales_east", "input '0150': 0150 found in routing list 'postcodes' -> queue:sales_east"),
    ]


def test_lunch_offers_callback_and_records_it(example):
    result = walk(example, at=LUNCH)
    assert path_of(result) == ["main.screen", "main.vip_check", "main.office_hours", "main.lunch_message", "main.offer_callback"]
    assert result.callbacks == ["+4722445566"]
    assert result.destination == "hangup"


def test_lunch_anonymous_caller_gets_no_callback(example):
    result = walk(example, caller="", at=LUNCH)
    assert result.callbacks == []
    assert result.steps[-1].why.startswith("callback not recorded: no caller number")
    assert result.destination == "hangup"


def test_menu_option_three_records_a_callback(example):
    result = walk(example, ["3"])
    assert result.callbacks == [CALLER]
    assert result.destination == "hangup"


@pytest.mark.parametrize(
    "at, destination, exception",
    [
        (EVENING, "voicemail:100", None),
        (dt.datetime(2026, 12, 27, 11, 0), "voicemail:100", None),  # Sunday
        (dt.datetime(2026, 12, 24, 13, 5), "voicemail:100", "Christmas Eve"),
        (dt.datetime(2026, 12, 25, 10, 0), "voicemail:100", "Christmas"),
        (dt.datetime(2027, 1, 1, 10, 0), "voicemail:100", "New Year's Day"),
        (dt.datetime(2026, 12, 24, 10, 0), "queue:support (priority 0)", "Christmas Eve"),  # open morning, then '2'
    ],
)
def test_closed_and_holidays(example, at, destination, exception):
    result = walk(example, ["2"], at=at)
    assert result.destination == destination
    hours = next(s for s in result.steps if s.element == "office_hours")
    if exception:
        assert "dated exception" in hours.why and exception in hours.why
    else:
        assert "dated exception" not in hours.why
    if destination.startswith("voicemail"):
        assert path_of(result)[-2:] == ["main.closed_message", "main.voicemail"]
        assert result.unused_digits == ["2"]


def test_aware_time_is_converted(example):
    # 09:00 UTC = 10:00 in Oslo (open); 18:00 UTC = 19:00 (closed)
    assert walk(example, ["2"], at=dt.datetime(2026, 12, 23, 9, 0, tzinfo=dt.timezone.utc)).destination.startswith("queue:support")
    assert walk(example, ["2"], at=dt.datetime(2026, 12, 23, 18, 0, tzinfo=dt.timezone.utc)).destination == "voicemail:100"


@pytest.mark.parametrize(
    "digits, why_prefixes",
    [
        (["7", "8", "5"], ["input '7': 7 is not an option", "input '8': 8 is not an option", "input '5': 5 is not an option"]),
        ([], ["input '': no input", "input '': no input", "input '': no input"]),
        (["", "", ""], ["input '': no input", "input '': no input", "input '': no input"]),
        (["#", "", "*"], ["input '#': # is not an option", "input '': no input", "input '*': * is not an option"]),
    ],
)
def test_menu_retries_then_support(example, digits, why_prefixes):
    result = walk(example, digits)
    menu = [s for s in result.steps if s.element == "main_menu"]
    assert [s.outcome for s in menu] == ["retry", "retry", "support_queue"]
    assert [s.why[: len(p)] for s, p in zip(menu, why_prefixes)] == why_prefixes
    assert result.destination == "queue:support (priority 0)"


def test_goto_ivr_to_english_and_back(example):
    result = walk(example, ["9", "0", "2"])
    assert path_of(result) == [
        "main.screen", "main.vip_check", "main.office_hours", "main.welcome", "main.main_menu", "main.to_english",
        "english.menu", "english.back",
        "main.screen", "main.vip_check", "main.office_hours", "main.welcome", "main.main_menu", "main.support_queue",
    ]
    kinds = {(s.ivr, s.element): (s.kind, s.outcome) for s in result.steps}
    assert kinds[("main", "to_english")] == ("goto_ivr", "ivr:english")
    assert kinds[("english", "back")] == ("goto_ivr", "ivr:main")
    assert result.destination == "queue:support (priority 0)"


def test_menu_attempts_restart_after_a_round_trip(example):
    # one bad key before leaving for english, then three more chances back in main
    result = walk(example, ["7", "9", "0", "7", "7", "7"])
    menu = [s.outcome for s in result.steps if s.element == "main_menu"]
    assert menu == ["retry", "to_english", "retry", "retry", "support_queue"]


@pytest.mark.parametrize("digits, destination", [(["1"], "queue:support"), (["2"], "queue:sales_east"), (["4", "4", "4"], "queue:support"), ([], "queue:support")])
def test_english_entry(example, digits, destination):
    result = walk(example, digits, entry=ENGLISH)
    assert path_of(result)[0] == "english.menu"
    assert result.destination == destination


def test_english_entry_back_to_main_goes_through_screening(example):
    result = walk(example, ["0", "2"], caller="+4781549300", entry=ENGLISH)
    assert path_of(result) == ["english.menu", "english.back", "main.screen"]
    assert result.destination == "hangup"
    assert result.unused_digits == ["2"]


@pytest.mark.parametrize(
    "digits, caller, unused",
    [
        (["2", "5", "6"], CALLER, ["5", "6"]),
        (["1", "0150", "9"], CALLER, ["9"]),
        (["1"], "98765432", ["1"]),  # a VIP never reaches the menu
        (["", "2", ""], CALLER, [""]),
    ],
)
def test_unused_digits_are_reported(example, digits, caller, unused):
    assert walk(example, digits, caller=caller).unused_digits == unused


def test_internal_entry_runs_the_same_ivr(example):
    assert walk(example, ["1", "5003"], entry="200").destination == "queue:sales_west"


@pytest.mark.parametrize("entry", ["+4799999999", "4721000000", "", "201"])
def test_unknown_entry_raises(example, entry):
    with pytest.raises(UnknownEntry, match=r"no entry number .* in site 'oslo' \(entries: \+4721000000, 200, \+4721000099\)"):
        walk(example, entry=entry)


def test_endless_caller_loop_is_cut_off(example):
    result = walk(example, ["9", "0"] * 40)
    assert len(result.steps) == MAX_STEPS
    assert result.destination == f"(stopped after {MAX_STEPS} steps)"


# --- pbxctl ivr test -----------------------------------------------------------------------


def ivr_test(*args: str, env: dict | None = None):
    return runner.invoke(app, ["ivr", "test", *args], env=env)


def test_cli_prints_each_step_and_destination():
    result = ivr_test(MAIN, "-s", str(SITE), "--from", CALLER, "--at", "2026-12-23 10:00", "--digits", "1,0150")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [
        "call to +4721000000 from +4722445566 at 2026-12-23 10:00",
        " 1. main.screen [block] -> vip_check: +4722445566 is not on block list 'blocked' -> vip_check",
        " 2. main.vip_check [vip] -> office_hours: +4722445566 is not on list 'vip' -> office_hours",
        " 3. main.office_hours [hours] -> welcome: Wed 2026-12-23 10:00 CET: weekly hours on wed say open -> branch welcome",
        " 4. main.welcome [play] -> main_menu: plays custom/welcome",
        " 5. main.main_menu [menu] -> postcode: input '1': pressed 1 -> postcode",
        " 6. main.postcode [advanced_menu] -> queue:sales_east: input '0150': 0150 found in routing list 'postcodes' -> queue:sales_east",
        "destination: queue:sales_east",
    ]


def test_cli_vip_with_aware_time():
    result = ivr_test(MAIN, "--site", str(SITE), "--from", "98765432", "--at", "2026-12-23T18:00+00:00")
    assert result.exit_code == 0, result.output
    assert "call to +4721000000 from 98765432 at 2026-12-23 18:00 UTC" in result.stdout
    assert " 3. main.vip_queue [queue] -> queue:support: joins queue support with priority 10" in result.stdout
    assert result.stdout.splitlines()[-1] == "destination: queue:support (priority 10)"


def test_cli_retries_empty_items_and_unused_input():
    result = ivr_test(MAIN, "-s", str(SITE), "--from", CALLER, "--at", "2026-12-23 10:00", "--digits", "7,,2,5,6")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert " 5. main.main_menu [menu] -> retry: input '7': 7 is not an option (1, 2, 3, 9); attempt 1 of 3, asking again" in out
    assert " 6. main.main_menu [menu] -> retry: input '': no input; attempt 2 of 3, asking again" in out
    assert " 7. main.main_menu [menu] -> support_queue: input '2': pressed 2 -> support_queue" in out
    assert "destination: queue:support (priority 0)" in out
    assert out.splitlines()[-1] == "unused input: 5,6"


def test_cli_anonymous_blocked_holiday():
    result = ivr_test("200", "-s", str(SITE), "--at", "2026-12-25 10:00")
    assert result.exit_code == 0, result.output
    assert "call to 200 from (anonymous) at 2026-12-25 10:00" in result.stdout
    assert "dated exception 'Christmas' (2026-12-25..2026-12-26) says closed" in result.stdout
    assert result.stdout.splitlines()[-1] == "destination: voicemail:100"

    blocked = ivr_test(MAIN, "-s", str(SITE), "--from", "+4781549300", "--at", "2026-12-23 10:00")
    assert blocked.stdout.splitlines()[-2:] == [
        " 1. main.screen [block] -> hangup: +4781549300 is on block list 'blocked' -> hangup",
        "destination: hangup",
    ]


def test_cli_site_from_environment():
    result = ivr_test(ENGLISH, "--at", "2026-12-23 10:00", "--digits", "2", env={"PBXCTL_SITE": str(SITE)})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "destination: queue:sales_east"


@pytest.mark.parametrize("digits, bad", [("1a", "1a"), ("1,x", "x"), ("1, 2", " 2"), ("+47", "+47")])
def test_cli_rejects_non_dtmf_digits(digits, bad):
    result = ivr_test(MAIN, "-s", str(SITE), "--at", "2026-12-23 10:00", "--digits", digits)
    assert result.exit_code == 1
    assert f"pbxctl: --digits: {bad!r} is not DTMF (0-9, * and #)" in result.stderr
    assert "destination:" not in result.output


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-01 10:00", "2026-12-23 25:00", "23.12.2026 10:00", ""])
def test_cli_rejects_bad_time(at):
    result = ivr_test(MAIN, "-s", str(SITE), "--at", at)
    assert result.exit_code == 1
    assert f"pbxctl: --at {at!r}: give a local time like '2026-12-24 13:05' (or ISO 8601 with an offset)" in result.stderr
    assert "destination:" not in result.output


def test_cli_unknown_entry():
    result = ivr_test("+4799999999", "-s", str(SITE), "--at", "2026-12-23 10:00")
    assert result.exit_code == 1
    assert "pbxctl: no entry number '+4799999999' in site 'oslo' (entries: +4721000000, 200, +4721000099)" in result.stderr


def test_cli_broken_site(tmp_path):
    broken = tmp_path / "site.yaml"
    broken.write_text(SITE.read_text().replace("list: vip,", "list: vips,"))
    (tmp_path / "postcodes.csv").write_text((REPO / "conf" / "postcodes.csv").read_text())
    result = ivr_test(MAIN, "-s", str(broken), "--at", "2026-12-23 10:00")
    assert result.exit_code == 1
    assert "unknown caller list 'vips'" in result.stderr
    assert "destination:" not in result.output
