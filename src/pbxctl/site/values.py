"""Constrained text types of the site model.

Every value here ends up inside a generated dialplan or XML file. A name with `,` or `)`
would change the arguments of a dialplan application; `${...}` would be evaluated by
Asterisk; a newline would start a new dialplan line. So each type says exactly which
characters it admits, and the message says why.

Under all of them lies one rule for any text of the site file (`refuse_invisible`):
no control characters (NUL included), lone surrogates, invisible or bidirectional
formatting characters, line/paragraph separators, private-use or unassigned code points.
They make XML that is not well-formed, cut Asterisk lines short, cannot be written as
UTF-8, or make a file read differently from how it looks.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

# Characters that break or inject into generated Asterisk/FreeSWITCH files.
FORBIDDEN_CHARS = "\n\r\t;,()[]<>\"$\\{}|&`"

_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Reorder the text around them when shown (Trojan Source, CVE-2021-42574).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CATEGORY = {
    "Cc": "control character",
    "Cs": "lone surrogate",
    "Cf": "invisible formatting character",
    "Zl": "line separator",
    "Zp": "paragraph separator",
    "Co": "private-use character",
    "Cn": "unassigned code point",
}


def _describe(ch: str) -> str:
    return {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(ch, repr(ch))


def unsafe_character(value: str) -> str | None:
    """What is wrong with the first character of `value` that no generated file may carry,
    or None. ASCII text is the common case and only needs the control-character scan."""
    if value.isascii():
        found = _ASCII_CONTROL.search(value)
        if found is None:
            return None
        chars = found.group()
    else:
        chars = value
    for ch in chars:
        if ch in "\n\r\t":
            return f"contains {_describe(ch)}, which would break or inject into the generated configuration"
        kind = "bidirectional control character" if ch in _BIDI else _CATEGORY.get(unicodedata.category(ch))
        if kind is not None:
            return f"{kind} U+{ord(ch):04X} is not allowed"
    return None


def refuse_invisible(value: str) -> str:
    problem = unsafe_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def refuse_invisible_input(value: object) -> object:
    """The same rule as a before-validator: the character is named even where a pattern
    check would follow (and would only say the value does not match)."""
    return refuse_invisible(value) if isinstance(value, str) else value


def shown(text: str, keep: str = "", backslash: bool = True) -> str:
    """`text` with every character that is not plainly visible (and the backslash) written
    as \\xNN, \\uNNNN or \\UNNNNNNNN: a name read from outside shows what it holds and
    cannot start a new line of whatever it is written into. Characters in `keep` are
    visible ones the caller also wants escaped (say '<' in an XML comment);
    `backslash=False` leaves backslashes alone (text already shown once)."""
    escape = (keep + "\\") if backslash else keep
    if text.isascii() and text.isprintable() and not any(ch in text for ch in escape):
        return text
    out = []
    for ch in text:
        if ch.isprintable() and ch not in escape:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def check_safe_text(value: str) -> str:
    refuse_invisible(value)
    for ch in value:
        if ch in FORBIDDEN_CHARS:
            raise ValueError(
                f"contains {_describe(ch)}, which would break or inject into the generated configuration"
            )
    return value


def _pattern(regex: str, what: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        check_safe_text(value)
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _strip(value):
    return value.strip() if isinstance(value, str) else value


IDENT_RE = r"[a-z][a-z0-9_]{0,62}"
Ident = Annotated[
    str,
    AfterValidator(
        _pattern(IDENT_RE, "a valid name: lower-case letters, digits and '_', starting with a letter")
    ),
]
def _at_most(limit: int):
    # Asterisk reads its config with an 8 KiB line buffer and skips longer lines whole:
    # a long enough value would silently drop the line it is on.
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit}")
        return value

    return check


TEXT_MAX = 200
COMMENT_MAX = 1000
Text = Annotated[str, BeforeValidator(_strip), AfterValidator(check_safe_text), AfterValidator(_at_most(TEXT_MAX))]


# Free text that only ever lands in comments of generated files: any visible character.
Comment = Annotated[
    str, BeforeValidator(_strip), BeforeValidator(refuse_invisible_input), AfterValidator(_at_most(COMMENT_MAX))
]
Prompt = Annotated[
    str,
    AfterValidator(
        _pattern(r"[A-Za-z0-9_][A-Za-z0-9_/.-]*", "a sound file name (letters, digits, '_', '-', '.', '/')")
    ),
]
# Extensions and entry numbers: what a trunk or desk phone dials.
Extension = Annotated[
    str, BeforeValidator(_strip), AfterValidator(_pattern(r"[0-9*#]{1,20}", "an extension (digits, '*', '#')"))
]
EntryNumber = Annotated[
    str,
    BeforeValidator(_strip),
    AfterValidator(_pattern(r"\+?[0-9]{1,20}", "an entry number (digits, optionally starting with '+')")),
]
DialString = Annotated[
    str,
    BeforeValidator(_strip),
    AfterValidator(
        _pattern(
            r"[A-Za-z0-9_/@.:+*#={}-]+",
            "a dial string such as PJSIP/1001 or Local/1001@agents/n",
        )
    ),
]
DigitAffix = Annotated[
    str, AfterValidator(_pattern(r"[0-9*#+]{0,10}", "a number prefix/suffix (digits, '*', '#', '+')"))
]
ContextName = Annotated[
    str, AfterValidator(_pattern(r"[A-Za-z0-9_-]{1,79}", "a dialplan context name"))
]
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _check_host(value: str) -> str:
    """A host name, an IPv4 address or a bare IPv6 address. A ':' anywhere else would be
    read as HOST:PORT by whatever connects (agi://HOST:PORT/ in the dialplan)."""
    check_safe_text(value)
    if ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a host: a ':' is only allowed in an IPv6 address such as ::1"
                " (give the port in 'port', not as HOST:PORT)"
            ) from None
        if "%" in value:
            raise ValueError(f"{value!r}: an IPv6 zone (%...) cannot be written into the generated files")
        return value
    if len(value) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in value.split(".")):
        raise ValueError(f"{value!r} is not a host name or address (letters, digits, '-' and '.')")
    return value


