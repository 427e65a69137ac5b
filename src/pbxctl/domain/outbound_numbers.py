"""Which numbers pbxctl may dial for a callback. A typed or caller-ID number becomes an
outbound call the site pays for: it must be normalised to E.164, match one of the site's
allowed patterns, match none of its denied ones (premium-rate ranges), stay in the
site's own country unless international calls are allowed, and never be an emergency
number — whatever the patterns say.

Patterns are written on the E.164 form in the Asterisk manner operators know:
`+47[49]XXXXXXX` (X any digit, Z 1-9, N 2-9, [..] a class or range, `.` one or
more digits, `!` zero or more).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pbxctl.domain.phone_numbers import InvalidNumber, NumberingPlan, normalize_number

# Emergency numbers of the countries pbxctl is used in and the common ones elsewhere; a
# site adds its own (`callbacks.outbound.emergency`). Compared with the subscriber part of
# the number (without country code and trunk prefix) and with what was typed.
EMERGENCY_NUMBERS = frozenset({
    "112", "113", "110", "911", "999", "000", "08", "15", "17", "18", "100", "101", "102", "106",
    "118", "119", "120", "122", "144", "061", "1006", "116117", "116000", "10111",
})

_PATTERN = re.compile(r"^\+?(?:[0-9XZN.!]|\[[0-9]+(?:-[0-9]+)?(?:[0-9]+(?:-[0-9]+)?)*\])+$")
_SEPARATORS = re.compile(r"[\s\-./()]")


class BadPattern(ValueError):
    pass


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """An Asterisk-style number pattern as a regular expression over E.164 text."""
    if not pattern or not _PATTERN.match(pattern):
        raise BadPattern(f"{pattern!r} is not a number pattern (digits, X, Z, N, [1-5], '.', '!', a leading '+')")
    out, i = [], 0
    if pattern.startswith("+"):
        out.append(r"\+")
        i = 1
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            end = pattern.index("]", i)
            out.append("[" + pattern[i + 1:end] + "]")
            i = end + 1
            continue
        out.append({"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": "[0-9]+", "!": "[0-9]*"}.get(c, c))
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise BadPattern(f"{pattern!r}: {exc}") from None


@dataclass(frozen=True)
class OutboundPolicy:
    plan: NumberingPlan
    allowed: tuple[str, ...]
    denied: tuple[str, ...] = ()
    allow_international: bool = False
    emergency: frozenset[str] = EMERGENCY_NUMBERS


@dataclass(frozen=True)
class OutboundDecision:
    number: str | None  # E.164 to dial, None when refused
    refused: str | None  # empty | not_a_number | emergency | international | denied | not_allowed
    why: str

    @property
    def allowed(self) -> bool:
        return self.number is not None


def _refuse(code: str, why: str) -> OutboundDecision:
    return OutboundDecision(None, code, why)


def _subscriber(e164: str, plan: NumberingPlan) -> str:
    return e164[1 + len(plan.country_code):] if e164.startswith("+" + plan.country_code) else e164[1:]


def check_outbound(raw: str, policy: OutboundPolicy) -> OutboundDecision:
    """May `raw` (typed, or a caller ID) be dialled? The number to dial, or why not."""
    text = _SEPARATORS.sub("", raw or "")
    if not text.strip("*#"):
        return _refuse("empty", f"no number in {raw!r}")
    plain = text.lstrip("+")
    national = plain
    if policy.plan.national_prefix and national.startswith(policy.plan.national_prefix):
        national = national[len(policy.plan.national_prefix):]
    # '+47 112', '00 1 911': an emergency number behind any 1-3 digit country code.
    international = text.startswith("+") or text.startswith(policy.plan.international_prefix)
    behind_country = plain[len(policy.plan.international_prefix):] if not text.startswith("+") else plain
    abroad = {behind_country[k:] for k in (1, 2, 3)} if international else set()
    if plain in policy.emergency or national in policy.emergency or abroad & policy.emergency:
        return _refuse("emergency", f"{raw!r} is an emergency number: never dialled by pbxctl")
    try:
        e164 = normalize_number(text, policy.plan)
    except InvalidNumber as exc:
        return _refuse("not_a_number", str(exc))
    if _subscriber(e164, policy.plan) in policy.emergency:
        return _refuse("emergency", f"{e164} is an emergency number: never dialled by pbxctl")
    if not e164.startswith("+" + policy.plan.country_code) and not policy.allow_international:
        return _refuse("international", f"{e164} is outside country +{policy.plan.country_code} (allow_international is off)")
    for pattern in policy.denied:
        if compile_pattern(pattern).fullmatch(e164):
            return _refuse("denied", f"{e164} matches denied pattern {pattern}")
    for pattern in policy.allowed:
        if compile_pattern(pattern).fullmatch(e164):
            return OutboundDecision(e164, None, f"{e164} matches allowed pattern {pattern}")
    return _refuse("not_allowed", f"{e164} matches none of the allowed patterns ({', '.join(policy.allowed) or 'none'})")
