#!/usr/bin/env python3
"""Benchmark: a 1 000-queue, 5 000-agent site with a 100 000-entry routing list.

Not a test. Writes the site of scripts/make_large_site.py (routing list inline in the
YAML, and again as a CSV next to it) and measures, side by side in one run:

  1. libyaml alone composing the same YAML: `yaml.compose(text, Loader=yaml.CSafeLoader)`
     in this process, as is (cyclic GC on) and with the GC paused (what a loader that
     pauses it could reach at best);
  2. `pbxctl validate` and `pbxctl generate` as commands (subprocess wall time, the
     interpreter's start and imports included), and `load_site` in this process;
  3. peak memory: the maximum RSS of each command (wait4's rusage);
  4. the running service during reloads: the real `IvrAgiService` in a subprocess serving
     the site through `SiteHolder`, the site file touched every few seconds so the holder
     reloads it, and an AGI client (as in scripts/bench_fastagi.py) offering decisions at
     --rate; latency percentiles of decisions started while a reload ran, against the rest.

Target (issue 10): validate and generate within 2x of libyaml's compose; decisions not
stalled by a reload.

    python scripts/bench_site_scale.py [--repeat 3] [--rate 100 --reload-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fastagi import Stats, environment, pct, session  # noqa: E402
from make_large_site import routes, write_site  # noqa: E402

PBXCTL = [str(Path(sys.executable).with_name("pbxctl"))]  # the command as installed beside this python
CLOCK = "2026-12-23T10:00:00+01:00"  # a Wednesday morning: offices open


def compose_seconds(text: str, gc_paused: bool) -> float:
    import yaml

    if gc_paused:
        gc.disable()
    try:
        t0 = time.perf_counter()
        yaml.compose(text, Loader=yaml.CSafeLoader)
        return time.perf_counter() - t0
    finally:
        gc.enable()
        gc.collect()


# Runs a command and prints its wall time and max RSS. A small launcher, because a child
# forked from this (large) process would report this process's RSS as its own peak.
LAUNCHER = """
import os, subprocess, sys, time
t0 = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = child.stdout.read()
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - t0
sys.stdout.write(f"{os.waitstatus_to_exitcode(status)} {wall} {usage.ru_maxrss}\\n")
sys.stdout.write(out.decode())
"""


def run_command(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, max RSS in MB and the last output line of one command."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *args], capture_output=True, text=True, check=True)
    head, _, out = done.stdout.partition("\n")
    code, wall, maxrss = head.split()
    if code != "0":
        sys.exit(f"{' '.join(args)} failed:\n{out[-2000:]}")
    return float(wall), int(maxrss) / 1024, (out.strip().splitlines() or [""])[-1]


def median_run(args: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [run_command(args) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def load_seconds(site: Path) -> float:
    from pbxctl.site.load import load_site

    t0 = time.perf_counter()
    loaded = load_site(site)
    elapsed = time.perf_counter() - t0
    del loaded
    gc.collect()
    return elapsed


def scale(site: Path, label: str, repeat: int) -> None:
    text = site.read_text(encoding="utf-8")
    compose = statistics.median(compose_seconds(text, False) for _ in range(repeat))
    compose_nogc = statistics.median(compose_seconds(text, True) for _ in range(repeat))
    load = statistics.median(load_seconds(site) for _ in range(repeat))
    startup, startup_rss, _ = median_run([sys.executable, "-c", "import pbxctl.cli"], repeat)
    validate, validate_rss, said = median_run([*PBXCTL, "validate", "-s", str(site)], repeat)
    out = site.parent / "out"
    out.mkdir(exist_ok=True)
    generate, generate_rss, _ = median_run([*PBXCTL, "generate", "-s", str(site), "--out", str(out)], repeat)
    extra = sum(f.stat().st_size for f in site.parent.glob("*.csv"))
    print(f"{label}: {site.stat().st_size / 1e6:.1f} MB of YAML" + (f" + {extra / 1e6:.1f} MB of CSV" if extra else ""))
    print(f"  {said}")
    print(f"  libyaml compose          {compose * 1000:6.0f} ms   (GC paused: {compose_nogc * 1000:.0f} ms)")
    print(f"  load_site in-process     {load * 1000:6.0f} ms   {load / compose:.2f}x compose, {load / compose_nogc:.2f}x GC-paused compose")
    print(f"  python + imports         {startup * 1000:6.0f} ms   (in both commands below; max RSS {startup_rss:.0f} MB)")
    for name, wall, rss in (("pbxctl validate", validate, validate_rss), ("pbxctl generate", generate, generate_rss)):
        print(f"  {name:<24} {wall * 1000:6.0f} ms   {wall / compose:.2f}x compose, {wall / compose_nogc:.2f}x GC-paused compose;"
              f" max RSS {rss:.0f} MB")


def comments(directory: Path, repeat: int) -> None:
    """A small site inside 32 MB of comments: libyaml skips them at C speed."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "comments.yaml"
    comment = "# " + "x" * 77 + "\n"
    head = 'site: test\nnumbering: {country_code: "47"}\n'
    path.write_text(comment * 200_000 + head + comment * 200_000 + "pbx: {backend: asterisk}\n", encoding="utf-8")
    wall, rss, said = median_run([*PBXCTL, "validate", "-s", str(path)], repeat)
    startup, _, _ = median_run([sys.executable, "-c", "import pbxctl.cli"], repeat)
    print(f"comments: {path.stat().st_size / 1e6:.0f} MB, a 3-key site inside")
    print(f"  pbxctl validate          {wall * 1000:6.0f} ms   ({(wall - startup) * 1000:.0f} ms after python + imports); max RSS {rss:.0f} MB")


