#!/usr/bin/env python3
"""Benchmark: ingest a generated queue_log (scripts/gen_queue_log.py, shaped like the
sandbox's) into fresh books on SQLite and on PostgreSQL (scripts/postgres); print lines/s
and the peak memory of books import's two processes together (writer + reader; streaming: the target is <= 200 MB), and check
that the books hold exactly the generated calls.

Usage: .venv/bin/python scripts/bench_books_ingest.py [--calls 1000000] [--file PATH] [--only sqlite|postgresql]
Targets (issue 12): >= 100 000 lines/s, <= 200 MB. Record the output in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import json, os, resource, sys, threading, time
from pathlib import Path
from pbxctl.books.assembler import Assembler
from pbxctl.books.ingest import Ingestor, import_file
from pbxctl.books.store import BatchWriter
from pbxctl.storage.db import new_engine
engine = new_engine(sys.argv[1])
reader_hwm = {}  # pid -> VmHWM (kB) of this process's children: the reader process
def watch_reader():
    # VmHWM, not RUSAGE_CHILDREN's ru_maxrss: Linux carries the fork's RSS (a copy of this
    # process's) over the exec into ru_maxrss, while VmHWM starts again with the new program
    reader = None
    while True:
        try:
            if reader is None:
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    if "pbxctl.books.import_reader" in open(f"/proc/{pid}/cmdline").read():
                        if int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                            reader = pid
            else:
                reader_hwm[reader] = int(open(f"/proc/{reader}/status").read().split("VmHWM:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            if reader is not None:
                return  # it ended
        time.sleep(0.1 if reader else 0.02)
threading.Thread(target=watch_reader, daemon=True).start()
def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
wall, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
stats = import_file(Path(sys.argv[2]), Ingestor(BatchWriter(engine, "bench"), Assembler()))
wall, cpu = time.perf_counter() - wall, cpu_seconds(resource.RUSAGE_SELF) - cpu
# the reader process (books.import_reader) is this process's only child: its peak and CPU
reader_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
writer_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
reader_peak = max(reader_hwm.values()) / 1024
with engine.connect() as conn:
    from sqlalchemy import text
    calls = conn.execute(text("SELECT count(*) FROM books_calls")).scalar()
    outcomes = dict(conn.execute(text("SELECT outcome, count(*) FROM books_queue_stints GROUP BY outcome")).all())
print(json.dumps({"lines": stats.lines, "wall": wall, "cpu": cpu, "reader_cpu": reader_cpu, "calls": calls,
                  "writer_peak_mb": writer_peak, "reader_peak_mb": reader_peak,
                  "outcomes": outcomes, "rejected": stats.rejected_total}))
"""


FLOOR = """
import sys, time
started = time.perf_counter()
lines = 0
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        fields = line.rstrip(b"\\n").split(b"|")
        lines += 1
print(lines, time.perf_counter() - started)
"""


def floor(path: Path) -> float:
    """Lines/s of the barest pass over the file on this machine, in this run: read each line
    and split it on '|' in one process, nothing kept. Machines (and a VM's neighbours) differ
    by 3x here; the ingest's ratio to this floor is what compares across runs."""
    out = subprocess.run([sys.executable, "-c", FLOOR, str(path)], capture_output=True, text=True, check=True).stdout
    lines, seconds = out.split()
    return int(lines) / float(seconds)


def postgres_url() -> str:
    out = subprocess.run([str(REPO / "scripts" / "postgres"), "db", "pbxctl_books_bench"], capture_output=True,
                         text=True, check=True).stdout
    url = out.strip().splitlines()[-1]
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def run(url: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, url, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="reuse this generated file (made if missing)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pbxctl-bench-books-"))
    path = args.file or work / "queue_log"
    summary_file = path.with_suffix(".summary.json")
    if not path.exists() or not summary_file.exists():
        started = time.perf_counter()
        out = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_queue_log.py"), "--calls", str(args.calls),
                              "--out", str(path)], capture_output=True, text=True, check=True).stdout
        summary_file.write_text(out)
        print(f"generated {path} in {time.perf_counter() - started:.0f} s")
    truth = json.loads(summary_file.read_text())
    size = path.stat().st_size / 1e6
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"file: {truth['calls']} calls, {truth['lines']} lines, {size:.0f} MB")
    bare = floor(path)
    print(f"floor: read and split each line, nothing kept: {bare:,.0f} lines/s")
    for name in ("sqlite", "postgresql"):
        if args.only and args.only != name:
            continue
        url = f"sqlite:///{work / 'books.db'}" if name == "sqlite" else postgres_url()
        result = run(url, path)
        ok = result["calls"] == truth["calls"] and all(
            result["outcomes"].get(k, 0) == truth[k] for k in ("answered", "abandoned", "timed_out"))
        cpu = result["cpu"] + result["reader_cpu"]
        peak = result["writer_peak_mb"] + result["reader_peak_mb"]
        print(f"{name:10s} ingest: {result['lines'] / result['wall']:>9,.0f} lines/s wall "
              f"({result['lines'] / cpu:,.0f} per CPU second of both processes), {result['wall']:.1f} s, "
              f"{result['lines'] / result['wall'] / bare:.2f}x the floor, peak memory {peak:.0f} MB (writer {result['writer_peak_mb']:.0f} + reader "
              f"{result['reader_peak_mb']:.0f}), CPU writer {result['cpu']:.1f} s + reader {result['reader_cpu']:.1f} s, "
              f"books {'match' if ok else 'DIFFER from'} the generated calls "
              f"({result['calls']} calls, {result['rejected']} rejected)")


if __name__ == "__main__":
    main()
