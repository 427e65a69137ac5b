"""`books import`'s reader process: it reads the queue_log file, parses it, assembles the
calls and makes their rows (books.ingestor, books.rows), and sends each batch's rows to
the process that started it, which only writes them (books.ingest.import_file). Reading
and writing then use a core each, and the reader imports only the standard library and
pbxctl's queue_log modules (no SQLAlchemy, no site model: ~15 MB), so the two processes
together stay within the memory of one.

The pipe carries frames: one kind byte, an 8-byte length, and the payload — `B` a batch
(`marshal` of the rows' plain tuples: C-fast both ways, and both ends are the same
Python), `P` how far the file is read (for the progress bar), `D` the counts at the end,
`E` the reader's failure (its traceback). The job (file, node, assembler) comes on stdin
as a pickle; an assembler's `agent_of` and `wrapup_of` must therefore be picklable
(books.assembler.AgentNames, WrapupTable).
"""

from __future__ import annotations

import marshal
import os
import pickle
import struct
import subprocess
import sys
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from pbxctl.books.assembler import Assembler
from pbxctl.books.ingestor import IngestStats, Ingestor, read_whole_file
from pbxctl.books.rows import BatchRows

HEADER = struct.Struct("!cQ")
BATCH, PROGRESS, DONE, FAILED = b"B", b"P", b"D", b"E"


class ReaderFailed(RuntimeError):
    """The reader process stopped without finishing the file (its error is the message)."""


@dataclass
class ReaderJob:
    path: str
    node: str
    assembler: Assembler
    batch_lines: int
    source: str


def _send(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(HEADER.pack(kind, len(payload)))
    out.write(payload)
    out.flush()


class BatchSender:
    """The reader's writer: each batch's rows into the pipe."""

    def __init__(self, out: BinaryIO, node: str):
        self.out = out
        self.node = node

    def write(self, calls, agent_events, rejects, checkpoint) -> None:
        # no checkpoint: a historical import has none
        _send(self.out, BATCH, marshal.dumps(tuple(BatchRows.of(self.node, calls, agent_events, rejects))))

    def progress(self, offset: int) -> None:
        _send(self.out, PROGRESS, marshal.dumps(offset))

    def close(self) -> None:
        """Nothing to wait for: the parent has every batch once it read the frames."""


def main() -> None:
    job: ReaderJob = pickle.load(sys.stdin.buffer)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the frames
    sender = BatchSender(out, job.node)
    try:
        with open(job.path, "rb") as handle:
            stats = read_whole_file(handle, Path(job.path).name,
                                    Ingestor(sender, job.assembler, job.batch_lines, job.source, log_rejects=False),
                                    sender.progress)
    except BaseException:  # noqa: BLE001 - told to the parent, which raises it
        _send(out, FAILED, traceback.format_exc().encode())
        sys.exit(1)
    counts = asdict(stats)
    counts["rejected"] = dict(stats.rejected)
    _send(out, DONE, marshal.dumps(counts))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def run_reader(job: ReaderJob) -> Iterator[tuple[bytes, object]]:
    """Starts the reader process on `job`; yields (BATCH, BatchRows) and (PROGRESS,
    offset) frames as they come, then returns the final IngestStats (StopIteration's
    value). The process is killed if the caller stops early (a batch the database did
    not take)."""
    try:
        payload = pickle.dumps(job)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(f"the assembler's agent_of/wrapup_of cannot go to the reader process: {exc}") from exc
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "pbxctl.books.import_reader"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(payload)
        proc.stdin.close()
        while True:
            try:
                kind, size = HEADER.unpack(_read_exactly(proc.stdout, HEADER.size))
                body = _read_exactly(proc.stdout, size)
            except EOFError:
                raise ReaderFailed(f"the reader process of {job.path} ended early (exit {proc.wait()})") from None
            if kind == BATCH:
                rows = BatchRows(*marshal.loads(body))
                del body  # not held (a batch's bytes) while the caller writes and the next is read
                yield BATCH, rows
                del rows
            elif kind == PROGRESS:
                yield PROGRESS, marshal.loads(body)
            elif kind == DONE:
                counts = marshal.loads(body)
                counts["rejected"] = Counter(counts["rejected"])
                proc.wait()
                return IngestStats(**counts)
            else:
                raise ReaderFailed(f"the reader process of {job.path} failed:\n{body.decode(errors='replace')}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


if __name__ == "__main__":
    main()
