"""Benchmark: a month's queue report by day over the books of 1 M calls, beside one bare
`SELECT ... GROUP BY` over the same stints, in the same run (SQLite, or PostgreSQL with
--db postgresql://...): the report as pbxctl makes it (from the quarter-hour sums the
ingestor keeps) and as it makes it when the sums cannot answer (from every stint and leg),
both documents checked equal. Prints figures; docs/benchmarks.md records them.

    .venv/bin/python scripts/bench_reports.py [--calls 1000000] [--db URL] [--keep]

Without --db it fills a fresh SQLite file (the month of November 2026). The books are written by the
ingestor's writer (store.write_batch: stints with their entry, legs with the cut wrap-up,
the quarter-hour sums),
shaped like what the ingestor writes from the sandbox's queue_log (a stint per
queue visit, overflow stints, agent legs with wrap-up, callback lines); with --db URL of
a database already holding books and --no-fill it reports over those, e.g. a month
written by scripts/gen_queue_log.py and ingested with `pbxctl books import`:

    scripts/gen_queue_log.py --calls 1000000 --out /tmp/queue_log
    pbxctl books import /tmp/queue_log --db sqlite:////tmp/books.db
    scripts/bench_reports.py --db sqlite:////tmp/books.db --no-fill --from 2026-12-01 --to 2026-12-31 \
        --queues support,sales,billing,tech
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import bindparam, text  # noqa: E402

from pbxctl.books.calls import AgentLeg, Call, PbxctlEvent, QueueStint  # noqa: E402
from pbxctl.books.queue_report import queue_report  # noqa: E402
from pbxctl.books.quarter_sums import Thresholds  # noqa: E402
from pbxctl.books.report_source import tally_quarters, tally_scan  # noqa: E402
from pbxctl.books.report_window import make_window  # noqa: E402
from pbxctl.books.store import write_batch  # noqa: E402
from pbxctl.storage.db import engine_for  # noqa: E402

TZ = "Europe/Oslo"
QUEUES = ["support", "sales", "billing", "tech", "vip"]
AGENTS = [f"agent{i:02d}" for i in range(40)]
SL = {q: 20 for q in ("support", "sales", "billing", "tech", "vip")}
MONTH_START = dt.datetime(2026, 11, 1, tzinfo=ZoneInfo(TZ))
DAYS = 30


def fill(engine, calls: int, seed: int = 12) -> None:
    """The month's books, written by the ingestor's own writer (`store.write_batch`), so
    each stint gets its entry and each leg its wrap-up cut at the agent's next call as an
    ingest would store them."""
    rnd = random.Random(seed)
    start = int(MONTH_START.timestamp())
    span = DAYS * 86400
    batch: list[Call] = []
    agent_free = {a: 0 for a in AGENTS}

    def flush() -> None:
        with engine.begin() as conn:
            write_batch(conn, "pbx1", batch, [], [], None, thresholds=Thresholds(SL, 5))
        batch.clear()

    times = sorted(start + rnd.randrange(span) for _ in range(calls))
    for n, t in enumerate(times):
        queue = QUEUES[n % len(QUEUES)]
        entry = rnd.choice(("22334455", "22334466", "81500100"))
        call = Call(f"{t}.{n}", t - 8, t + 300, f"47{rnd.randrange(10**7, 10**8)}", "", entry)
        entered = t
        for visit in range(2):
            r = rnd.random()
            wait = int(rnd.expovariate(1 / 25))
            outcome = ("answered" if r < 0.80 else "abandoned" if r < 0.90 else "timed_out" if r < 0.95
                       else "exit_empty" if r < 0.98 else "refused")
            if visit == 1 and outcome in ("timed_out", "refused"):
                outcome = "abandoned"
            exit_to = None
            if outcome in ("timed_out", "refused"):
                exit_to = f"queue:{QUEUES[(QUEUES.index(queue) + 1) % len(QUEUES)]}"
            elif outcome == "exit_empty":
                exit_to = "voicemail:100"
            agent = rnd.choice(AGENTS) if outcome == "answered" else None
            stint = QueueStint(queue, entered, entered + wait, outcome, wait_seconds=0 if outcome == "refused" else wait,
                               answered_at=entered + wait if agent else None, member=agent, agent=agent, exit_to=exit_to)
            call.stints.append(stint)
            if agent:
                connected = max(entered + wait, agent_free[agent])
                talk = int(rnd.expovariate(1 / 180)) + 5
                # the agent is free again 0-20 s after hanging up: about half the 10 s wrap-ups are cut
                agent_free[agent] = connected + talk + rnd.randrange(0, 21)
                stint.leg = AgentLeg(agent, agent, connected, connected + talk, talk, "caller", 10)
            if outcome == "exit_empty" and rnd.random() < 0.5:
                call.pbxctl_events.append(PbxctlEvent(entered + wait + 5, "PBXCTLCALLBACK", f"{n}", queue, ""))
            if not exit_to or not exit_to.startswith("queue:"):
                break
            queue, entered = exit_to.removeprefix("queue:"), entered + wait + 1
        batch.append(call)
        if len(batch) >= 20_000:
            flush()
    flush()


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--db", help="SQLAlchemy URL (default: a new SQLite file)")
    parser.add_argument("--no-fill", action="store_true", help="report over the books already in --db")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--from", dest="start", default="2026-11-01", help="first day of the month reported")
    parser.add_argument("--to", dest="end", default="2026-11-30", help="last day")
    parser.add_argument("--queues", default=",".join(QUEUES), help="comma-separated (default: the filled ones)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file made without --db (its path is printed)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="pbxctl-bench-")
    try:
        run(args, tmp)
    finally:
        if args.keep and not args.db:
            print(f"kept sqlite:///{tmp}/books.db")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: str) -> None:
    url = args.db or f"sqlite:///{tmp}/books.db"
    engine = engine_for(url)
    if not args.no_fill:
        with engine.begin() as conn:
            for table in ("books_calls", "books_queue_stints", "books_agent_legs", "books_pbxctl_events",
                          "books_queue_quarters", "books_leg_quarters"):
                conn.execute(text(f"DELETE FROM {table}"))
        t0 = time.perf_counter()
        fill(engine, args.calls)
        print(f"filled {args.calls} calls in {time.perf_counter() - t0:.1f} s ({engine.dialect.name})")
    with engine.connect() as conn:
        server = (f"SQLite {conn.exec_driver_sql('SELECT sqlite_version()').scalar()}" if engine.dialect.name == "sqlite"
                  else conn.exec_driver_sql("SHOW server_version").scalar().split()[0])
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, {server}, load average {os.getloadavg()[0]:.2f}, "
              f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
        stints = conn.execute(text("SELECT COUNT(*) FROM books_queue_stints")).scalar()
        legs = conn.execute(text("SELECT COUNT(*) FROM books_agent_legs")).scalar()
        quarters = conn.execute(text("SELECT COUNT(*) FROM books_queue_quarters")).scalar()
        leg_quarters = conn.execute(text("SELECT COUNT(*) FROM books_leg_quarters")).scalar()
        if engine.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    window = make_window(args.start, args.end, TZ, "day")
    queues = args.queues.split(",")
    offsets = window.offsets()
    if len(offsets) != 1:
        sys.exit("pick a month without a DST change: the bare query adds one fixed offset")
    offset = offsets[0][1]
    bare_sql = text(
        "SELECT queue, (entered_at + :offset) / 86400 AS day, outcome, COUNT(*), SUM(wait_seconds) "
        "FROM books_queue_stints WHERE entered_at >= :start AND entered_at < :end AND queue IN :queues "
        "GROUP BY queue, (entered_at + :offset) / 86400, outcome").bindparams(bindparam("queues", expanding=True))

    def bare():
        with engine.connect() as conn:
            return conn.execute(bare_sql, {"offset": offset, "start": window.start_epoch,
                                           "end": window.end_epoch, "queues": queues}).fetchall()

    def report():  # what `pbxctl report queues` runs: the quarter-hour sums answer this window
        tallies = tally_quarters(engine, window, queues, SL, 5)
        if tallies is None:
            sys.exit("the quarter-hour sums did not answer (thresholds or window)")
        return queue_report(tallies, window, queues, SL, 5, 80.0)

    def report_scan():  # the fallback: every stint and leg of the month
        return queue_report(tally_scan(engine, window, queues, SL, 5), window, queues, SL, 5, 80.0)

    bare()  # warm the page cache for all alike
    bare_s, rows = timed(bare, args.repeat)
    report_s, doc = timed(report, args.repeat)
    scan_s, scan_doc = timed(report_scan, args.repeat)
    total = next(r for r in doc["totals"] if r["queue"] == "(all queues)")
    bare_offered = sum(r[3] for r in rows if r[2] != "refused")
    print(f"{engine.dialect.name}: {stints} stints, {legs} agent legs in the books; quarter-hour sums: {quarters} "
          f"stint groups, {leg_quarters} leg groups")
    print(f"bare SELECT ... GROUP BY (queue, day, outcome): {bare_s:.3f} s, {len(rows)} groups")
    print(f"queue report, month by day, {len(queues)} queues, from the quarter-hour sums: {report_s:.3f} s "
          f"({report_s / bare_s:.2f}x the bare query), {len(doc['rows'])} rows; offered {total['offered']} "
          f"(bare query: {bare_offered})")
    print(f"queue report, month by day, {len(queues)} queues, from every stint and leg (the fallback): {scan_s:.3f} s "
          f"({scan_s / bare_s:.2f}x the bare query)")
    if total["offered"] != bare_offered:
        sys.exit("the report and the bare query disagree")
    if doc != scan_doc:
        sys.exit("the report from the quarter-hour sums and the report from the stints disagree")
    # Where the time goes: the report's GROUP BYs one by one (each over one table).
    unit = window.sql_unit("s.entered_at")
    where = "s.entered_at >= :start AND s.entered_at < :end AND s.queue IN :queues"
    parts = {
        "stints by queue/day/outcome/exit/entry (stored entry)": f"SELECT s.queue, {unit}, s.outcome, "
        f"COALESCE(s.exit_to, ''), COALESCE(s.entry, ''), COUNT(*), SUM(s.wait_seconds), MAX(s.wait_seconds) "
        f"FROM books_queue_stints s WHERE {where} GROUP BY 1, 2, 3, 4, 5",
        "agent legs by queue/day (talk, stored cut wrap-up)": f"SELECT l.queue, {window.sql_unit('l.entered_at')}, "
        "COUNT(*), SUM(l.talk_seconds), SUM(COALESCE(l.wrapup_cut_seconds, 0)) FROM books_agent_legs l "
        "WHERE l.entered_at >= :start AND l.entered_at < :end AND l.queue IN :queues GROUP BY 1, 2",
    }
    for name, sql in parts.items():
        query = text(sql).bindparams(bindparam("queues", expanding=True)) if ":queues" in sql else text(sql)

        def run(q=query):
            with engine.connect() as conn:
                return conn.execute(q, {"start": window.start_epoch, "end": window.end_epoch, "queues": queues}).fetchall()

        print(f"  part: {name}: {timed(run, args.repeat)[0]:.3f} s")


if __name__ == "__main__":
    main()
