"""Where a step goes in the generated Asterisk dialplan, as a Goto target.

Shared by the generator and the FastAGI service: the service answers with exactly the
targets the generated dialplan defines.
"""

from __future__ import annotations

from pbxctl.asterisk.wire import CONTEXTS, ivr_context
from pbxctl.site import model as m
from pbxctl.site.values import is_destination, parse_destination

# Destination kind -> the context whose extensions are that kind's targets.
_DESTINATION_CONTEXTS = {
    "queue": CONTEXTS.queue,
    "voicemail": CONTEXTS.voicemail,
    "transfer": CONTEXTS.transfer,
    "extension": CONTEXTS.extension,
}


def destination_target(site: m.Site, text: str) -> str:
    dest = parse_destination(text)
    if dest.kind == "ivr":
        return f"{ivr_context(dest.target)},{site.ivrs[dest.target].start},1"
    if dest.kind in _DESTINATION_CONTEXTS:
        return f"{_DESTINATION_CONTEXTS[dest.kind]},{dest.target},1"
    return f"{CONTEXTS.hangup},s,1"


def step_target(site: m.Site, ivr: str, step: str) -> str:
    """An element id of `ivr`, or a destination."""
    if is_destination(step):
        return destination_target(site, step)
    return f"{ivr_context(ivr)},{step},1"
