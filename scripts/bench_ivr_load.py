#!/usr/bin/env python3
"""Benchmark: IVR traffic through the real sandbox Asterisk with `pbxctl serve asterisk`
attached — the cost of the AGI hop on call set-up against the same path as a static
dialplan, in one run.

Not a test. Applies tests/sites/faults.yaml with one more entry (7400: an IVR of one
`hours` decision, then `hangup`), adds a test-only static context that walks the same
steps without the AGI, and originates Local-channel calls at --rate calls/s for
--duration s, interleaved between the two paths at the same time (--static-share of them
on the static twin; open loop: calls start on schedule). Per call, from AMI events:
set-up = the IVR-side channel's first dialplan step to its Hangup() step; the AGI hop =
the AGI step to the next step. From the service: its decision time (the
pbxctl_ivr_decision_seconds histogram, accept to answer), its event loop's lag
(pbxctl_event_loop_lag_seconds, and the event_loop_blocked lines with the collector's
longest pass), CPU time (utime+stime) and RSS at start, middle and end, from /proc. From
the kernel: TCP listen-queue overflows/drops and SYN retransmissions over the run
(nstat), and the FastAGI listen socket's queue at the middle (ss).

Target (issue 15): 100 calls/s for 5 minutes, set-up with the hop <= 1.2x the static path.

    flock /tmp/pbxctl-sandbox.use nice -n 10 .venv/bin/python scripts/bench_ivr_load.py [--rate 100] [--duration 300]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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


NSTAT = ("TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPSynRetrans", "TcpRetransSegs")


def kernel_counters() -> dict[str, int]:
    """The kernel's absolute TCP counters (nstat -a), without touching nstat's history."""
    out = subprocess.run(["nstat", "-asz", *NSTAT], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line and line.split()[0] in NSTAT}


def listen_queue(port: int) -> str:
    """`ss -lnt` for the FastAGI port: Recv-Q = connections waiting for accept(), Send-Q = the backlog."""
    out = subprocess.run(["ss", "-lntH", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout.split()
    return f"waiting {out[1]}, backlog {out[2]}" if len(out) >= 3 else "not listed"


def histogram(metrics: str, name: str) -> list[tuple[float, float]]:
    """[(le, cumulative count)] of a prometheus histogram in /metrics text."""
    found = re.findall(rf'^{name}_bucket{{le="([^"]+)"}} ([0-9.e+]+)$', metrics, re.M)
    return [(float("inf") if le == "+Inf" else float(le), float(n)) for le, n in found]


def hist_pct(buckets: list[tuple[float, float]], p: float) -> str:
    """The bucket bound below which p % of the observations fall ("<= 5 ms")."""
    total = buckets[-1][1] if buckets else 0
    for le, n in buckets:
        if n >= total * p / 100:
            return f"<= {le * 1000:g} ms" if le != float("inf") else "> the last bucket"
    return "none"


def over(buckets: list[tuple[float, float]], bound: float) -> int:
    total = buckets[-1][1] if buckets else 0
    below = max((n for le, n in buckets if le <= bound), default=0)
    return int(total - below)


def bench_site(box: dict, tmp: Path) -> tuple[Path, Path, int]:
    text = point_at_sandbox((REPO / "tests/sites/faults.yaml").read_text(), box)
    agi_port = free_port()
    text = text.replace("port: 4573", f"port: {agi_port}")
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
    return applied, serve, agi_port


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


async def drive(secret: str, rate: float, duration: float, pid: int, static_share: float, agi_port: int) -> dict:
    samples = []
    queue_mid = ""
    async with TimedRecorder(secret) as rec:
        started = time.monotonic()
        n = int(rate * duration)
        marks = {0, n // 2, n - 1}
        static_due = 0.0
        for i in range(n):
            # Interleaved: the static twin's share spread evenly over the run, not in a block.
            static_due += static_share
            on_static = static_due >= 1.0
            static_due -= on_static
            context = STATIC_CONTEXT if on_static else "pbxctl-entries"
            await rec.send({"Action": "Originate", "Channel": f"Local/7400@{context}", "Application": "Wait",
                            "Data": "2", "CallerID": f"Bench <+4723{i:06d}>", "Async": "true"})
            if i in marks:
                samples.append((time.monotonic() - started, *proc_figures(pid)))
            if i == n // 2:
                queue_mid = listen_queue(agi_port)
            await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
        offered_s = time.monotonic() - started
        await asyncio.sleep(3)
        events = list(rec.events)
    setup = {"pbxctl-entries": [], STATIC_CONTEXT: []}
    decided = {"pbxctl-entries": [], STATIC_CONTEXT: []}  # from the step after Answer()
    hop: list[tuple[float, float]] = []  # (when, how long)
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
            t0 = agi_at.pop(ch)
            hop.append((t0, e["_t"] - t0))
        if e.get("Application") == "Hangup" and ch in first:
            path, t0 = first.pop(ch)
            setup[path].append(e["_t"] - t0)
            if ch in answered:
                decided[path].append(e["_t"] - answered.pop(ch))
    return {"offered_s": offered_s, "calls": n, "setup": setup, "decided": decided, "hop": hop, "samples": samples,
            "queue_mid": queue_mid}


def stalls(log_path: Path, since_epoch: float) -> list[tuple[float, int, float, int]]:
    """(epoch, late ms, longest collector pass ms, its generation) of each event_loop_blocked line."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if "event_loop_blocked" not in line:
            continue
        stamp = re.search(r"timestamp='([^']+)'", line)
        late = re.search(r"late_ms=(\d+)", line)
        gc_ms = re.search(r"gc_longest_ms=([0-9.]+)", line)
        gen = re.search(r"gc_generation=(-?\d+)", line)
        if stamp and late:
            at = dt.datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00")).timestamp()
            if at >= since_epoch:
                out.append((at, int(late.group(1)), float(gc_ms.group(1)) if gc_ms else 0.0, int(gen.group(1)) if gen else -1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--static-share", type=float, default=0.5,
                        help="share of the calls on the static twin, interleaved (default 0.5)")
    args = parser.parse_args()
    box = sandbox()
    secret = box["secret_file"].read_text().strip()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pbxctl-bench-") as tmp:
        applied, serve, agi_port = bench_site(box, Path(tmp))

        def dialplan(config_dir: Path) -> bool:
            install_test_dialplan(config_dir)
            return install_dialplan_file(config_dir, "extensions_pbxctl_bench.conf", STATIC, "the bench's static path")

        with applied_test_site(box, applied, dialplan, DB_FAMILY):
            service = Service(serve)
            try:
                service.start()
                time.sleep(3)  # the books' first catch-up of the sandbox's queue_log is not the run's
                before = kernel_counters()
                metrics_before = service.metrics()
                began = time.time()
                offset = time.time() - time.monotonic()
                result = asyncio.run(drive(secret, args.rate, args.duration, service.proc.pid, args.static_share, agi_port))
                after = kernel_counters()
                metrics_after = service.metrics()
                blocked = stalls(service.log_path, began)
            finally:
                service.stop()
    ms = 1000
    print(f"IVR load through the sandbox Asterisk, {platform.node()}, {os.cpu_count()} cores, "
          f"load {load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"offered {result['calls']} calls in {result['offered_s']:.1f} s ({result['calls'] / result['offered_s']:.1f}/s; "
          f"asked {args.rate:g}/s for {args.duration:g} s; {args.static_share:.0%} on the static twin, interleaved)")
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
    hop = [d for _, d in result["hop"]]
    if hop:
        print(f"  AGI step (Asterisk's side, connect to answer) median {statistics.median(hop) * ms:.2f} ms, "
              f"p99 {pct(hop, 99) * ms:.2f} ms, n={len(hop)}")
    decisions = [(le, a - b) for (le, a), (_, b) in zip(histogram(metrics_after, "pbxctl_ivr_decision_seconds"),
                                                     histogram(metrics_before, "pbxctl_ivr_decision_seconds") or
                                                     [(0, 0)] * 99)]
    lag = [(le, a - b) for (le, a), (_, b) in zip(histogram(metrics_after, "pbxctl_event_loop_lag_seconds"),
                                               histogram(metrics_before, "pbxctl_event_loop_lag_seconds") or [(0, 0)] * 99)]
    if decisions:
        print(f"  service decisions (accept to answer) n={decisions[-1][1]:.0f}: p50 {hist_pct(decisions, 50)}, "
              f"p99 {hist_pct(decisions, 99)}, over 250 ms: {over(decisions, 0.25)}")
    if lag:
        print(f"  service event loop lag n={lag[-1][1]:.0f} (every 0.1 s): p99 {hist_pct(lag, 99)}, "
              f"over 100 ms: {over(lag, 0.1)}, over 250 ms: {over(lag, 0.25)}")
    slow = [(t + offset, d) for t, d in result["hop"] if d > 0.3]
    during = sum(1 for t, d in slow if any(at - late / 1000 - 0.1 <= t <= at for at, late, _, _ in blocked))
    print(f"  AGI steps over 300 ms: {len(slow)}; of them during a logged event-loop stall: {during}; stalls over "
          f"200 ms: {len(blocked)}" + (" (" + ", ".join(f"{late} ms, gc {g:.0f} ms gen {gen}" for _, late, g, gen in blocked[:8])
                                       + (", ..." if len(blocked) > 8 else "") + ")" if blocked else ""))
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in NSTAT}
    print("  kernel over the run: " + ", ".join(f"{k} +{v}" for k, v in delta.items())
          + f"; FastAGI listen queue at the middle: {result['queue_mid']}")
    (t0, cpu0, rss0), *_ , (t1, cpu1, _) = result["samples"]
    print("  service RSS " + ", ".join(f"{rss:.1f} MiB at {t:.0f} s" for t, _, rss in result["samples"])
          + f"; CPU {(cpu1 - cpu0) / max(t1 - t0, 1e-9) * 100:.0f} % of a core over the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