# --- the service while the site reloads -------------------------------------------------


def serve(site: Path) -> None:
    """Child: the FastAGI service over a SiteHolder; prints each reload's start and end."""
    from pbxctl.ivr.clock import FixedClock
    from pbxctl.asterisk.fastagi_service import IvrAgiService
    from pbxctl.service.logs import configure_logging
    from pbxctl.site.holder import SiteHolder

    configure_logging()
    holder = SiteHolder(site, interval_s=0.2)
    gc.freeze()  # as `pbxctl serve` after its first load
    service = IvrAgiService(holder.get, clock=FixedClock(dt.datetime.fromisoformat(CLOCK)),
                            record_callback=lambda **kw: None, timeout_s=1.0)

    async def watch() -> None:
        while True:
            await asyncio.sleep(holder.interval_s)
            t0 = time.time()
            if await holder.reload_if_changed():
                print(f"reload {t0:.6f} {time.time():.6f}", flush=True)

    async def main() -> None:
        server = await asyncio.start_server(service.handle, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await watch()

    asyncio.run(main())


async def offered_with_times(port: int, rate: float, duration: float, probes: list[str], tenants: int,
                             site: Path, every: float) -> list[tuple[float, float]]:
    """(wall start, latency) of each decision, touching the site file every `every` s."""
    loop = asyncio.get_running_loop()
    rng = random.Random(7)
    results: list[tuple[float, float]] = []
    tasks = []
    start = loop.time() + 0.05
    next_touch = start + every / 2
    for i in range(int(rate * duration)):
        due = start + i / rate
        if loop.time() >= next_touch:
            os.utime(site)
            next_touch += every
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        stats = Stats()
        env = environment("lookup", rng.choice(probes), f"+47{rng.randrange(20000000, 99999999)}", i,
                          ivr=f"t{rng.randrange(tenants)}_main")

        async def one(env=env, stats=stats, began=time.time()) -> None:
            await session(port, env, stats)
            if stats.latency:
                results.append((began, stats.latency[0]))

        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return results


def reloads(site: Path, rate: float, duration: float, every: float, tenants: int) -> None:
    probes = [v.split("-")[0] for v, _ in routes(tenants)][::50]
    log = open(site.parent / "service.log", "wb")
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(site)], stdout=subprocess.PIPE, stderr=log)
    try:
        port = int(child.stdout.readline())
        results = asyncio.run(offered_with_times(port, rate, duration, probes, tenants, site, every))
        time.sleep(every)  # let the last reload finish
    finally:
        child.terminate()
        out = child.stdout.read().decode()
        child.wait(10)
        log.close()
    windows = [(float(a), float(b)) for _, a, b in (line.split() for line in out.splitlines() if line.startswith("reload"))]
    during = [lat * 1000 for began, lat in results if any(a - 0.01 <= began <= b for a, b in windows)]
    outside = [lat * 1000 for began, lat in results if not any(a - 0.01 <= began <= b + 0.5 for a, b in windows)]
    took = [b - a for a, b in windows]
    print(f"reloads under load: {rate:g} decisions/s for {duration:g} s (advanced_menu lookups), site touched every {every:g} s")
    print(f"  reloads           {len(windows)}, each {min(took) * 1000:.0f}-{max(took) * 1000:.0f} ms" if took else "  reloads           none")
    for name, ms in (("during a reload", during), ("outside reloads", outside)):
        if ms:
            print(f"  {name:<17} {len(ms):5d} decisions  p50 {pct(ms, 0.5):.2f}  p99 {pct(ms, 0.99):.2f}  max {max(ms):.2f} ms")
    print(f"  answered          {len(results)} of {int(rate * duration)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--reload-seconds", type=float, default=30.0)
    parser.add_argument("--reload-every", type=float, default=5.0)
    parser.add_argument("--skip-reload", action="store_true")
    parser.add_argument("--only-reload", action="store_true")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory() as tmp:
        inline = write_site(Path(tmp) / "inline", args.tenants, "inline")
        csv = write_site(Path(tmp) / "csv", args.tenants, "csv")
        if not args.only_reload:
            scale(inline, "routing list inline", args.repeat)
            scale(csv, "routing list as CSV", args.repeat)
            comments(Path(tmp) / "comments", args.repeat)
        if not args.skip_reload:
            reloads(inline, args.rate, args.reload_seconds, args.reload_every, args.tenants)


if __name__ == "__main__":
    main()
