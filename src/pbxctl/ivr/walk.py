"""`pbxctl ivr test`: follow a call through the IVR graph with the live service's decisions."""

from __future__ import annotations

from dataclasses import dataclass, field

from pbxctl.ivr.decide import RETRY, CallContext, Decision, decide
from pbxctl.site import model as m
from pbxctl.site.load import LoadedSite
from pbxctl.site.values import is_destination, parse_destination

MAX_STEPS = 200


@dataclass
class Step:
    ivr: str
    element: str
    kind: str
    outcome: str
    why: str


@dataclass
class Walk:
    steps: list[Step] = field(default_factory=list)
    destination: str = ""
    unused_digits: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)


class UnknownElementType(TypeError):
    """An element of a type the walk does not know (a model type added without its step)."""


class UnknownEntry(ValueError):
    pass


def walk_call(loaded: LoadedSite, entry: str, call: CallContext, inputs: list[str]) -> Walk:
    site = loaded.site
    if entry not in site.entries:
        raise UnknownEntry(f"no entry number {entry!r} in site {site.site!r} (entries: {', '.join(site.entries)})")
    pending = list(inputs)
    result = Walk()
    ivr = site.entries[entry].ivr
    element = site.ivrs[ivr].start
    attempt = 0
    while len(result.steps) < MAX_STEPS:
        el = site.ivrs[ivr].elements[element]
        step: str
        if isinstance(el, (m.HoursElement, m.VipElement, m.BlockElement, m.MenuElement, m.AdvancedMenuElement, m.CallbackElement)):
            digits = ""
            if isinstance(el, (m.MenuElement, m.AdvancedMenuElement)) or (isinstance(el, m.CallbackElement) and el.ask_number):
                digits = pending.pop(0) if pending else ""
            decision: Decision = decide(loaded, ivr, element, digits, attempt, call)
            label = f"input {digits!r}: " if isinstance(el, (m.MenuElement, m.AdvancedMenuElement)) else ""
            if decision.callback_number:
                result.callbacks.append(decision.callback_number)
            result.steps.append(Step(ivr, element, el.type, decision.next, label + decision.reason))
            if decision.next == RETRY:
                attempt += 1
                continue
            step = decision.next
        elif isinstance(el, m.PlayElement):
            result.steps.append(Step(ivr, element, el.type, el.next, f"plays {el.prompt}"))
            step = el.next
        elif isinstance(el, m.QueueElement):
            queue = site.queues[el.queue]
            prio = queue.caller_priority if el.priority is None else el.priority
            result.steps.append(Step(ivr, element, el.type, f"queue:{el.queue}", f"joins queue {el.queue} with priority {prio}"))
            result.destination = f"queue:{el.queue} (priority {prio})"
            break
        elif isinstance(el, m.GotoIvrElement):
            result.steps.append(Step(ivr, element, el.type, f"ivr:{el.ivr}", f"continues in IVR {el.ivr}"))
            step = f"ivr:{el.ivr}"
        elif isinstance(el, m.VoicemailElement):
            result.steps.append(Step(ivr, element, el.type, f"voicemail:{el.mailbox}", f"leaves a message in mailbox {el.mailbox}"))
            result.destination = f"voicemail:{el.mailbox}"
            break
        elif isinstance(el, m.TransferElement):
            result.steps.append(Step(ivr, element, el.type, f"transfer:{el.number}", f"transferred to {el.number}"))
            result.destination = f"transfer:{el.number}"
            break
        elif isinstance(el, m.HangupElement):
            result.steps.append(Step(ivr, element, el.type, "hangup", "hangs up" + (f" after {el.prompt}" if el.prompt else "")))
            result.destination = "hangup"
            break
        else:
            raise UnknownElementType(f"{ivr}.{element}: element type {el.type!r} has no walk")
        attempt = 0
        if is_destination(step):
            dest = parse_destination(step)
            if dest.kind == "ivr":
                ivr, element = dest.target, site.ivrs[dest.target].start
                continue
            result.destination = str(dest)
            break
        element = step
    else:
        result.destination = f"(stopped after {MAX_STEPS} steps)"
    result.unused_digits = pending
    return result
