"""A strict reader for the Asterisk files pbxctl generates: every line must be one of the
shapes pbxctl writes, or reading fails with the line. Independent of pbxctl's own
escaping code on purpose: it is the oracle the property test checks that code against.

Asterisk's config parser reads a file line by line (into an 8 KiB buffer; a longer line
is skipped): `[name]` opens a context, `;` starts a comment unless written `\\;` (and
`;--` one that runs over lines), a NUL ends the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTEXT = re.compile(r"\[([A-Za-z0-9_-]+)\](\(\+\))?")
_EXTEN = re.compile(r"exten => ([A-Za-z0-9_*#+!.\[\]-]+),(\d+|n)(\([a-z_]+\))?,([A-Za-z]+)\((.*)\)")
_SAME = re.compile(r" same => (n)(\([a-z_]+\))?,([A-Za-z]+)\((.*)\)")
_SETTING = re.compile(r"([a-z-]+) = ([^;]*)")
_MEMBER = re.compile(r"member => (.*)")
_PENALTY = re.compile(r"penaltychange => (\d+),(\d+),,r(\d+)")
_FEATURE = re.compile(r"([a-z_]+) => ([0-9*#]+),self,([A-Za-z]+)\((.*)\)")


@dataclass(frozen=True)
class Line:
    number: int
    kind: str  # blank, comment, context, exten, same, setting, member, penalty, feature
    context: str | None
    app: str | None = None
    args: tuple[str, ...] = ()


class UnexpectedLine(AssertionError):
    pass


def _fail(name: str, number: int, line: str, why: str) -> UnexpectedLine:
    return UnexpectedLine(f"{name}:{number}: {why}: {line!r}")


def split_args(name: str, number: int, line: str, args: str) -> tuple[str, ...]:
    """Top-level comma-separated arguments of an application call; brackets and parens of
    ${...}, $[...] and nested calls must balance."""
    out, current, i = [], "", 0
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    while i < len(args):
        ch = args[i]
        if ch == "\\" and i + 1 < len(args):
            current += args[i : i + 2]
            i += 2
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                raise _fail(name, number, line, f"unbalanced {ch!r} in the arguments")
        elif ch == "," and not stack:
            out.append(current)
            current = ""
            i += 1
            continue
        current += ch
        i += 1
    if stack:
        raise _fail(name, number, line, "unclosed bracket in the arguments")
    out.append(current)
    return tuple(out)


def read_asterisk_file(name: str, text: str) -> list[Line]:
    if not text.endswith("\n"):
        raise UnexpectedLine(f"{name}: does not end with a newline")
    lines: list[Line] = []
    context: str | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        if not line.isprintable() and line != "":
            raise _fail(name, number, line, "a character that is not plainly visible")
        if len(line.encode("utf-8")) >= 8191:
            raise _fail(name, number, line[:40], "longer than Asterisk's line buffer (it would skip the line)")
        if line == "":
            lines.append(Line(number, "blank", context))
            continue
        if line.startswith(";"):
            if line != ";" and not line.startswith("; "):
                raise _fail(name, number, line, "a comment that does not start with '; '")
            if line.startswith(";--"):
                raise _fail(name, number, line, "a block comment")
            lines.append(Line(number, "comment", context))
            continue
        if re.search(r"(?<!\\);", line):
            raise _fail(name, number, line, "an unescaped ';' (the rest of the line would be a comment)")
        if m := _CONTEXT.fullmatch(line):
            context = m.group(1)
            lines.append(Line(number, "context", context))
        elif m := _EXTEN.fullmatch(line):
            lines.append(Line(number, "exten", context, m.group(4), split_args(name, number, line, m.group(5))))
        elif m := _SAME.fullmatch(line):
            if not lines or lines[-1].kind not in ("exten", "same", "comment"):
                raise _fail(name, number, line, "'same =>' without an extension before it")
            lines.append(Line(number, "same", context, m.group(3), split_args(name, number, line, m.group(4))))
        elif m := _PENALTY.fullmatch(line):
            lines.append(Line(number, "penalty", context))
        elif m := _MEMBER.fullmatch(line):
            fields = split_args(name, number, line, m.group(1))
            if len(fields) not in (4, 6):
                raise _fail(name, number, line, f"a member line with {len(fields)} fields")
            lines.append(Line(number, "member", context, None, fields))
        elif m := _FEATURE.fullmatch(line):
            lines.append(Line(number, "feature", context, m.group(3), split_args(name, number, line, m.group(4))))
        elif m := _SETTING.fullmatch(line):
            lines.append(Line(number, "setting", context, m.group(1), (m.group(2),)))
        else:
            raise _fail(name, number, line, "not a line pbxctl writes")
        if context is None:
            raise _fail(name, number, line, "a line before the first context")
    return lines


def contexts(lines: list[Line]) -> list[str]:
    return [line.context for line in lines if line.kind == "context"]  # type: ignore[misc]


def shape(lines: list[Line]) -> list[tuple]:
    """What the PBX would do with the file, without the values: kinds, contexts,
    applications and their argument counts."""
    return [(line.kind, line.context, line.app, len(line.args)) for line in lines if line.kind != "blank"]
