"""check_outbound: which numbers a callback may dial (E.164, allowed/denied patterns,
international, never emergency numbers)."""

from __future__ import annotations

import pytest

from pbxctl.domain.outbound_numbers import EMERGENCY_NUMBERS, BadPattern, OutboundPolicy, check_outbound, compile_pattern
from pbxctl.domain.phone_numbers import NumberingPlan

NORWAY = OutboundPolicy(
    NumberingPlan("47"),
    allowed=("+47[49]XXXXXXX", "+472XXXXXXX", "+473XXXXXXX", "+475XXXXXXX", "+476XXXXXXX", "+477XXXXXXX"),
    denied=("+4782XXXXXX",),
)
UK = OutboundPolicy(NumberingPlan("44", "00", "0"), allowed=("+447XXXXXXXXX", "+44[12]X."), denied=("+449XXXXXXXXX",))


@pytest.mark.parametrize("raw, e164", [
    ("91234567", "+4791234567"),
    ("+47 912 34 567", "+4791234567"),
    ("0047 22 33 44 55", "+4722334455"),
    ("41234567", "+4741234567"),
])
def test_allowed_numbers_come_back_in_e164(raw, e164):
    decision = check_outbound(raw, NORWAY)
    assert (decision.number, decision.refused) == (e164, None)
    assert decision.allowed and "allowed pattern" in decision.why


@pytest.mark.parametrize("raw, code", [
    ("112", "emergency"),
    ("+47 112", "emergency"),
    ("113", "emergency"),
    ("110", "emergency"),
    ("911", "emergency"),
    ("+1 911", "emergency"),
    ("", "empty"),
    ("   ", "empty"),
    ("#", "empty"),
    ("*#*", "empty"),
    ("12", "not_a_number"),
    ("9123456a", "not_a_number"),
    ("+46 8 123 456 78", "international"),
    ("0046812345678", "international"),
    ("82012345", "denied"),          # premium rate 820
    ("81512345", "not_allowed"),     # a service number, in no allowed range
    ("01234567", "not_allowed"),
])
def test_refused_numbers_say_why(raw, code):
    decision = check_outbound(raw, NORWAY)
    assert decision.number is None and decision.refused == code and decision.why


def test_trunk_prefix_and_emergency_with_it():
    assert check_outbound("07700 900123", UK).number == "+447700900123"
    assert check_outbound("020 7946 0000", UK).number == "+442079460000"
    assert check_outbound("999", UK).refused == "emergency"
    assert check_outbound("0999", UK).refused == "emergency"   # trunk prefix then 999
    assert check_outbound("09012345678", UK).refused == "denied"


def test_international_only_when_allowed():
    policy = OutboundPolicy(NumberingPlan("47"), allowed=("+46X.", "+47X."), allow_international=True)
    assert check_outbound("0046812345678", policy).number == "+46812345678"
    assert check_outbound("+46112", policy).refused in ("emergency", "not_a_number")


def test_a_site_adds_its_own_emergency_numbers():
    policy = OutboundPolicy(NumberingPlan("47"), allowed=("+47X.",), emergency=EMERGENCY_NUMBERS | {"1412"})
    assert check_outbound("1412", policy).refused == "emergency"
    assert check_outbound("112", policy).refused == "emergency"
    assert check_outbound("00 47 1412", policy).refused == "emergency"


@pytest.mark.parametrize("pattern, yes, no", [
    ("+47[49]XXXXXXX", ["+4741234567", "+4791234567"], ["+4751234567", "+479123456"]),
    ("+47Z.", ["+4712"], ["+4702"]),
    ("+47N!", ["+472", "+4729999"], ["+471"]),
    ("+47[2-35]X", ["+4720", "+4735", "+4759"], ["+4745"]),
])
def test_patterns(pattern, yes, no):
    regex = compile_pattern(pattern)
    assert all(regex.fullmatch(n) for n in yes)
    assert not any(regex.fullmatch(n) for n in no)


@pytest.mark.parametrize("pattern", ["", "+47(9)X", "47*", "+4[7", "abc", "+47]X"])
def test_bad_patterns(pattern):
    with pytest.raises(BadPattern):
        compile_pattern(pattern)
