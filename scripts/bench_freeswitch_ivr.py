#!/usr/bin/env python3
"""Benchmark: IVR decisions through FreeSWITCH's outbound socket at a fixed call rate.

Not a test. Starts `pbxctl serve freeswitch` (its own gevent process) on the example site
and places calls at --rate calls/s for --duration s, open loop, through the Event Socket
double (tests/esl_double): each call runs the generated dialplan, connects to the
service, gets the block/vip/hours decisions, the menu (key 1) and the postcode menu
(0150), and is transferred to queue sales_east — five decisions per call.

Latency, FreeSWITCH-side (the double's clock): "keys -> decision" from the double sending
the CHANNEL_EXECUTE_COMPLETE of play_and_get_digits (the caller's keys) to the service's
next command; "whole call" from the double's connect to the end of the socket session
(five decisions, fourteen commands, every event of the call). Decisions/s counts every
decision of the calls that completed. CPU of both sides is printed: the double runs in
this process (threads), the service in its own.

    python scripts/bench_freeswitch_ivr.py [--rate 100 --duration 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from esl_double.pbx import place_call  # noqa: E402
from freeswitch_service import ServiceProcess, dialplan_of, example_site, free_port  # noqa: E402

DECISIONS_PER_CALL = 5  # screen, vip_check, office_hours, main_menu, postcode


def cpu_seconds(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--processes", type=int, default=1, help="pbx.freeswitch.outbound.processes")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    site = example_site(tmp, port, f", processes: {args.processes}" if args.processes > 1 else "")
    dialplan = dialplan_of(site)
    svc = ServiceProcess(site, tmp / "bench.db", port, env={"PBXCTL_LOG_LEVEL": "warning"}).start()
    results, lock = [], threading.Lock()
    time.sleep(0.5 * args.processes)  # every IVR process listening, not only the first
    ivr_pids = svc.ivr_pids()  # the IVR processes (children of `serve freeswitch`)
    cpu_before = sum(map(cpu_seconds, ivr_pids))  # their start-up (imports, the site) left out

    def one():
        r = place_call(dialplan, "200", "+4722445566", ["1", "0150"], service=("127.0.0.1", port), at="2026-12-23 10:00")
        with lock:
            results.append(r)

    threads = []
    start = time.perf_counter()
    n = int(args.rate * args.duration)
    for i in range(n):
        due = start + i / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=one, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - start
    service_cpu = sum(map(cpu_seconds, ivr_pids)) - cpu_before
    svc.stop()
    ok = [r for r in results if r.outcome == "queue:sales_east" and not r.fell_back_by]
    lat = sorted(x for r in ok for x in r.decision_latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 100 else [float("nan")] * 99
    print(f"machine          {platform.machine()} {platform.processor() or ''} Python {platform.python_version()}")
    print(f"offered          {n} calls at {args.rate:g} calls/s over {args.duration:g} s, {args.processes} IVR process(es)")
    print(f"completed        {len(ok)} ended in queue:sales_east, {len(results) - len(ok)} other")
    print(f"decisions/s      {len(ok) * DECISIONS_PER_CALL / elapsed:,.0f} ({elapsed:.1f} s wall)")
    print(f"keys -> decision p50 {q[49] * 1000:.2f} ms  p99 {q[98] * 1000:.2f} ms  max {lat[-1] * 1000:.2f} ms")
    print(f"CPU              service {service_cpu / elapsed:.0%} of a core ({service_cpu / max(1, len(results)) * 1000:.1f} ms a call), "
          f"double {time.process_time() / elapsed:.0%}")
    calls = sorted(r.seconds for r in ok)
    cq = statistics.quantiles(calls, n=100) if len(calls) > 100 else [float("nan")] * 99
    print(f"whole call       p50 {cq[49] * 1000:.1f} ms  p99 {cq[98] * 1000:.1f} ms  (connect to transfer: 5 decisions, 14 commands)")


if __name__ == "__main__":
    main()
