"""Constrained text types of the site model.

Every value here ends up inside a generated dialplan or XML file. A name with `,` or `)`
would change the arguments of a dialplan application; `${...}` would be evaluated by
Asterisk; a newline would start a new dialplan line. So each type says exactly which
characters it admits, and the message says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

# Characters that break or inject into generated Asterisk/FreeSWITCH files.
FORBIDDEN_CHARS = "\n\r\t;,()[]<>\"$\\{}|&`"


def _describe(ch: str) -> str:
    return {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(ch, repr(ch))


def check_safe_text(value: str) -> str:
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
Text = Annotated[str, BeforeValidator(_strip), AfterValidator(check_safe_text)]


def _check_comment(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line (it is written into comments of the generated files)")
    return value


# Free text that only ever lands in comments of generated files.
Comment = Annotated[str, BeforeValidator(_strip), AfterValidator(_check_comment)]
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
Host = Annotated[str, AfterValidator(_pattern(r"[A-Za-z0-9.:-]{1,253}", "a host name or address"))]


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
