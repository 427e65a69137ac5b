"""Parsing queue_log lines into the assembler and handing finished calls to a writer, in
batches: the part of an ingest that needs no database. `books import`'s reader process
(books.import_reader) runs it without SQLAlchemy, the site model or structlog loaded,
so it stays small; the service's follower (books.ingest.LogFollower) runs it with a
books.store.BatchWriter.
"""

from __future__ import annotations

import gc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Protocol

from pbxctl.books.assembler import AgentEvent, Assembler
from pbxctl.books.calls import Call
from pbxctl.books.queue_log import BadLine, escaped, parse_line
from pbxctl.books.rows import Checkpoint, Reject

SOURCE = "queue_log"
CHUNK = 1 << 20
BATCH_LINES = 50_000


class Writer(Protocol):
    """Where batches go: books.store.BatchWriter, or the reader process's pipe."""

    def write(self, calls: list[Call], agent_events: list[AgentEvent], rejects: list[Reject],
              checkpoint: Checkpoint | None) -> None: ...

    def close(self) -> None: ...


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



class Ingestor:
    """Parses lines, feeds the assembler and writes a batch (with the checkpoint) every
    `batch_lines` lines."""

    def __init__(self, writer: Writer, assembler: Assembler, batch_lines: int = BATCH_LINES,
                 source: str = SOURCE, log_rejects: bool = True):
        self.writer = writer
        self.log_rejects = log_rejects  # the reader process's parent logs them instead
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
        if self.log_rejects:
            log_rejected(f"{name}:{line_no}", bad.reason)

    def flush(self, checkpoint: Checkpoint | None) -> None:
        calls, events = self.assembler.take()
        rejects, self._rejects = self._rejects, []
        self.writer.write(calls, events, rejects, checkpoint)
        self.stats.calls += len(calls)
        self.stats.agent_events += len(events)
        self.stats.ignored = self.assembler.ignored


def read_whole_file(handle: BinaryIO, name: str, ingestor: Ingestor,
                    progress: Callable[[int], None] | None = None) -> IngestStats:
    """A historical file, read to its end. Calls still going on at its end are not booked
    (counted in `still_open`): the rest of them is in the next file."""
    with paused_gc():
        ingestor.feed_file(handle, name, 0, 0, True, lambda offset, line_no: None, progress)
        ingestor.stats.still_open = ingestor.assembler.settled_only()
        ingestor.flush(None)
        ingestor.writer.close()
    return ingestor.stats


def log_rejected(where: str, reason: str) -> None:
    import structlog  # here, not above: the reader process never logs (its parent does) and stays small

    structlog.get_logger("pbxctl.books").warning("books_line_rejected", where=where, reason=reason)


@contextmanager
def paused_gc():
    """No cyclic garbage collection while a file is imported: the import makes millions of
    tuples and small objects without cycles (lines, calls, rows) and keeps the calls still
    going on alive, and the collector's passes over them were a fifth of the CPU time (a
    young-generation pass per batch still cost 50-100 ms and found nothing). Everything
    at the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()
