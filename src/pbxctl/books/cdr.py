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
from typing import BinaryIO, Callable

from sqlalchemy.engine import Engine

from pbxctl.books.ingestor import read_lines
from pbxctl.books.queue_log import escaped
from pbxctl.books.rows import Checkpoint, Reject
from pbxctl.books.store import CDR_COLUMNS, BatchWriter

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
SOURCE = "cdr"


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


class CdrIngestor:
    """CDR lines -> books_cdr rows, written a batch at a time with the checkpoint (the
    same interface as `ingest.Ingestor`, so `ingest.LogFollower` follows the CDR file as it
    follows queue_log). A record is whole on its line: nothing waits for later lines, so the
    replay point is where reading stopped."""

    source = SOURCE

    def __init__(self, writer: BatchWriter, batch: int = BATCH):
        self.writer = writer
        self.node = writer.node
        self.batch = batch
        self.stats = CdrStats()
        self._rows: list[tuple] = []
        self._rejects: list[Reject] = []

    def feed_file(self, handle: BinaryIO, name: str, offset: int, line_no: int, final: bool,
                  checkpoint: Callable[[int, int], Checkpoint | None],
                  progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Reads whole lines from `offset`; returns the offset and line number after the last."""
        end = offset
        for start, line_no, raw in read_lines(handle, offset, line_no, final):
            end = start + len(raw) + 1
            if raw.strip():
                self._feed(name, line_no, raw)
            if len(self._rows) + len(self._rejects) >= self.batch:
                self.flush(checkpoint(end, line_no))
                if progress:
                    progress(end)
        self.flush(checkpoint(end, line_no))
        if progress:
            progress(end)
        return end, line_no

    def _feed(self, name: str, line_no: int, raw: bytes) -> None:
        try:
            record = parse_record(raw)
        except BadRecord as exc:
            reject = Reject(SOURCE, name, line_no, str(exc), raw, escaped(raw))
            self._rejects.append(reject)
            self.stats.rejected[str(exc).split(" (")[0]] += 1
            if len(self.stats.examples) < 20:
                self.stats.examples.append(reject.message())
            return
        self._rows.append((self.node, *(record[c] for c in CDR_COLUMNS[1:])))
        self.stats.records += 1

    def flush(self, checkpoint: Checkpoint | None) -> None:
        rows, rejects = self._rows, self._rejects
        self._rows, self._rejects = [], []
        self.writer.write([], [], rejects, checkpoint, rows)

    def restart(self) -> None:
        """Drop what was read but not stored: it is read again from the checkpoint."""
        self._rows, self._rejects = [], []

    def replay_point(self, offset: int, line_no: int) -> tuple[int, int]:
        return offset, line_no

    def tick(self, now: int) -> None:
        """Nothing waits for time to pass in a CDR file."""

    def file_switched(self) -> None:
        """Nothing read from the old file waits for lines of the new one."""


def import_cdr(path: Path, engine: Engine, node: str, progress: Callable[[int], None] | None = None) -> CdrStats:
    """A historical CDR file, read to its end. A record whose call is in the books gives the
    call its linkedid; a call booked later takes it from its record then."""
    ingestor = CdrIngestor(BatchWriter(engine, node))
    with open(path, "rb") as handle:
        ingestor.feed_file(handle, path.name, 0, 0, True, lambda offset, line_no: None, progress)
    ingestor.writer.close()
    return ingestor.stats
