#!/usr/bin/env python3
"""Benchmark: IVR traffic through the real sandbox Asterisk with `pbxctl serve asterisk`
attached — the cost of the AGI hop on call set-up against the same path as a static
dialplan, in one run.

Not a test. Applies tests/sites/faults.yaml with one more entry (7400: an IVR of one
`hours` decision, then `hangup`), adds a test-only static context that walks the same
steps without the AGI, and originates Local-channel calls at --rate calls/s for
--duration s, alternating between the two paths (open loop: calls start on schedule).
Per call, from AMI events: set-up = the IVR-side channel's first dialplan step to its
Hangup() step; the AGI hop = the AGI step to the next step. Also the service's CPU time
(utime+stime) and RSS at start, middle and end, from /proc.

Target (issue 15): 100 calls/s for 5 minutes, set-up with the hop <= 1.2x the static path.

    flock /tmp/pbxctl-sandbox.use nice -n 10 .venv/bin/python scripts/bench_ivr_load.py [--rate 100] [--duration 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fault_suite import sandbox  # noqa: E402  (scripts/ is on sys.path when run as a script)
from helpers.controller_harness import Service, free_port  # noqa: E402
from helpers.queue_calls import DB_FAMILY, TimedRecorder, install_dialplan_file, install_test_dialplan  # noqa: E402
from helpers.sandbox import applied_test_site  # noqa: E402
from helpers.site_files import point_at_sandbox  # noqa: E402

STATIC_CONTEXT = "pbxctl-bench-static"
STATIC = f"""\
; Written by pbxctl's scripts/bench_ivr_load.py: the bench IVR's generated path step for
; step, with the AGI line replaced by the answer it would give.
[{STATIC_CONTEXT}]
exten => 7400,1,NoOp(static entry)
 same => n,Set(PBXCTL_ENTRY=7400)
 same => n,Set(PBXCTL_CALLER=${{CALLERID(num)}})
 same => n,QueueLog(NONE,${{UNIQUEID}},NONE,PBXCTLENTRY,7400)
 same => n,Answer()
 same => n,NoOp(static check)
 same => n,Gosub({STATIC_CONTEXT}-decide,s,1(bench,check,,0))
 same => n,Goto(${{PBXCTL_NEXT}})

[{STATIC_CONTEXT}-decide]
exten => s,1,Set(PBXCTL_NEXT=)
 same => n,Set(PBXCTL_RECORDED=)
 same => n,Set(PBXCTL_TIMEOUT_WAS=${{TIMEOUT(absolute)}})
 same => n,Set(AGIEXITONHANGUP=yes)
 same => n,Set(TIMEOUT(absolute)=2.000)
 same => n,Set(PBXCTL_NEXT=pbxctl-ivr-bench,done,1)
 same => n,Set(TIMEOUT(absolute)=${{PBXCTL_TIMEOUT_WAS}})
 same => n,Set(AGIEXITONHANGUP=)
 same => n,GotoIf($["${{PBXCTL_NEXT}}" != ""]?done)
 same => n(done),Return()
"""
BENCH_IVR = """
  "7400": {ivr: bench}
"""


def bench_site(box: dict, tmp: Path) -> tuple[Path, Path]:
    text = point_at_sandbox((REPO / "tests/sites/faults.yaml").read_text(), box)
    text = text.replace("port: 4573", f"port: {free_port()}")
    text = text.replace('  "7300": {ivr: fault, fallback: queue:fq}\n', '  "7300": {ivr: fault, fallback: queue:fq}\n' + BENCH_IVR.lstrip("\n"))
    text += """  bench:
    start: check
    elements:
      check: {type: hours, hours: always, branches: {open: done, closed: done}}
      done: {type: hangup}
