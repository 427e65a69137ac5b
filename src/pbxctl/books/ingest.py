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

import hashlib
import os
import time
from pathlib import Path
from typing import BinaryIO, Callable

import structlog

from pbxctl.books.import_reader import BATCH, ReaderJob, run_reader
from pbxctl.books.ingestor import IngestStats, Ingestor, log_rejected, paused_gc
from pbxctl.books.rows import Checkpoint
from pbxctl.books.store import load_checkpoint

log = structlog.get_logger("pbxctl.books")


def head_digest(path: Path | str) -> str:
    with open(path, "rb") as handle:
        first = handle.readline(256)
    return hashlib.blake2b(first, digest_size=8).hexdigest()


EMPTY_HEAD = hashlib.blake2b(b"", digest_size=8).hexdigest()


def import_file(path: Path, ingestor: Ingestor, progress: Callable[[int], None] | None = None) -> IngestStats:
    """A historical file, read to its end: read, parsed and assembled by a reader process
    (books.import_reader) while this one writes the batches it sends with `ingestor`'s
    writer (in the foreground is best: the reader goes on meanwhile). Calls still going on at its end are not booked (counted in `still_open`): the
    rest of them is in the next file. A batch the database did not take stops the reader
    (StoreFailed): the import can be run again, nothing is counted twice."""
    frames = run_reader(ReaderJob(str(path), ingestor.writer.node, ingestor.assembler, ingestor.batch_lines,
                                  ingestor.source))
    with paused_gc():
        try:
            while True:
                kind, value = next(frames)
                if kind == BATCH:
                    for reject in value.rejects:  # REJECT_COLUMNS: file, line_no, ..., reason
                        log_rejected(f"{reject[2]}:{reject[3]}", reject[5])
                    ingestor.writer.write_rows(value, None)
                elif progress:
                    progress(value)
                del value  # a written batch is not held while the next one is read
        except StopIteration as done:
            ingestor.stats = done.value
        finally:
            frames.close()
        ingestor.writer.close()
    return ingestor.stats


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
