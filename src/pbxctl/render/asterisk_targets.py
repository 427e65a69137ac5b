"""Where a step goes in the generated Asterisk dialplan, as a Goto target.

Shared by the generator and the FastAGI service: the service answers with exactly the
targets the generated dialplan defines.
"""

from __future__ import annotations

from pbxctl.site import model as m
from pbxctl.site.values import is_destination, parse_destination

# Extension names Asterisk treats specially; an element or queue named so would misfire.
RESERVED_EXTENSIONS = frozenset({"s", "i", "t", "h", "e", "o", "a", "T", "fax", "talk", "default"})


def ivr_context(ivr: str) -> str:
    return f"pbxctl-ivr-{ivr}"


def destination_target(site: m.Site, text: str) -> str:
    dest = parse_destination(text)
    if dest.kind == "queue":
        return f"pbxctl-queue,{dest.target},1"
    if dest.kind == "ivr":
        return f"{ivr_context(dest.target)},{site.ivrs[dest.target].start},1"
    if dest.kind == "voicemail":
        return f"pbxctl-voicemail,{dest.target},1"
    if dest.kind == "transfer":
        return f"pbxctl-transfer,{dest.target},1"
    if dest.kind == "extension":
        return f"pbxctl-extension,{dest.target},1"
    return "pbxctl-hangup,s,1"


def step_target(site: m.Site, ivr: str, step: str) -> str:
    """An element id of `ivr`, or a destination."""
    if is_destination(step):
        return destination_target(site, step)
    return f"{ivr_context(ivr)},{step},1"