"""
    applied = tmp / "bench.yaml"
    applied.write_text(text)
    serve = tmp / "bench-serve.yaml"
    serve.write_text(text + f"\nstorage: {{url: 'sqlite:///{tmp / 'bench.db'}', node: sandbox}}\n"
                     f"service: {{host: 127.0.0.1, port: {free_port()}}}\n")
    return applied, serve


def proc_figures(pid: int) -> tuple[float, float]:
    """(CPU seconds used, RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:")) / 1024
    return cpu, rss


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def drive(secret: str, rate: float, duration: float, pid: int) -> dict:
    samples = []
    async with TimedRecorder(secret) as rec:
        started = time.monotonic()
        n = int(rate * duration)
        marks = {0, n // 2, n - 1}
        for i in range(n):
            context = "pbxctl-entries" if i % 2 == 0 else STATIC_CONTEXT
            await rec.send({"Action": "Originate", "Channel": f"Local/7400@{context}", "Application": "Wait",
                            "Data": "2", "CallerID": f"Bench <+4723{i:06d}>", "Async": "true"})
            if i in marks:
                samples.append((time.monotonic() - started, *proc_figures(pid)))
            await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
        offered_s = time.monotonic() - started
        await asyncio.sleep(3)
        events = list(rec.events)
    setup = {"pbxctl-entries": [], STATIC_CONTEXT: []}
    decided = {"pbxctl-entries": [], STATIC_CONTEXT: []}  # from the step after Answer()
    hop: list[float] = []
    first: dict[str, tuple[str, float]] = {}
    answered: dict[str, float] = {}
    after_answer: set[str] = set()
    agi_at: dict[str, float] = {}
    for e in events:
        if e.get("Event") != "Newexten" or not e.get("Channel", "").endswith(";2"):
            continue
        ch = e["Channel"]
        if ch not in first and e.get("Context") in setup:
            first[ch] = (e["Context"], e["_t"])
        if ch in after_answer:
            after_answer.discard(ch)
            answered[ch] = e["_t"]
        if e.get("Application") == "Answer":
            after_answer.add(ch)
        if e.get("Application") == "AGI":
            agi_at[ch] = e["_t"]
        elif ch in agi_at and e.get("Context") == "pbxctl-decide":
            hop.append(e["_t"] - agi_at.pop(ch))
        if e.get("Application") == "Hangup" and ch in first:
            path, t0 = first.pop(ch)
            setup[path].append(e["_t"] - t0)
            if ch in answered:
                decided[path].append(e["_t"] - answered.pop(ch))
    return {"offered_s": offered_s, "calls": n, "setup": setup, "decided": decided, "hop": hop, "samples": samples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=300.0)
    args = parser.parse_args()
    box = sandbox()
    secret = box["secret_file"].read_text().strip()
    with tempfile.TemporaryDirectory(prefix="pbxctl-bench-") as tmp:
        applied, serve = bench_site(box, Path(tmp))

        def dialplan(config_dir: Path) -> bool:
            install_test_dialplan(config_dir)
            return install_dialplan_file(config_dir, "extensions_pbxctl_bench.conf", STATIC, "the bench's static path")

        with applied_test_site(box, applied, dialplan, DB_FAMILY):
            service = Service(serve)
            try:
                service.start()
                result = asyncio.run(drive(secret, args.rate, args.duration, service.proc.pid))
            finally:
                service.stop()
    ms = 1000
    print(f"IVR load through the sandbox Asterisk, {platform.node()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"offered {result['calls']} calls in {result['offered_s']:.1f} s ({result['calls'] / result['offered_s']:.1f}/s; "
          f"asked {args.rate:g}/s for {args.duration:g} s)")
    # Answer() on a Local channel waits up to 500 ms for the first media frame: the whole
    # set-up carries it on both paths; after Answer() is the part the decision changes.
    for what, key in (("whole set-up", "setup"), ("after Answer()", "decided")):
        with_hop, static = result[key]["pbxctl-entries"], result[key][STATIC_CONTEXT]
        for name, values in (("with the AGI hop", with_hop), ("static dialplan", static)):
            print(f"  {what:<14} {name:<17} n={len(values):>6}  median {statistics.median(values) * ms:7.2f} ms  "
                  f"p99 {pct(values, 99) * ms:7.2f} ms" if values else f"  {what} {name}: no calls completed")
        if with_hop and static:
            print(f"  {what:<14} ratio of medians {statistics.median(with_hop) / statistics.median(static):.2f}x, "
                  f"of p99 {pct(with_hop, 99) / pct(static, 99):.2f}x (target <= 1.2x)")
    hop = result["hop"]
    if hop:
        print(f"  AGI step (Asterisk's side, connect to answer) median {statistics.median(hop) * ms:.2f} ms, "
              f"p99 {pct(hop, 99) * ms:.2f} ms, n={len(hop)}")
    (t0, cpu0, rss0), *_ , (t1, cpu1, _) = result["samples"]
    print("  service RSS " + ", ".join(f"{rss:.1f} MiB at {t:.0f} s" for t, _, rss in result["samples"])
          + f"; CPU {(cpu1 - cpu0) / max(t1 - t0, 1e-9) * 100:.0f} % of a core over the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
