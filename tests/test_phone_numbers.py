"""normalize_number: caller numbers to E.164 under a numbering plan."""

from __future__ import annotations

import pytest

from pbxctl.domain.phone_numbers import InvalidNumber, NumberingPlan, normalize_number

NORWAY = NumberingPlan("47")  # international prefix 00, no trunk prefix
UK = NumberingPlan("44", "00", "0")
NANP = NumberingPlan("1", "011", "1")


@pytest.mark.parametrize(
    "plan, raw, e164",
    [
        # Norway: +47, 0047 and national all meet at the same E.164 number
        (NORWAY, "+4722334455", "+4722334455"),
        (NORWAY, "+47 22 33 44 55", "+4722334455"),
        (NORWAY, "004722334455", "+4722334455"),
        (NORWAY, "0047 22 33 44 55", "+4722334455"),
        (NORWAY, "22334455", "+4722334455"),
        (NORWAY, "22 33 44 55", "+4722334455"),
        (NORWAY, "223-34-455", "+4722334455"),
        (NORWAY, "22.33.44.55", "+4722334455"),
        (NORWAY, "(22) 33 44 55", "+4722334455"),
        (NORWAY, "22/33 44 55", "+4722334455"),
        (NORWAY, "\t 22334455 \n", "+4722334455"),
        (NORWAY, "004791234567", "+4791234567"),
        (NORWAY, "98765432", "+4798765432"),
        # Foreign numbers keep their own country code
        (NORWAY, "+46 8 123 456 78", "+46812345678"),
        (NORWAY, "0046812345678", "+46812345678"),
        # UK: national numbers carry the trunk prefix 0, which E.164 drops
        (UK, "020 7946 0000", "+442079460000"),
        (UK, "+44 20 7946 0000", "+442079460000"),
        (UK, "0044 20 7946 0000", "+442079460000"),
        (UK, "20 7946 0000", "+442079460000"),
        (UK, "07700 900123", "+447700900123"),
        (UK, "+47 22 33 44 55", "+4722334455"),
        # North America: 011 abroad, 1 as the trunk prefix
        (NANP, "1 212 555 0100", "+12125550100"),
        (NANP, "212-555-0100", "+12125550100"),
        (NANP, "011 47 22 33 44 55", "+4722334455"),
        (NANP, "+1 (212) 555-0100", "+12125550100"),
        # length limits of E.164: 7 to 15 digits
        (NORWAY, "+1234567", "+1234567"),
        (NORWAY, "+123456789012345", "+123456789012345"),
        (NORWAY, "12345", "+4712345"),
    ],
)
def test_normalize(plan, raw, e164):
    assert normalize_number(raw, plan) == e164


NOT_A_NUMBER = "is not a phone number (only digits, spaces, '-', '.', '()' and a leading '+')"


@pytest.mark.parametrize(
    "plan, raw, message",
    [
        (NORWAY, "", "empty number"),
        (NORWAY, "   ", "empty number"),
        (NORWAY, " - . ", "empty number"),
        (NORWAY, "22a34455", f"'22a34455' {NOT_A_NUMBER}"),
        (NORWAY, "+47 22 33 44 5x", f"'+47 22 33 44 5x' {NOT_A_NUMBER}"),
        (NORWAY, "ANONYMOUS", f"'ANONYMOUS' {NOT_A_NUMBER}"),
        (NORWAY, "+", f"'+' {NOT_A_NUMBER}"),
        (NORWAY, "++4722334455", f"'++4722334455' {NOT_A_NUMBER}"),
        (NORWAY, "22+334455", f"'22+334455' {NOT_A_NUMBER}"),
        (NORWAY, "2233;4455", f"'2233;4455' {NOT_A_NUMBER}"),
        (NORWAY, "*31#22334455", f"'*31#22334455' {NOT_A_NUMBER}"),
        (NORWAY, "+0123456789", "'+0123456789': a country code never starts with 0"),
        (NORWAY, "000123456789", "'000123456789': a country code never starts with 0"),
        (NORWAY, "123", "'123' has 5 digits as +47123; E.164 numbers have 7 to 15"),
        (NORWAY, "+123456", "'+123456' has 6 digits as +123456; E.164 numbers have 7 to 15"),
        (NORWAY, "+1234567890123456", "'+1234567890123456' has 16 digits as +1234567890123456; E.164 numbers have 7 to 15"),
        (NORWAY, "1234567890123456", "'1234567890123456' has 18 digits as +471234567890123456; E.164 numbers have 7 to 15"),
        (UK, "0", "'0' has 2 digits as +44; E.164 numbers have 7 to 15"),
    ],
)
def test_invalid(plan, raw, message):
    with pytest.raises(InvalidNumber) as info:
        normalize_number(raw, plan)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_national_prefix_is_only_stripped_once():
    # '00' is the international prefix in the UK, so only a single leading 0 is a trunk prefix.
    assert normalize_number("0 0 44 20 7946 0000", UK) == "+442079460000"
    assert normalize_number("0 20 7946 0000", UK) == "+442079460000"


def test_without_national_prefix_a_leading_zero_stays():
    # Norway has no trunk prefix: a national number with a leading 0 (not 00) keeps it.
    assert normalize_number("0123456", NORWAY) == "+470123456"


def test_bracketed_trunk_prefix_after_country_code():
    try:
        result = normalize_number("+44 (0)20 7946 0000", UK)
    except InvalidNumber:
        return
    assert result == "+442079460000"
