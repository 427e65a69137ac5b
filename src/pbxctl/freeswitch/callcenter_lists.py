"""`callcenter_config ... list` output (mod_callcenter 1.10.12): pipe-separated rows under a
header row, ending with a line `+OK`. Errors are only in the body (`-ERR ...`)."""

from __future__ import annotations


class CallcenterError(ValueError):
    """mod_callcenter answered -ERR (or nothing usable)."""


def parse_table(body: str) -> list[dict[str, str]]:
    lines = body.rstrip("\n").split("\n")
    if not lines or lines[0].startswith("-ERR"):
        raise CallcenterError(lines[0] if lines else "empty reply")
    if lines[-1] != "+OK":
        raise CallcenterError(f"list does not end with +OK: {lines[-1]!r}")
    if len(lines) == 1:
        return []  # `+OK` alone: nothing listed (e.g. `agent list NAME` of a deleted agent)
    names = lines[0].split("|")
    rows = []
    for line in lines[1:-1]:
        values = line.split("|")
        if len(values) != len(names):
            raise CallcenterError(f"row has {len(values)} fields, header {len(names)}: {line!r}")
        rows.append(dict(zip(names, values)))
    return rows


def parse_channels(body: str) -> list[dict[str, str]]:
    """`show channels` (1.10.12): a comma-separated header row, one row per channel, a blank
    line, then `N total.`. Values with commas are not quoted by FreeSWITCH, so a row with
    more fields than the header keeps the extra ones in its last column."""
    lines = [line for line in body.rstrip("\n").split("\n")]
    if not lines or lines[0].startswith("-ERR"):
        raise CallcenterError(lines[0] if lines else "empty reply")
    names = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        if not line or line.endswith(" total."):
            continue
        values = line.split(",", len(names) - 1)
        rows.append(dict(zip(names, values)))
    return rows
