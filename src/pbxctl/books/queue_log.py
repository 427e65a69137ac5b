"""Asterisk's queue_log format, and nothing else: one line in, one `QueueLogLine` or one
`BadLine` (with the reason) out. No I/O, no decisions about calls.

A line is `time|callid|queue|agent|event|data1|data2|...` (app_queue's `ast_queue_log`;
pbxctl's own events come through the `QueueLog` application or AMI action with the same
shape). Data fields differ between Asterisk versions (1.4 logs no ENTERQUEUE position,
no CONNECT ring time, no EXITWITHTIMEOUT wait): the readers of each event take what is
there and leave the rest to the caller (`field`, `number`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

CALL_EVENTS = frozenset(
    {
        "ENTERQUEUE",
        "CONNECT",
        "COMPLETECALLER",
        "COMPLETEAGENT",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "EXITWITHKEY",
        "RINGNOANSWER",
        "RINGCANCELED",
        "TRANSFER",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
    }
)
AGENT_EVENTS = frozenset(
    {
        "ADDMEMBER",
        "REMOVEMEMBER",
        "PAUSE",
        "UNPAUSE",
        "PAUSEALL",
        "UNPAUSEALL",
        "AGENTLOGIN",
        "AGENTLOGOFF",
        "AGENTCALLBACKLOGIN",
        "AGENTCALLBACKLOGOFF",
    }
)
# Known, and no fact of the books: read, counted as ignored, not rejected.
IGNORED_EVENTS = frozenset({"CONFIGRELOAD", "SYSCOMPAT", "INFO", "DID", "PENALTY", "AGENTDUMP", "MEMBERPENALTY"})
PBX_RESTART = "QUEUESTART"
PBXCTL_PREFIX = "PBXCTL"
KNOWN_EVENTS = CALL_EVENTS | AGENT_EVENTS | IGNORED_EVENTS | {PBX_RESTART}


class QueueLogLine(NamedTuple):
    # A tuple: millions are made per import, and a tuple is the cheapest object to make.
    at: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    text: str  # the line as read, without its line end: the identity of a duplicate

    def field(self, index: int, default: str = "") -> str:
        data = self[5]
        return data[index] if index < len(data) else default

    def number(self, index: int) -> int | None:
        """Data field `index` as an integer; None when missing, empty or not a number."""
        data = self[5]
        if index >= len(data):
            return None
        value = data[index]
        if value.isdigit():
            return int(value)
        try:
            return int(value)
        except ValueError:
            try:
                return int(float(value))
            except ValueError:
                return None


# tuple.__new__ straight away: NamedTuple's own __new__ (and _make) is a Python call per line.
_new_tuple = tuple.__new__


@dataclass(slots=True, frozen=True)
class BadLine:
    reason: str
    at: int | None = None


def parse_line(raw: bytes) -> QueueLogLine | BadLine:
    """One line (its line end may still be there)."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return BadLine(f"not UTF-8 (byte {exc.start})")
    parts = text.split("|")
    if len(parts) < 5:
        return BadLine(f"truncated: {len(parts)} fields, at least 5 (time|callid|queue|agent|event)")
    time_text, callid, queue, agent, event = parts[:5]
    try:
        at = int(time_text)
    except ValueError:
        try:
            at = int(float(time_text))
        except ValueError:
            return BadLine(f"time {time_text[:20]!r} is not a number")
    if event not in KNOWN_EVENTS:
        if "\x00" in text:
            return BadLine("contains NUL bytes (corrupt)", at)
        if not event.startswith(PBXCTL_PREFIX) or not event.isalnum():
            return BadLine(f"unknown event {event[:30]!r}", at)
    elif not callid and event in CALL_EVENTS:
        return BadLine(f"{event} without a callid", at)
    return _new_tuple(QueueLogLine, (at, callid, queue, agent, event, tuple(parts[5:]), text))


def escaped(raw: bytes) -> str:
    """The raw bytes as text for the rejects table: valid UTF-8 kept, others as \\xNN."""
    return raw.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
