"""IVR decisions as pure functions: (element, caller input, attempt, call) -> next step.

The FastAGI service and `pbxctl ivr test` call exactly these functions; neither a socket
nor a clock is involved here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pbxctl.domain.outbound_numbers import check_outbound
from pbxctl.domain.phone_numbers import InvalidNumber, NumberingPlan, normalize_number
from pbxctl.site import model as m
from pbxctl.site.load import LoadedSite

RETRY = "retry"
DTMF = set("0123456789*#")


# CALLERID(pres) values of a caller who withheld the number (or whose network did not
# deliver it). SIP trunks often send the number anyway, marked private: it must not make
# such a caller look like a known one to a block or VIP list.
WITHHELD_PRESENTATIONS = frozenset({
    "prohib_not_screened", "prohib_passed_screen", "prohib_failed_screen", "prohib", "unavailable",
})


@dataclass(frozen=True)
class CallContext:
    caller: str | None  # the caller number as the PBX gives it ('', 'unknown', '+4722...')
    now: dt.datetime  # aware
    entry: str | None = None
    presentation: str = ""  # CALLERID(pres) as the PBX names it; '' when not given

    @property
    def withheld(self) -> bool:
        return self.presentation.strip().lower() in WITHHELD_PRESENTATIONS


@dataclass(frozen=True)
class Decision:
    next: str  # an element of the same IVR, a destination, or RETRY
    reason: str
    callback_number: str | None = None  # set when a callback request is to be recorded


class NotADecision(ValueError):
    """The element does not branch at run time (play, queue, ...)."""


def plan_of(loaded: LoadedSite) -> NumberingPlan:
    n = loaded.site.numbering
    return NumberingPlan(n.country_code, n.international_prefix, n.national_prefix)


def caller_e164(loaded: LoadedSite, caller: str | None) -> tuple[str | None, str]:
    """(E.164 number or None for anonymous/unusable, why)."""
    raw = (caller or "").strip()
    if not raw or not any(ch.isdigit() for ch in raw) or raw.lower() in ("unknown", "anonymous", "restricted"):
        return None, f"no caller number ({raw!r})" if raw else "no caller number"
    try:
        return normalize_number(raw, plan_of(loaded)), ""
    except InvalidNumber as exc:
        return None, f"caller number unusable: {exc}"


def decide(loaded: LoadedSite, ivr: str, element: str, digits: str, attempt: int, call: CallContext) -> Decision:
    try:
        el = loaded.site.ivrs[ivr].elements[element]
    except KeyError:
        raise NotADecision(f"no element {ivr}.{element} in site {loaded.site.site!r}") from None
    if isinstance(el, m.HoursElement):
        return _hours(loaded, el, call)
    if isinstance(el, m.MenuElement):
        return _menu(el, digits, attempt)
    if isinstance(el, m.AdvancedMenuElement):
        return _advanced_menu(loaded, el, digits, attempt)
    if isinstance(el, m.VipElement):
        return _vip(loaded, el, call)
    if isinstance(el, m.BlockElement):
        return _block(loaded, el, call)
    if isinstance(el, m.CallbackElement):
        return _callback(loaded, el, digits, call)
    raise NotADecision(f"{ivr}.{element} is a {el.type} element: it does not branch at run time")


def _hours(loaded: LoadedSite, el: m.HoursElement, call: CallContext) -> Decision:
    verdict = loaded.hours[el.hours].decide(call.now)
    step = el.branches.get(verdict.category, el.default)
    if step is None:  # validation makes this unreachable; keep the call moving anyway
        raise NotADecision(f"hours {el.hours!r} gave {verdict.category!r} and the element has no branch for it")
    via = "branch" if verdict.category in el.branches else "default"
    return Decision(step, f"{verdict.reason} -> {via} {step}")


def _retry_or(step: str, attempt: int, retries: int, why: str) -> Decision:
    if attempt < retries:
        return Decision(RETRY, f"{why}; attempt {attempt + 1} of {retries + 1}, asking again")
    return Decision(step, f"{why}; no attempts left -> {step}")


def _menu(el: m.MenuElement, digits: str, attempt: int) -> Decision:
    key = digits.strip()
    if not key:
        return _retry_or(el.no_input, attempt, el.retries, "no input")
    if key in el.options:
        return Decision(el.options[key], f"pressed {key} -> {el.options[key]}")
    shown = key if set(key) <= DTMF else repr(key)
    return _retry_or(el.invalid, attempt, el.retries, f"{shown} is not an option ({', '.join(el.options)})")


def _advanced_menu(loaded: LoadedSite, el: m.AdvancedMenuElement, digits: str, attempt: int) -> Decision:
    value = digits.strip().rstrip("#")
    if not value:
        return _retry_or(el.no_input, attempt, el.retries, "no input")
    if not (value.isdigit() and value.isascii()):
        return _retry_or(el.invalid, attempt, el.retries, f"{value!r} is not digits")
    if not el.min_digits <= len(value) <= el.max_digits:
        return _retry_or(
            el.invalid, attempt, el.retries, f"{value} has {len(value)} digits, expected {el.min_digits}-{el.max_digits}"
        )
    dest = loaded.route_lists[el.routing_list].lookup(value)
    if dest is None:
        return _retry_or(el.invalid, attempt, el.retries, f"{value} is not in routing list {el.routing_list!r}")
    return Decision(dest, f"{value} found in routing list {el.routing_list!r} -> {dest}")


def _listed(loaded: LoadedSite, list_name: str, call: CallContext) -> tuple[bool | None, str]:
    """(True/False when the caller is on the list / not, None when anonymous; why)."""
    if call.withheld:
        return None, f"number withheld (presentation {call.presentation.strip().lower()})"
    number, why = caller_e164(loaded, call.caller)
    if number is None:
        return None, why
    on = number in loaded.caller_lists[list_name]
    return on, f"{number} is {'' if on else 'not '}on list {list_name!r}"


def _vip(loaded: LoadedSite, el: m.VipElement, call: CallContext) -> Decision:
    on, why = _listed(loaded, el.list, call)
    if on is None:
        step = el.vip if el.anonymous == "vip" else el.normal
        return Decision(step, f"{why}: treated as {el.anonymous} -> {step}")
    step = el.vip if on else el.normal
    return Decision(step, f"{why} -> {step}")


def _block(loaded: LoadedSite, el: m.BlockElement, call: CallContext) -> Decision:
    on, why = _listed(loaded, el.list, call)
    if on is None:
        step = el.blocked if el.anonymous == "block" else el.next
        return Decision(step, f"{why}: anonymous callers {'blocked' if el.anonymous == 'block' else 'allowed'} -> {step}")
    step = el.blocked if on else el.next
    return Decision(step, f"{why.replace('on list', 'on block list')} -> {step}")


def _callback(loaded: LoadedSite, el: m.CallbackElement, digits: str, call: CallContext) -> Decision:
    source = digits.strip().rstrip("#") if el.ask_number else (call.caller or "")
    number, why = caller_e164(loaded, source)
    if number is None:
        return Decision(el.next, f"callback not recorded: {why} -> {el.next}")
    outbound = loaded.site.callbacks.outbound_for(el.queue)
    if outbound.allowed:  # without a policy the request is only listed, never dialled
        verdict = check_outbound(number, outbound.policy(loaded.site.numbering))
        if not verdict.allowed:
            return Decision(el.next, f"callback not recorded: {verdict.why} -> {el.next}")
    return Decision(el.next, f"callback to {number} recorded for queue {el.queue!r} -> {el.next}", callback_number=number)
