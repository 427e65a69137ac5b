"""The recordings: *.txt transcripts (who sent which bytes, in order) and *.bin raw bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "esl"

BEGIN = "--8<-- begin verbatim bytes --8<--\n"
END = "--8<-- end verbatim bytes --8<--"
# Two transcript styles: "### [A] <<< received t=+0.003s ... 28 bytes -- note" (2026-12-01)
# and "### [conn A] <<< SERVER SENT (one frame) 28 bytes -- note" (the older session).
ENTRY = re.compile(r"^### \[(?:conn )?(?P<conn>[A-Z0-9]+)\] (?P<dir><<<|>>>) (?P<rest>.*?)(?P<n>\d+) bytes(?: -- (?P<note>.*))?$")
TIME = re.compile(r"t=\+(\d+\.\d+)s")


@dataclass(frozen=True)
class Entry:
    conn: str
    sent_by_freeswitch: bool
    data: bytes
    t: float | None
    note: str


def path(name: str) -> Path:
    return FIXTURES / name


def read_transcript(name: str) -> list[Entry]:
    text = path(name).read_text(encoding="utf-8")
    return list(_entries(text))


def _entries(text: str):
    lines = text.split("\n")
    offsets = []
    at = 0
    for line in lines:
        offsets.append(at)
        at += len(line) + 1
    for i, line in enumerate(lines):
        m = ENTRY.match(line)
        if not m:
            continue
        start = text.index(BEGIN, offsets[i]) + len(BEGIN)
        size = int(m["n"])
        raw = text[start:].encode("utf-8")[:size]
        tail = text[start:].encode("utf-8")[size:].decode("utf-8")
        if not (tail.startswith(END) or tail.startswith("\n" + END) or tail.startswith("\n### (no trailing")):
            raise ValueError(f"transcript entry at line {i + 1}: {size} bytes do not end at the marker")
        t = TIME.search(m["rest"])
        yield Entry(m["conn"], m["dir"] == "<<<", raw, float(t.group(1)) if t else None, m["note"] or "")


def connections(entries: list[Entry]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.conn, []).append(e)
    return out


def received(entries: list[Entry]) -> bytes:
    return b"".join(e.data for e in entries if e.sent_by_freeswitch)
