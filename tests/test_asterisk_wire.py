"""asterisk/wire.py: the one vocabulary pbxctl uses on Asterisk, and its three rules."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from pbxctl.asterisk import wire

GOLDEN = Path(__file__).parent / "golden" / "asterisk"


def generated_dialplan() -> str:
    return "".join((GOLDEN / name).read_text() for name in ("extensions_pbxctl.conf", "features_pbxctl.conf"))


def test_every_name_the_generated_dialplan_uses_is_in_the_vocabulary():
    text = generated_dialplan()
    contexts = set(re.findall(r"^\[(pbxctl-[a-z-]+)\]", text, re.M))
    known = set(vars(wire.CONTEXTS).values())
    ivrs = {c for c in contexts if c.startswith(wire.IVR_CONTEXT_PREFIX)}
    keep_keys = {c for c in contexts if c.startswith(wire.KEEP_KEY_CONTEXT_PREFIX)}  # one per keep-place queue
    assert keep_keys == {wire.keep_key_context("support")}
    assert contexts - ivrs - keep_keys == known, "a context of the dialplan is missing from wire.CONTEXTS, or one is unused"
    assert set(re.findall(r"\bPBXCTL_[A-Z_]+\b", text)) <= wire.PBXCTL_VARIABLES
    # Variables read (${NAME} or ${NAME:offset}, not functions like ${IF(...)}) and set.
    variables = set(re.findall(r"\$\{([A-Z][A-Z_]*)[}:]", text)) | set(re.findall(r"Set\(([A-Z][A-Z_]*)=", text))
    assert variables <= wire.PBXCTL_VARIABLES | wire.ASTERISK_VARIABLES | {"ARG1", "ARG2", "ARG3", "ARG4", "EXTEN"}
    events = set(re.findall(r"UserEvent\((\w+),", text))
    assert events == set(vars(wire.EVENTS).values())
    scripts = set(re.findall(r"agi://[^/]+/(\w+),", text))
    assert scripts == set(vars(wire.SCRIPTS).values())


@pytest.mark.parametrize(
    "value, quoted",
    [
        ("pbxctl-queue,support,1", '"pbxctl-queue,support,1"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("two words", '"two words"'),
    ],
)
def test_one_quoting_rule_for_agi_values(value, quoted):
    assert wire.set_variable_command("PBXCTL_NEXT", value) == f"SET VARIABLE PBXCTL_NEXT {quoted}"


def test_a_line_break_never_reaches_the_agi_session():
    with pytest.raises(wire.UnsafeValue):
        wire.set_variable_command("PBXCTL_NEXT", "a\nHANGUP")


class _Request:
    def __init__(self, status: int):
        self.status, self.sent = status, []

    async def send_command(self, command: str) -> dict:
        self.sent.append(command)
        return {"status_code": self.status}


def test_set_variable_sends_one_command_and_says_when_asterisk_refused():
    ok = _Request(200)
    asyncio.run(wire.set_variable(ok, wire.RESULT, "logged_in"))
    assert ok.sent == ['SET VARIABLE PBXCTL_RESULT "logged_in"']
    with pytest.raises(wire.AgiCommandFailed, match="PBXCTL_RESULT"):
        asyncio.run(wire.set_variable(_Request(510), wire.RESULT, "x"))


@pytest.mark.parametrize(
    "text, key",
    [
        ("PJSIP/1001-0000002a", "PJSIP/1001"),
        ("PJSIP/1001", "PJSIP/1001"),
        ("SIP/trunk-peer-0000000b", "SIP/trunk-peer"),
        ("Local/9101@pbxctl-bench-agents-0000001f;1", "Local/9101@pbxctl-bench-agents"),
        ("Local/9101@pbxctl-bench-agents/n", "Local/9101@pbxctl-bench-agents"),
        ("Local/9101@pbxctl-bench-agents", "Local/9101@pbxctl-bench-agents"),
        # an interface whose context happens to end in 8 hex digits keeps them
        ("Local/9101@ctx-beefbeef/n", "Local/9101@ctx-beefbeef"),
    ],
)
def test_one_rule_from_channel_or_interface_to_member(text, key):
    assert wire.member_key(text) == key


@pytest.mark.parametrize("text, seconds", [("00:00:07", 7), ("01:02:03", 3723), ("12", 12), ("", 0), (None, 0), ("0:x:5", 5)])
def test_one_duration_parser(text, seconds):
    assert wire.hms_seconds(text) == seconds
