"""Reading queue_log into the books: a historical file at once (`import_file`), or the
PBX's live file followed with a checkpoint (`LogFollower`; the CDR file is followed the
same way, with `cdr.CdrIngestor` in place of `Ingestor`).

The checkpoint (inode, offset, and a digest of the first line) is written in the same
transaction as the facts read up to it. After a restart the follower re-reads from the
first line of the oldest call that was still going on (the replay point): the facts it
writes again are already there and change nothing. Rotation: when the path names another
inode (logrotate's rename, Asterisk's `logger rotate`), the old file is read to its end
first; when the file is shorter than the offset (copytruncate), reading starts over at 0.
Lines that are not facts are stored in books_rejects as `FILE:LINE: reason`.
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import structlog

from pbxctl.books.assembler import Assembler
from pbxctl.books.queue_log import BadLine, escaped, parse_line
from pbxctl.books.store import BatchWriter, Checkpoint, Reject, load_checkpoint

log = structlog.get_logger("pbxctl.books")

SOURCE = "queue_log"
CHUNK = 1 << 20
BATCH_LINES = 50_000


@dataclass
class IngestStats:
    lines: int = 0
    calls: int = 0
    agent_events: int = 0
    ignored: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    examples: list[str] = field(default_factory=list)  # first few `FILE:LINE: reason`
    still_open: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def read_lines(handle: BinaryIO, offset: int, line_no: int, final: bool) -> Iterator[tuple[int, int, bytes]]:
    """(start offset, line number, raw line) for each whole line from `offset`. A last
    line without its line end is given only when `final` (the file will not grow)."""
    handle.seek(offset)
    rest = b""
    start = offset
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for raw in lines:
            line_no += 1
            yield start, line_no, raw
            start += len(raw) + 1
    if rest and final:
        yield start, line_no + 1, rest


def head_digest(path: Path | str) -> str:
    with open(path, "rb") as handle:
        first = handle.readline(256)
    return hashlib.blake2b(first, digest_size=8).hexdigest()


EMPTY_HEAD = hashlib.blake2b(b"", digest_size=8).hexdigest()


class Ingestor:
    """Parses lines, feeds the assembler and writes a batch (with the checkpoint) every
    `batch_lines` lines."""

    def __init__(self, writer: BatchWriter, assembler: Assembler, batch_lines: int = BATCH_LINES,
                 source: str = SOURCE):
        self.writer = writer
        self.assembler = assembler
        self.batch_lines = batch_lines
        self.source = source
        self.stats = IngestStats()
        self._rejects: list[Reject] = []

    def restart(self) -> None:
        """Drop what was read but not stored (calls going on, rejects): it is read again."""
        old = self.assembler
        self.assembler = Assembler(old.agent_of, old.wrapup_of, old.settle, old.give_up, old.ivr_settle)
        self._rejects = []

    def replay_point(self, offset: int, line_no: int) -> tuple[int, int]:
        return self.assembler.replay_point(offset, line_no)

    def tick(self, now: int) -> None:
        self.assembler.tick(now)

    def file_switched(self) -> None:
        """Calls that began in the old file: after a restart, replay from the new file's start."""
        for pending in self.assembler.pending.values():
            pending.first_offset, pending.first_line_no = 0, 0

    def feed_file(self, handle: BinaryIO, name: str, offset: int, line_no: int, final: bool,
                  checkpoint: Callable[[int, int], Checkpoint | None],
                  progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Reads whole lines from `offset`; returns the offset and line number after the last."""
        assembler, stats = self.assembler, self.stats
        feed = assembler.feed
        count = 0
        end = offset
        for start, line_no, raw in read_lines(handle, offset, line_no, final):
            end = start + len(raw) + 1
            parsed = parse_line(raw)
            if type(parsed) is BadLine:
                self._reject(name, line_no, raw, parsed)
            else:
                feed(parsed, start, line_no)
            count += 1
            if count >= self.batch_lines:
                stats.lines += count
                count = 0
                self.flush(checkpoint(end, line_no))
                if progress:
                    progress(end)
        stats.lines += count
        self.flush(checkpoint(end, line_no))
        if progress:
            progress(end)
        return end, line_no

    def _reject(self, name: str, line_no: int, raw: bytes, bad: BadLine) -> None:
        reject = Reject(self.source, name, line_no, bad.reason, raw, escaped(raw), bad.at)
        self._rejects.append(reject)
        self.stats.rejected[bad.reason.split(" (")[0].split(":")[0]] += 1
        if len(self.stats.examples) < 20:
            self.stats.examples.append(reject.message())
        log.warning("books_line_rejected", where=f"{name}:{line_no}", reason=bad.reason)

    def flush(self, checkpoint: Checkpoint | None) -> None:
        if not gc.isenabled():  # an import (`paused_gc`): what this batch left in cycles goes now
            gc.collect(1)
        calls, events = self.assembler.take()
        rejects, self._rejects = self._rejects, []
        self.writer.write(calls, events, rejects, checkpoint)
        self.stats.calls += len(calls)
        self.stats.agent_events += len(events)
        self.stats.ignored = self.assembler.ignored


def import_file(path: Path, ingestor: Ingestor, progress: Callable[[int], None] | None = None) -> IngestStats:
    """A historical file, read to its end. Calls still going on at its end are not booked
    (counted in `still_open`): the rest of them is in the next file."""
    with paused_gc(), open(path, "rb") as handle:
        ingestor.feed_file(handle, path.name, 0, 0, True, lambda offset, line_no: None, progress)
        ingestor.stats.still_open = ingestor.assembler.settled_only()
        ingestor.flush(None)
        ingestor.writer.close()
    return ingestor.stats


@contextmanager
def paused_gc():
    """No automatic cyclic garbage collection while a file is imported: the import makes
    millions of tuples and small objects without cycles (lines, rows) and keeps the calls
    still going on alive, and the collector's full passes over them were a fifth of the CPU
    time. The young generations are collected once per batch (`Ingestor.flush`), all of it
    at the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()


def rotated_copy(path: Path, inode: int) -> Path | None:
    """The file a rename rotation moved `inode` to, beside `path` (queue_log.1,
    queue_log-2026..., Master.csv.2026-12-02-03-40-00)."""
    for candidate in path.parent.glob(path.name + "*"):
        try:
            if candidate != path and candidate.stat().st_ino == inode:
                return candidate
        except OSError:
            continue
    return None


class LogFollower:
    """Follows one of the PBX's logs (queue_log with an `Ingestor`, the CDR file with a
    `cdr.CdrIngestor`): call `poll()` every second or so (from a thread: the writes are
    blocking). The checkpoint is the ingestor's `source`'s."""

    def __init__(self, path: Path, ingestor, node: str, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.ingestor = ingestor
        self.node = node
        self.clock = clock
        self.handle: BinaryIO | None = None
        self.inode = 0
        self.head = ""
        self.offset = 0
        self.line_no = 0
        self._missing_told = False

    @property
    def source(self) -> str:
        return self.ingestor.source

    def _checkpoint(self, offset: int, line_no: int) -> Checkpoint:
        replay = self.ingestor.replay_point(offset, line_no)
        return Checkpoint(self.source, str(self.path), self.inode, offset, line_no, replay[0], replay[1], self.head)

    def _open(self, path: Path, offset: int, line_no: int) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle = open(path, "rb")
        self.inode = os.fstat(self.handle.fileno()).st_ino
        self.head = head_digest(path)
        self.offset, self.line_no = offset, line_no

    def _read(self, final: bool) -> None:
        assert self.handle is not None
        if self.head == EMPTY_HEAD:  # opened while empty: the first line is here now
            self.head = head_digest(self.path)
        self.offset, self.line_no = self.ingestor.feed_file(
            self.handle, self.path.name, self.offset, self.line_no, final, self._checkpoint
        )

    def start(self) -> None:
        """Resume from the checkpoint (catching up on what was written while down)."""
        cp = load_checkpoint(self.ingestor.writer.engine, self.node, self.source)
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if not self._missing_told:
                log.warning("books_log_missing", source=self.source, path=str(self.path))
                self._missing_told = True
            return
        self._missing_told = False
        if cp is None:
            self._open(self.path, 0, 0)
            return
        if cp.inode == stat.st_ino and stat.st_size >= cp.offset and head_digest(self.path) == cp.head:
            self._open(self.path, cp.replay_offset, cp.replay_line_no)
            return
        old = rotated_copy(self.path, cp.inode) if cp.inode != stat.st_ino else None
        if old is not None and head_digest(old) == cp.head:
            log.info("books_catching_up_rotated", source=self.source, path=str(old), offset=cp.offset)
            self._open(old, cp.replay_offset, cp.replay_line_no)
            self._read(final=True)
            self._switch_to_new()
            return
        if cp.inode == stat.st_ino:
            log.info("books_log_truncated", source=self.source, path=str(self.path), offset=cp.offset,
                     size=stat.st_size)
        else:
            log.warning("books_rotated_file_not_found", source=self.source, path=str(self.path), inode=cp.inode)
        self._open(self.path, 0, 0)

    def reset(self) -> None:
        """After a batch the database never took: forget what was read since the last
        stored checkpoint; the next poll reads it again from there."""
        if self.handle is not None:
            self.handle.close()
        self.handle = None
        self.ingestor.restart()

    def _switch_to_new(self) -> None:
        self.ingestor.file_switched()
        self._open(self.path, 0, 0)

    def poll(self) -> None:
        if self.handle is None:
            self.start()
            if self.handle is None:
                return
        try:
            stat = self.path.stat()
        except FileNotFoundError:  # between logrotate's rename and Asterisk's reopen
            self._read(final=False)
            return
        if stat.st_ino != self.inode:
            self._read(final=True)
            self._switch_to_new()
        elif stat.st_size < self.offset or (self.offset and head_digest(self.path) != self.head):
            # copytruncate: shorter than what was read, or (already longer again) another first line
            log.info("books_log_truncated", source=self.source, path=str(self.path), offset=self.offset,
                     size=stat.st_size)
            self._open(self.path, 0, 0)
        self._read(final=False)
        self.ingestor.tick(int(self.clock()))
        self.ingestor.flush(self._checkpoint(self.offset, self.line_no))