def is_ipv6(host: str) -> bool:
    return ":" in host


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: reachable from this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


Host = Annotated[str, AfterValidator(_check_host)]


# --- destinations: where a call goes when it leaves the IVR graph -------------------------

DESTINATION_KINDS = {
    "queue": (IDENT_RE, "a queue name"),
    "ivr": (IDENT_RE, "an IVR name"),
    "voicemail": (r"[0-9]{1,20}", "a mailbox number"),
    "transfer": (r"\+?[0-9]{1,20}", "a phone number (digits, optionally starting with '+')"),
    "extension": (r"[0-9*#]{1,20}", "an extension (digits, '*', '#')"),
}


@dataclass(frozen=True)
class Destination:
    kind: str
    target: str = ""

    def __str__(self) -> str:
        return self.kind if not self.target else f"{self.kind}:{self.target}"


def parse_destination(text: str) -> Destination:
    text = text.strip()
    check_safe_text(text)
    if text == "hangup":
        return Destination("hangup")
    kind, sep, target = text.partition(":")
    if not sep or kind not in DESTINATION_KINDS:
        kinds = ", ".join(f"{k}:..." for k in DESTINATION_KINDS) + ", hangup"
        raise ValueError(f"{text!r} is not a destination (one of {kinds})")
    regex, what = DESTINATION_KINDS[kind]
    if not re.fullmatch(regex, target):
        raise ValueError(f"{text!r}: {target!r} is not {what}")
    return Destination(kind, target)


def _check_destination(text: str) -> str:
    return str(parse_destination(text))


def _check_next(text: str) -> str:
    """An IVR step: an element id of the same IVR, or a destination outside the graph."""
    text = text.strip()
    if ":" in text or text == "hangup":
        return _check_destination(text)
    check_safe_text(text)
    if not re.fullmatch(IDENT_RE, text):
        raise ValueError(f"{text!r} is neither an element name nor a destination such as queue:support")
    return text


DestinationText = Annotated[str, AfterValidator(_check_destination)]
NextStep = Annotated[str, AfterValidator(_check_next)]


def is_destination(step: str) -> bool:
    return ":" in step or step == "hangup"
