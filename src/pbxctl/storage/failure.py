"""What went wrong when the database did not take a write, in one word for the log line:
an engineer reading `books_write_failed fault=disk_full` knows where to look without
decoding a driver's message (SQLite says "database or disk is full", PostgreSQL "could
not extend file" or "connection refused")."""

from __future__ import annotations

DISK_FULL = "disk_full"
LOCKED = "database_locked"
UNREACHABLE = "database_unreachable"
OTHER = "database_error"

# PostgreSQL SQLSTATEs: class 53 (insufficient resources): 53100 disk_full; class 08
# (connection exception) and 57P01-57P03 (the server shutting down or starting).
_PG_DISK_FULL = {"53100"}
_PG_GONE_PREFIXES = ("08", "57P")

_TEXT = (
    (DISK_FULL, ("disk is full", "no space left on device", "could not extend file")),
    (LOCKED, ("database is locked", "database table is locked")),
    (UNREACHABLE, ("connection refused", "could not connect", "server closed the connection",
                   "terminating connection", "the database system is shutting down",
                   "the database system is starting up", "connection is closed", "unable to open database file")),
)


def failure_kind(exc: BaseException) -> str:
    """disk_full, database_locked, database_unreachable or database_error."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or ""
    if state in _PG_DISK_FULL:
        return DISK_FULL
    if state.startswith(_PG_GONE_PREFIXES):
        return UNREACHABLE
    text = f"{orig} {exc}".lower()
    for kind, needles in _TEXT:
        if any(n in text for n in needles):
            return kind
    return OTHER
