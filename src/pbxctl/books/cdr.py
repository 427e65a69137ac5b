"""Asterisk's CDR files into books_cdr.

pbxctl reads CDR files, not CDR/CEL over AMI: a file is written by Asterisk whether or
not pbxctl's service runs (the fail-open outage is exactly when the books need it), and it
is read with the same offset/checkpoint discipline as queue_log; AMI's Cdr events are gone
for good when the link is down. The preferred file is cdr_custom's `pbxctl.csv` in the
section below (`CDR_CUSTOM_SECTION`: it adds linkedid, which ties a call's legs together,
and sequence, the CDR's natural key); cdr_csv's Master.csv (no linkedid, local or GMT
times as `usegmtime` says — read as UTC here) is accepted too.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from pbxctl.books.queue_log import escaped
from pbxctl.books.store import REJECT_COLUMNS, REJECTS, Reject, insert_new, reject_rows
from pbxctl.books.tables import BooksCall, BooksCdr

CDR_FIELDS = (
    "start", "answer", "end", "duration", "billsec", "disposition", "src", "dst", "dcontext", "clid", "channel",
    "dstchannel", "lastapp", "lastdata", "accountcode", "userfield", "uniqueid", "linkedid", "sequence",
)
# cdr_custom.conf section (Asterisk 20+ "advanced" mapping: no dialplan functions per record).
CDR_CUSTOM_SECTION = (
    "[pbxctl.csv]\nformat = dsv\nfields = "
    + ",".join(f"{name}(int64)" if name in ("start", "answer", "end") else name for name in CDR_FIELDS)
    + "\n"
)
MASTER_FIELDS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "start",
    "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield",
)
BATCH = 20_000
CDR_COLUMNS = (
    "node", "uniqueid", "record_key", "linkedid", "start_at", "answer_at", "end_at", "duration", "billsec",
    "disposition", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "accountcode",
    "userfield",
)


class BadRecord(ValueError):
    pass


def _seconds(text: str, required: bool) -> int | None:
    text = text.strip()
    if not text or text in ("0", "0.000000"):
        if required:
            raise BadRecord("a required time is empty")
        return None
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        return int(dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp())
    except ValueError:
        raise BadRecord(f"time {text[:25]!r} is neither Unix seconds nor YYYY-MM-DD HH:MM:SS") from None


def _int(text: str, name: str) -> int:
    try:
        return int(float(text or 0))
    except ValueError:
        raise BadRecord(f"{name} {text[:20]!r} is not a number") from None


def parse_record(raw: bytes) -> dict:
    """One CDR line -> books_cdr columns (without node). Raises BadRecord."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise BadRecord(f"not UTF-8 (byte {exc.start})") from None
    try:
        values = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration) as exc:
        raise BadRecord(f"not a CSV record ({exc})") from None
    if len(values) == len(CDR_FIELDS):
        rec = dict(zip(CDR_FIELDS, values))
        key = rec["sequence"] or hashlib.blake2b(raw, digest_size=8).hexdigest()
    elif len(values) in (len(MASTER_FIELDS), len(MASTER_FIELDS) - 1):
        rec = dict(zip(MASTER_FIELDS, values))
        rec.setdefault("userfield", "")
        rec["linkedid"] = ""
        key = hashlib.blake2b(raw.rstrip(b"\r\n"), digest_size=8).hexdigest()
    else:
        raise BadRecord(f"{len(values)} fields: neither pbxctl.csv ({len(CDR_FIELDS)}) nor Master.csv "
                        f"({len(MASTER_FIELDS)} with uniqueid and userfield)")
    if not rec["uniqueid"]:
        raise BadRecord("no uniqueid (cdr_csv needs loguniqueid = yes)")
    return {
        "uniqueid": rec["uniqueid"], "record_key": key, "linkedid": rec["linkedid"] or None,
        "start_at": _seconds(rec["start"], True), "answer_at": _seconds(rec["answer"], False),
        "end_at": _seconds(rec["end"], True), "duration": _int(rec["duration"], "duration"),
        "billsec": _int(rec["billsec"], "billsec"), "disposition": rec["disposition"], "src": rec["src"],
        "dst": rec["dst"], "dcontext": rec["dcontext"], "clid": rec["clid"], "channel": rec["channel"],
        "dstchannel": rec["dstchannel"], "lastapp": rec["lastapp"], "lastdata": rec["lastdata"],
        "accountcode": rec["accountcode"], "userfield": rec["userfield"],
    }


@dataclass
class CdrStats:
    records: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def import_cdr(path: Path, engine: Engine, node: str, progress: Callable[[int], None] | None = None) -> CdrStats:
    from pbxctl.books.ingest import read_lines

    stats = CdrStats()
    table = BooksCdr.__table__
    rows: list[dict] = []
    rejects: list[Reject] = []

    def flush() -> None:
        with engine.begin() as conn:
            insert_new(conn, table, CDR_COLUMNS, [tuple(row[c] for c in CDR_COLUMNS) for row in rows])
            insert_new(conn, REJECTS, REJECT_COLUMNS, reject_rows(node, rejects))
        rows.clear()
        rejects.clear()

    with open(path, "rb") as handle:
        for start, line_no, raw in read_lines(handle, 0, 0, True):
            if not raw.strip():
                continue
            try:
                rows.append({"node": node, **parse_record(raw)})
                stats.records += 1
            except BadRecord as exc:
                reject = Reject("cdr", path.name, line_no, str(exc), raw, escaped(raw))
                rejects.append(reject)
                stats.rejected[str(exc).split(" (")[0]] += 1
                if len(stats.examples) < 20:
                    stats.examples.append(reject.message())
            if len(rows) + len(rejects) >= BATCH:
                flush()
                if progress:
                    progress(start + len(raw) + 1)
    flush()
    if progress:
        progress(path.stat().st_size)
    link_calls(engine, node)
    return stats


def link_calls(engine: Engine, node: str) -> None:
    """Give books_calls the linkedid of their CDR (queue_log knows only the uniqueid)."""
    calls, cdr = BooksCall.__table__, BooksCdr.__table__
    linked = (
        select(cdr.c.linkedid)
        .where(cdr.c.node == calls.c.node, cdr.c.uniqueid == calls.c.callid, cdr.c.linkedid.is_not(None))
        .limit(1)
        .scalar_subquery()
    )
    with engine.begin() as conn:
        conn.execute(update(calls).where(calls.c.node == node, calls.c.linkedid.is_(None)).values(linkedid=linked))
