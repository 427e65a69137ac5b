"""IVR decisions as pure functions: decide(loaded, ivr, element, digits, attempt, call).

No socket, no clock: every branch of every deciding element, on the example site and on
small sites written to tmp_path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from pbxctl.ivr.decide import RETRY, CallContext, Decision, NotADecision, decide
from pbxctl.site.load import LoadedSite, load_site

REPO = Path(__file__).resolve().parents[1]
OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
WED_10 = dt.datetime(2026, 12, 23, 10, 0)  # naive: local time of the hours' own zone


@pytest.fixture(scope="module")
def example() -> LoadedSite:
    return load_site(REPO / "conf" / "example.yaml")


def ask(loaded, element, digits="", attempt=0, caller="+4722445566", now=WED_10, ivr="main") -> Decision:
    return decide(loaded, ivr, element, digits, attempt, CallContext(caller=caller, now=now))


def write_site(tmp_path: Path, elements: dict, start: str, **sections) -> LoadedSite:
    """A minimal valid site with one IVR 't' holding `elements`; `sections` adds hours,
    lists, routing_lists, ..."""
    doc = {
        "site": "tiny",
        "numbering": {"country_code": "47"},
        "pbx": {"backend": "asterisk"},
        "agents": {"a": {"name": "A", "extension": "1001"}},
        "queues": {"q": {"strategy": "ring_all", "members": [{"agent": "a"}]},
                   "r": {"strategy": "ring_all", "members": [{"agent": "a"}]}},
        "entries": {"+4721000001": {"ivr": "t"}},
        "ivrs": {"t": {"start": start, "elements": elements}},
        **sections,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_site(path)


def tiny(loaded, element, digits="", attempt=0, caller="+4722445566", now=WED_10) -> Decision:
    return decide(loaded, "t", element, digits, attempt, CallContext(caller=caller, now=now))


# --- hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now, expected, says",
    [
        (dt.datetime(2026, 12, 23, 10, 0), "welcome", "weekly hours on wed say open"),
        (dt.datetime(2026, 12, 23, 8, 0), "welcome", "weekly hours on wed say open"),  # start is inclusive
        (dt.datetime(2026, 12, 23, 11, 45), "lunch_message", "say lunch"),
        (dt.datetime(2026, 12, 23, 12, 0), "welcome", "say open"),  # lunch end is exclusive
        (dt.datetime(2026, 12, 23, 16, 0), "closed_message", "say closed"),  # end exclusive
        (dt.datetime(2026, 12, 23, 7, 59), "closed_message", "say closed"),
        (dt.datetime(2026, 12, 19, 13, 0), "welcome", "weekly hours on sat say open"),
        (dt.datetime(2026, 12, 27, 10, 0), "closed_message", "no hours on sun, default closed"),
        (dt.datetime(2026, 12, 24, 10, 0), "welcome", "dated exception 'Christmas Eve'"),
        (dt.datetime(2026, 12, 24, 13, 5), "closed_message", "dated exception 'Christmas Eve'"),
        (dt.datetime(2026, 12, 25, 10, 0), "closed_message", "dated exception 'Christmas'"),
        (dt.datetime(2026, 12, 26, 10, 0), "closed_message", "dated exception 'Christmas'"),  # a Saturday
        (dt.datetime(2027, 1, 1, 10, 0), "closed_message", "dated exception \"New Year's Day\""),
    ],
)
def test_example_office_hours(example, now, expected, says):
    decision = ask(example, "office_hours", now=now)
    assert decision.next == expected
    assert says in decision.reason
    assert decision.reason.endswith(f"-> branch {expected}")
    assert decision.callback_number is None


@pytest.mark.parametrize(
    "utc, local, expected",
    [
        # 06:30 UTC is 07:30 in Oslo in winter (closed) but 08:30 in summer (open)
        (dt.datetime(2026, 12, 23, 6, 30, tzinfo=UTC), "Wed 2026-12-23 07:30 CET", "closed_message"),
        (dt.datetime(2026, 6, 23, 6, 30, tzinfo=UTC), "Tue 2026-06-23 08:30 CEST", "welcome"),
        (dt.datetime(2026, 12, 23, 10, 40, tzinfo=UTC), "Wed 2026-12-23 11:40 CET", "lunch_message"),
        # 23:30 UTC on the 23rd is already Christmas Eve in Oslo: the exception applies
        (dt.datetime(2026, 12, 23, 23, 30, tzinfo=UTC), "Thu 2026-12-24 00:30 CET", "closed_message"),
        (dt.datetime(2026, 12, 24, 8, 30, tzinfo=UTC), "Thu 2026-12-24 09:30 CET", "welcome"),
    ],
)
def test_aware_times_are_converted_to_the_hours_zone(example, utc, local, expected):
    decision = ask(example, "office_hours", now=utc)
    assert decision.next == expected
    assert decision.reason.startswith(local + ":")


def test_aware_time_in_another_offset(example):
    tokyo = dt.datetime(2026, 12, 23, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))  # 10:00 Oslo
    assert ask(example, "office_hours", now=tokyo).next == "welcome"


@pytest.fixture
def hours_site(tmp_path) -> LoadedSite:
    return write_site(
        tmp_path,
        {
            "all": {"type": "hours", "hours": "ny",
                    "branches": {"open": "queue:q", "lunch": "voicemail:100", "closed": "hangup", "holiday": "voicemail:200"}},
            "some": {"type": "hours", "hours": "ny", "branches": {"open": "queue:q"}, "default": "queue:r"},
        },
        "all",
        hours={"ny": {
            "timezone": "America/New_York",
            "week": {"mon-fri": {"open": ["09:00-12:00", "13:00-17:00"], "lunch": ["12:00-13:00"]}},
            "default": "closed",
            "exceptions": [
                {"name": "Independence Day (observed)", "date": "2026-07-03", "default": "holiday"},
                {"name": "Half day", "date": "2026-12-24", "ranges": {"open": ["09:00-12:00"]}},
            ],
        }},
    )


@pytest.mark.parametrize(
    "now, expected",
    [
        (dt.datetime(2026, 7, 1, 10, 0), "queue:q"),  # naive = New York local
        (dt.datetime(2026, 7, 1, 12, 30), "voicemail:100"),  # naive 12:30 is lunch there (as UTC it would be 08:30)
        (dt.datetime(2026, 7, 1, 17, 0), "hangup"),
        (dt.datetime(2026, 7, 4, 10, 0), "hangup"),  # Saturday
        (dt.datetime(2026, 7, 3, 10, 0), "voicemail:200"),  # exception with its own default category
        (dt.datetime(2026, 12, 24, 11, 59), "queue:q"),
        (dt.datetime(2026, 12, 24, 12, 30), "hangup"),  # exception: no lunch that day
        # aware: 13:30 UTC is 09:30 EDT in July (open) and 08:30 EST in January (closed)
        (dt.datetime(2026, 7, 1, 13, 30, tzinfo=UTC), "queue:q"),
        (dt.datetime(2026, 1, 7, 13, 30, tzinfo=UTC), "hangup"),
        (dt.datetime(2026, 1, 7, 12, 30, tzinfo=NEW_YORK), "voicemail:100"),
        (dt.datetime(2026, 1, 7, 18, 30, tzinfo=OSLO), "voicemail:100"),  # = 12:30 in New York
    ],
)
def test_hours_branches_on_a_small_site(hours_site, now, expected):
    assert tiny(hours_site, "all", now=now).next == expected


@pytest.mark.parametrize(
    "now, expected, via",
    [
        (dt.datetime(2026, 7, 1, 10, 0), "queue:q", "branch"),
        (dt.datetime(2026, 7, 1, 12, 30), "queue:r", "default"),  # lunch has no branch
        (dt.datetime(2026, 7, 1, 20, 0), "queue:r", "default"),
        (dt.datetime(2026, 7, 3, 10, 0), "queue:r", "default"),
    ],
)
def test_hours_default_branch(hours_site, now, expected, via):
    decision = tiny(hours_site, "some", now=now)
    assert decision.next == expected
    assert decision.reason.endswith(f"-> {via} {expected}")


def test_hours_ignores_caller_and_input(hours_site):
    a = tiny(hours_site, "all", digits="9", attempt=5, caller="unknown", now=dt.datetime(2026, 7, 1, 10, 0))
    assert a.next == "queue:q"


# --- menu ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, expected",
    [("1", "postcode"), ("2", "support_queue"), ("3", "offer_callback"), ("9", "to_english"), (" 2 ", "support_queue")],
)
@pytest.mark.parametrize("attempt", [0, 1, 2])
def test_menu_valid_key_on_any_attempt(example, key, expected, attempt):
    decision = ask(example, "main_menu", key, attempt)
    assert decision == Decision(expected, f"pressed {key.strip()} -> {expected}")


@pytest.mark.parametrize("key", ["4", "0", "*", "#", "12", "abc", "1#", "\u0661"])
def test_menu_invalid_retries_then_takes_invalid(example, key):
    # retries: 2 -> three prompts in all
    first = ask(example, "main_menu", key, 0)
    second = ask(example, "main_menu", key, 1)
    last = ask(example, "main_menu", key, 2)
    assert first.next == RETRY and "attempt 1 of 3, asking again" in first.reason
    assert second.next == RETRY and "attempt 2 of 3, asking again" in second.reason
    assert last.next == "support_queue" and last.reason.endswith("no attempts left -> support_queue")
    assert "is not an option (1, 2, 3, 9)" in first.reason
    # non-DTMF input is shown quoted so an engineer sees what arrived
    shown = key if set(key) <= set("0123456789*#") else repr(key)
    assert first.reason.startswith(f"{shown} is not an option")


@pytest.mark.parametrize("digits", ["", "   "])
def test_menu_no_input_retries_then_takes_no_input(example, digits):
    assert ask(example, "main_menu", digits, 0).next == RETRY
    assert ask(example, "main_menu", digits, 1).next == RETRY
    last = ask(example, "main_menu", digits, 2)
    assert last.next == "support_queue"
    assert last.reason == "no input; no attempts left -> support_queue"


def test_menu_attempt_past_retries_still_ends(example):
    assert ask(example, "main_menu", "7", 9).next == "support_queue"


def test_english_menu_options_are_destinations(example):
    assert ask(example, "menu", "1", ivr="english").next == "queue:support"
    assert ask(example, "menu", "2", ivr="english").next == "queue:sales_east"
    assert ask(example, "menu", "0", ivr="english").next == "back"
    # english.menu has the default retries (2)
    assert ask(example, "menu", "5", 1, ivr="english").next == RETRY
    assert ask(example, "menu", "5", 2, ivr="english").next == "queue:support"
    assert ask(example, "menu", "", 2, ivr="english").next == "queue:support"


@pytest.fixture
def star_menu(tmp_path) -> LoadedSite:
    return write_site(
        tmp_path,
        {"m": {"type": "menu", "prompt": "p", "retries": 1,
               "options": {"*": "queue:q", "#": "voicemail:100", "0": "hangup", "1": "queue:r"},
               "invalid": "extension:1001", "no_input": "transfer:+4722334455"}},
        "m",
    )


@pytest.mark.parametrize("key, expected", [("*", "queue:q"), ("#", "voicemail:100"), ("0", "hangup"), ("1", "queue:r")])
def test_menu_star_and_hash_options(star_menu, key, expected):
    assert tiny(star_menu, "m", key).next == expected


def test_menu_with_one_retry(star_menu):
    assert tiny(star_menu, "m", "5", 0).next == RETRY
    assert tiny(star_menu, "m", "5", 1).next == "extension:1001"
    assert tiny(star_menu, "m", "**", 1).next == "extension:1001"
    assert tiny(star_menu, "m", "", 0).next == RETRY
    assert tiny(star_menu, "m", "", 1).next == "transfer:+4722334455"


def test_menu_without_retries_decides_at_once(tmp_path):
    loaded = write_site(
        tmp_path,
        {"m": {"type": "menu", "prompt": "p", "retries": 0, "options": {"1": "queue:q"},
               "invalid": "queue:r", "no_input": "hangup"}},
        "m",
    )
    assert tiny(loaded, "m", "2").next == "queue:r"
    assert tiny(loaded, "m", "").next == "hangup"


# --- advanced menu -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits, expected",
    [
        ("0150", "queue:sales_east"),
        ("0001", "queue:sales_east"),  # first value of a range
        ("1299", "queue:sales_east"),  # last value of a range
        ("4000", "queue:sales_west"),
        ("5003", "queue:sales_west"),
        ("9300", "queue:support"),
        ("9999", "queue:support"),
        ("0150#", "queue:sales_east"),  # trailing terminator
        ("0150##", "queue:sales_east"),
        (" 5003 ", "queue:sales_west"),
    ],
)
def test_example_postcode_found(example, digits, expected):
    decision = ask(example, "postcode", digits)
    assert decision.next == expected
    assert decision.reason == f"{digits.strip().rstrip('#')} found in routing list 'postcodes' -> {expected}"


@pytest.mark.parametrize(
    "digits, why",
    [
        ("0000", "0000 is not in routing list 'postcodes'"),
        ("150", "150 has 3 digits, expected 4-4"),
        ("01500", "01500 has 5 digits, expected 4-4"),
        ("01a0", "'01a0' is not digits"),
        ("*150", "'*150' is not digits"),
        ("01#5", "'01#5' is not digits"),
        ("\u0660\u0661\u0665\u0660", "is not digits"),  # Arabic-Indic digits are not DTMF
    ],
)
def test_example_postcode_invalid(example, digits, why):
    # postcode has the default retries: 2
    first = ask(example, "postcode", digits, 0)
    assert first.next == RETRY
    assert why in first.reason
    last = ask(example, "postcode", digits, 2)
    assert last.next == "queue:sales_east"  # the element's invalid destination
    assert last.reason.endswith("no attempts left -> queue:sales_east")


@pytest.mark.parametrize("digits", ["", "#", "  "])
def test_example_postcode_no_input(example, digits):
    assert ask(example, "postcode", digits, 0).next == RETRY
    last = ask(example, "postcode", digits, 2)
    assert last == Decision("queue:sales_east", "no input; no attempts left -> queue:sales_east")


@pytest.fixture
def adv_site(tmp_path) -> LoadedSite:
    return write_site(
        tmp_path,
        {"adv": {"type": "advanced_menu", "prompt": "p", "routing_list": "custs", "min_digits": 3, "max_digits": 5,
                 "retries": 1, "invalid": "queue:r", "no_input": "hangup"}},
        "adv",
        routing_lists={"custs": {"entries": {"100": "queue:q", "200-299": "voicemail:100", "12345": "transfer:+4722334455",
                                             "0250": "extension:1001"}}},
    )


@pytest.mark.parametrize(
    "digits, expected",
    [
        ("100", "queue:q"),
        ("200", "voicemail:100"),
        ("250", "voicemail:100"),
        ("299#", "voicemail:100"),
        ("12345", "transfer:+4722334455"),
        ("0250", "extension:1001"),  # width matters: 0250 is its own value, not 250
    ],
)
def test_advanced_menu_match_and_range(adv_site, digits, expected):
    assert tiny(adv_site, "adv", digits).next == expected


@pytest.mark.parametrize(
    "digits, why",
    [
        ("300", "300 is not in routing list 'custs'"),
        ("0100", "0100 is not in routing list 'custs'"),  # 100 is listed with 3 digits only
        ("12", "12 has 2 digits, expected 3-5"),
        ("123456", "123456 has 6 digits, expected 3-5"),
        ("2x0", "'2x0' is not digits"),
    ],
)
def test_advanced_menu_rejects(adv_site, digits, why):
    first = tiny(adv_site, "adv", digits, 0)
    assert first.next == RETRY and why in first.reason
    assert "attempt 1 of 2" in first.reason
    assert tiny(adv_site, "adv", digits, 1).next == "queue:r"


def test_advanced_menu_no_input(adv_site):
    assert tiny(adv_site, "adv", "", 0).next == RETRY
    assert tiny(adv_site, "adv", "", 1).next == "hangup"
    assert tiny(adv_site, "adv", "#", 1).next == "hangup"


# --- vip -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caller",
    [
        "+4722334455", "+47 22 33 44 55", "004722334455", "0047 22 33 44 55", "22334455", "22 33 44 55",
        "22-33-44-55", "+47 (0)22334455", " +4722334455 ",
        "+4791234567", "91234567", "004791234567",  # listed as 004791234567
        "98765432", "+4798765432",  # listed in national form
    ],
)
def test_vip_listed_in_any_form(example, caller):
    decision = ask(example, "vip_check", caller=caller)
    assert decision.next == "vip_queue"
    assert "is on list 'vip'" in decision.reason


@pytest.mark.parametrize("caller", ["+4722445566", "22445566", "+4681549300", "+4722334456", "4722334455"])
def test_vip_unlisted(example, caller):
    decision = ask(example, "vip_check", caller=caller)
    assert decision.next == "office_hours"
    assert "is not on list 'vip'" in decision.reason


@pytest.mark.parametrize("caller", ["", None, "unknown", "anonymous", "Anonymous", "restricted", "<unknown>", "12"])
def test_vip_anonymous_normal_by_default(example, caller):
    decision = ask(example, "vip_check", caller=caller)
    assert decision.next == "office_hours"
    assert "treated as normal" in decision.reason


@pytest.fixture
def vip_anon_site(tmp_path) -> LoadedSite:
    return write_site(
        tmp_path,
        {"v": {"type": "vip", "list": "vips", "vip": "queue:q", "normal": "queue:r", "anonymous": "vip"}},
        "v",
        lists={"vips": {"numbers": ["+4722334455"]}},
    )


@pytest.mark.parametrize("caller", ["", "unknown", "anonymous"])
def test_vip_anonymous_as_vip(vip_anon_site, caller):
    decision = tiny(vip_anon_site, "v", caller=caller)
    assert decision.next == "queue:q"
    assert "treated as vip" in decision.reason


def test_vip_anonymous_as_vip_keeps_numbers_apart(vip_anon_site):
    assert tiny(vip_anon_site, "v", caller="22334455").next == "queue:q"
    assert tiny(vip_anon_site, "v", caller="22445566").next == "queue:r"


# --- block ---------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["+4781549300", "81549300", "004781549300", "+47 815 49 300"])
def test_block_listed(example, caller):
    decision = ask(example, "screen", caller=caller)
    assert decision.next == "hangup"
    assert "is on block list 'blocked'" in decision.reason


@pytest.mark.parametrize("caller", ["+4722445566", "81549301"])
def test_block_unlisted(example, caller):
    assert ask(example, "screen", caller=caller).next == "vip_check"


@pytest.mark.parametrize("caller", ["", "unknown", "anonymous"])
def test_block_anonymous_allowed_by_default(example, caller):
    decision = ask(example, "screen", caller=caller)
    assert decision.next == "vip_check"
    assert "anonymous callers allowed" in decision.reason


@pytest.fixture
def block_site(tmp_path) -> LoadedSite:
    (tmp_path / "nuisance.csv").write_text("number\n# known robocallers\n+4790000001\n90000002,note\n")
    return write_site(
        tmp_path,
        {"b": {"type": "block", "list": "bad", "next": "queue:q", "blocked": "voicemail:100", "anonymous": "block"}},
        "b",
        lists={"bad": {"numbers": ["+4790000003"], "file": "nuisance.csv"}},
    )


@pytest.mark.parametrize("caller, expected", [
    ("+4790000001", "voicemail:100"),  # from the file
    ("90000002", "voicemail:100"),  # file, national form
    ("004790000003", "voicemail:100"),  # inline
    ("+4790000004", "queue:q"),
    ("", "voicemail:100"),
    ("unknown", "voicemail:100"),
    ("anonymous", "voicemail:100"),
])
def test_block_anonymous_blocked(block_site, caller, expected):
    assert tiny(block_site, "b", caller=caller).next == expected


def test_block_anonymous_blocked_says_so(block_site):
    assert "anonymous callers blocked" in tiny(block_site, "b", caller="").reason


# --- withheld numbers (CALLERID(pres)) -------------------------------------------------------

WITHHELD = ["prohib_not_screened", "prohib_passed_screen", "prohib_failed_screen", "prohib", "unavailable"]
SHOWN = ["", "allowed", "allowed_not_screened", "allowed_passed_screen", "allowed_failed_screen"]


def withheld(loaded, element, presentation, caller, ivr="t") -> Decision:
    call = CallContext(caller=caller, now=WED_10, presentation=presentation)
    return decide(loaded, ivr, element, "", 0, call)


@pytest.mark.parametrize("presentation", WITHHELD + ["PROHIB", " prohib "])
def test_withheld_listed_number_is_blocked_as_anonymous(block_site, presentation):
    # The trunk delivers a number that is not on the list; withheld, it counts as anonymous.
    decision = withheld(block_site, "b", presentation, caller="+4790000004")
    assert decision.next == "voicemail:100"
    assert decision.reason == (
        f"number withheld (presentation {presentation.strip().lower()}): anonymous callers blocked -> voicemail:100"
    )


@pytest.mark.parametrize("presentation", SHOWN)
def test_shown_number_is_judged_by_the_list(block_site, presentation):
    assert withheld(block_site, "b", presentation, caller="+4790000004").next == "queue:q"
    assert withheld(block_site, "b", presentation, caller="+4790000001").next == "voicemail:100"


@pytest.mark.parametrize("presentation", WITHHELD)
def test_withheld_caller_allowed_by_default(example, presentation):
    decision = withheld(example, "screen", presentation, caller="+4781549300", ivr="main")
    # Anonymous callers are allowed by the example's block element, even a listed number withheld.
    assert decision.next == "vip_check"
    assert "anonymous callers allowed" in decision.reason


@pytest.mark.parametrize("presentation", WITHHELD)
def test_withheld_vip_number_is_not_vip(example, presentation):
    # 98765432 is on the example's VIP list; withheld, it is anonymous: normal by default.
    decision = withheld(example, "vip_check", presentation, caller="98765432", ivr="main")
    assert decision.next == "office_hours"
    assert "treated as normal" in decision.reason


@pytest.mark.parametrize("presentation", WITHHELD)
def test_withheld_caller_is_vip_when_anonymous_means_vip(vip_anon_site, presentation):
    assert withheld(vip_anon_site, "v", presentation, caller="22445566").next == "queue:q"
    assert withheld(vip_anon_site, "v", "allowed", caller="22445566").next == "queue:r"


# --- callback ------------------------------------------------------------------------------


def test_callback_records_own_number(example):
    decision = ask(example, "offer_callback", caller="22445566")
    assert decision.next == "hangup"
    assert decision.callback_number == "+4722445566"
    assert "callback to +4722445566 recorded for queue 'support'" in decision.reason


def test_callback_ignores_typed_digits_when_not_asking(example):
    assert ask(example, "offer_callback", digits="98765432", caller="+4722445566").callback_number == "+4722445566"


@pytest.mark.parametrize("caller", ["", "unknown", "anonymous", "123", "+0123456789"])
def test_callback_unusable_own_number_not_recorded(example, caller):
    decision = ask(example, "offer_callback", caller=caller)
    assert decision.next == "hangup"
    assert decision.callback_number is None
    assert decision.reason.startswith("callback not recorded:")


@pytest.mark.parametrize("caller, why", [("82012345", "denied pattern"), ("+46812345678", "outside country +47"),
                                         ("81512345", "none of the allowed patterns")])
def test_callback_to_a_number_the_site_may_not_dial_is_not_recorded(example, caller, why):
    decision = ask(example, "offer_callback", caller=caller)
    assert decision.callback_number is None and decision.next == "hangup"
    assert decision.reason.startswith("callback not recorded:") and why in decision.reason


@pytest.fixture
def ask_site(tmp_path) -> LoadedSite:
    return write_site(
        tmp_path,
        {"cb": {"type": "callback", "queue": "q", "prompt": "enter-number", "ask_number": True, "next": "voicemail:100"}},
        "cb",
    )


@pytest.mark.parametrize(
    "typed, number",
    [("98765432", "+4798765432"), ("98765432#", "+4798765432"), ("004798765432", "+4798765432"),
     ("004412345678", "+4412345678")],
)
def test_callback_ask_number_uses_typed_number(ask_site, typed, number):
    decision = tiny(ask_site, "cb", digits=typed, caller="+4722445566")
    assert decision.callback_number == number
    assert decision.next == "voicemail:100"


@pytest.mark.parametrize("typed", ["", "#", "12", "*98765432", "00012345678", "1234567890123456789"])
def test_callback_ask_number_unusable_not_recorded(ask_site, typed):
    # the caller's own (good) number is not taken instead of what was typed
    decision = tiny(ask_site, "cb", digits=typed, caller="+4722445566")
    assert decision.callback_number is None
    assert decision.next == "voicemail:100"
    assert decision.reason.startswith("callback not recorded:")


# --- not decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ivr, element, kind",
    [("main", "welcome", "play"), ("main", "vip_queue", "queue"), ("main", "support_queue", "queue"),
     ("main", "to_english", "goto_ivr"), ("main", "voicemail", "voicemail"), ("english", "back", "goto_ivr")],
)
def test_elements_that_do_not_branch(example, ivr, element, kind):
    with pytest.raises(NotADecision, match=f"{ivr}.{element} is a {kind} element"):
        ask(example, element, ivr=ivr)


def test_transfer_and_hangup_do_not_branch(tmp_path):
    loaded = write_site(
        tmp_path,
        {"m": {"type": "menu", "prompt": "p", "options": {"1": "x", "2": "bye"}, "invalid": "x", "no_input": "bye"},
         "x": {"type": "transfer", "number": "+4722334455"},
         "bye": {"type": "hangup", "prompt": "goodbye"}},
        "m",
    )
    for element in ("x", "bye"):
        with pytest.raises(NotADecision):
            tiny(loaded, element)


@pytest.mark.parametrize("ivr, element", [("main", "nope"), ("nope", "screen"), ("", ""), ("main", "MAIN_MENU")])
def test_unknown_element_or_ivr(example, ivr, element):
    with pytest.raises(NotADecision, match="no element"):
        ask(example, element, ivr=ivr)


def test_not_a_decision_is_a_value_error():
    assert issubclass(NotADecision, ValueError)
