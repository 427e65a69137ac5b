"""Caller numbers to E.164, so that '+47 22 33 44 55', '004722334455' and '22334455'
match the same VIP or block list entry."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s\-./()]")


@dataclass(frozen=True)
class NumberingPlan:
    country_code: str
    international_prefix: str = "00"
    national_prefix: str = ""


class InvalidNumber(ValueError):
    pass


def normalize_number(raw: str, plan: NumberingPlan) -> str:
    """Return the E.164 form (+CC...) of a caller number, or raise InvalidNumber."""
    # '+44 (0)20 ...': the national prefix in brackets is not dialled internationally.
    text = _SEPARATORS.sub("", raw.strip().replace("(0)", ""))
    if not text:
        raise InvalidNumber("empty number")
    if text.startswith("+"):
        digits = text[1:]
        international = True
    elif text.startswith(plan.international_prefix):
        digits = text[len(plan.international_prefix) :]
        international = True
    else:
        digits = text
        international = False
    if not digits.isdigit():
        raise InvalidNumber(f"{raw!r} is not a phone number (only digits, spaces, '-', '.', '()' and a leading '+')")
    if international:
        if digits.startswith("0"):
            raise InvalidNumber(f"{raw!r}: a country code never starts with 0")
        e164 = digits
    else:
        if plan.national_prefix and digits.startswith(plan.national_prefix):
            digits = digits[len(plan.national_prefix) :]
        e164 = plan.country_code + digits
    if not 7 <= len(e164) <= 15:
        raise InvalidNumber(f"{raw!r} has {len(e164)} digits as +{e164}; E.164 numbers have 7 to 15")
    return "+" + e164
