"""The FreeSWITCH CDR file (mod_cdr_csv, pbxctl's template) followed into the books, or
imported whole (`pbxctl books import-freeswitch`). Blocking file and database I/O: the
service runs `poll()` in a thread.

The checkpoint (inode, offset, a digest of the first line) is written in the same
transaction as the calls read up to it (books.store.BatchWriter). After a restart the
file is read again from the oldest offer row still waiting for its member row, so a call
cut by the restart is booked whole; rows read twice change nothing (natural keys). A
file rotated by rename (mod_cdr_csv's rotate on HUP or size: `Master.csv` ->
`Master.csv.<time>`) is read to its end before the new file, also when the service was down
across the rotation (the old inode is found beside the file); a copytruncate (shorter than
the checkpoint, or another first line) is read from the start.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.books.ingest import rotated_copy
from pbxctl.books.rows import Checkpoint, Reject
from pbxctl.books.site_view import thresholds_of
from pbxctl.books.store import BatchWriter, load_checkpoint
from pbxctl.freeswitch.cdr import BadRecord, CdrAssembler, parse_line, queue_mapping
from pbxctl.site import model as m

log = structlog.get_logger("pbxctl.books")

SOURCE = "freeswitch_cdr"
BATCH_LINES = 5_000
# An offer row whose member row has not come within this many lines is a call that never
# ended in a queue (e.g. hung up by `hupall`): forgotten, so the replay point moves on.
OFFER_HORIZON_LINES = 50_000


def head_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return head_of_handle(handle)


def head_of_handle(handle: BinaryIO) -> str:
    """A digest of the first line of the open file (also after its name moved on)."""
    first = os.pread(handle.fileno(), 1 << 16, 0).split(b"\n", 1)
    line = first[0] + b"\n" if len(first) == 2 else first[0]
    return hashlib.blake2b(line, digest_size=8).hexdigest()


EMPTY_HEAD = hashlib.blake2b(b"", digest_size=8).hexdigest()


@dataclass
class CdrStats:
    lines: int = 0
    calls: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


class CdrFollower:
    def __init__(self, path: Path, writer: BatchWriter, node: str, assembler: CdrAssembler):
        self.path = path
        self.writer = writer
        self.node = node
        self.assembler = assembler
        self.stats = CdrStats()
        self._inode = 0
        self._offset = 0
        self._line_no = 0
        self._offsets: dict[int, int] = {}  # line number -> offset, for lines with waiting offers
        self._handle: BinaryIO | None = None  # the file being read: kept open across a rename
        self._head = ""

    def start(self, engine: Engine) -> None:
        """From the stored checkpoint if it is this file's (or the file a rename rotation
        moved it to), else from the start (also after a batch the database did not take:
        nothing read since the checkpoint was booked)."""
        self._close()
        self._inode, self._offset, self._line_no, self._offsets = 0, 0, 0, {}
        self.assembler.forget_before(1 << 62)
        cp = load_checkpoint(engine, self.node, SOURCE)
        if cp is None or not self.path.exists():
            return
        st = os.stat(self.path)
        if cp.inode == st.st_ino and cp.head == head_of(self.path) and cp.offset <= st.st_size:
            self._open(self.path, cp.replay_offset, cp.replay_line_no)
            return
        old = rotated_copy(self.path, cp.inode) if cp.inode != st.st_ino else None
        if old is not None and head_of(old) == cp.head:
            log.info("books_catching_up_rotated", source=SOURCE, path=str(old), offset=cp.offset)
            self._open(old, cp.replay_offset, cp.replay_line_no)

    def poll(self) -> int:
        """Read what was added since the last poll; the calls booked."""
        if not self.path.exists():  # between the rename and FreeSWITCH's reopen
            return self._drain() if self._handle is not None else 0
        st = os.stat(self.path)
        booked = 0
        if self._handle is not None and st.st_ino != self._inode:
            booked += self._drain()  # the rotated file to its end first
            log.info("books_cdr_rotated", path=str(self.path))
            self._close()
            self._offsets = {}
            self._open(self.path, 0, 0)
        elif self._handle is None:
            self._open(self.path, 0, 0)
        elif st.st_size < self._offset or (self._offset and head_of(self.path) != self._head):
            log.info("books_cdr_replaced", path=str(self.path))  # copytruncate, or another file
            self._offsets = {}
            self._open(self.path, 0, 0)
        return booked + self._drain()

    def _drain(self) -> int:
        assert self._handle is not None
        if self._head == EMPTY_HEAD:  # opened while empty: its first line may be here now
            self._head = head_of_handle(self._handle)
        booked = 0
        self._handle.seek(self._offset)
        while True:
            calls, rejects, done = self._read_batch(self._handle)
            if not calls and not rejects and not done:
                break
            self.writer.write(calls, [], rejects, self._checkpoint())
            booked += len(calls)
            if not done:
                break
        return booked

    def _open(self, path: Path, offset: int, line_no: int) -> None:
        self._close()
        self._handle = open(path, "rb")
        self._inode = os.fstat(self._handle.fileno()).st_ino
        self._head = head_of_handle(self._handle)
        self._offset, self._line_no = offset, line_no

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = None

    def _read_batch(self, handle) -> tuple[list, list[Reject], bool]:
        """Up to BATCH_LINES complete lines; `done` is False once the file's end was reached."""
        calls, rejects = [], []
        for _ in range(BATCH_LINES):
            raw = handle.readline()
            if not raw.endswith(b"\n"):  # end of file, or a line FreeSWITCH is still writing
                return calls, rejects, False
            self._line_no += 1
            start, self._offset = self._offset, self._offset + len(raw)
            self.stats.lines += 1
            try:
                record = parse_line(raw)
            except BadRecord as exc:
                reject = Reject(SOURCE, self.path.name, self._line_no, str(exc), raw,
                                raw.decode("utf-8", "backslashreplace").rstrip("\n"))
                self.stats.rejected[str(exc)] += 1
                if len(self.stats.examples) < 20:
                    self.stats.examples.append(reject.message())
                rejects.append(reject)
                continue
            booked = self.assembler.feed(record, self._line_no)
            if not booked and record["cc_side"] == "agent":
                self._offsets[self._line_no] = start
            calls += booked
            self.stats.calls += len(booked)
        return calls, rejects, True

    def _checkpoint(self) -> Checkpoint:
        self.assembler.forget_before(self._line_no - OFFER_HORIZON_LINES)
        oldest = self.assembler.pending_since()
        self._offsets = {n: o for n, o in self._offsets.items() if oldest is not None and n >= oldest}
        replay_line, replay_offset = (oldest - 1, self._offsets[oldest]) if oldest in self._offsets else (
            self._line_no, self._offset)
        return Checkpoint(SOURCE, str(self.path), self._inode, self._offset, self._line_no, replay_offset, replay_line,
                          self._head)


def cdr_follower(site: m.Site, engine: Engine, base_dir: Path, node: str,
                 wrapup_of: Callable[[str], int | None]) -> CdrFollower:
    path = Path(site.pbx.freeswitch.cdr_file)
    if not path.is_absolute():
        path = base_dir / path
    assembler = CdrAssembler(queue_mapping(site.pbx.freeswitch.queue_domain), lambda agent: agent, wrapup_of)
    return CdrFollower(path, BatchWriter(engine, node, thresholds=thresholds_of(site)), node, assembler)
