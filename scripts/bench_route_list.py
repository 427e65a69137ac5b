#!/usr/bin/env python3
"""Benchmark: build and query a 100 000-entry routing list (CSV -> RouteList).

Prints load time, lookups per second and peak memory. Target (issue: IVR call flows):
100 000 entries load in well under a second; lookups O(1)/O(log n).
"""

from __future__ import annotations

import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from pbxctl.domain.route_list import RouteList
from pbxctl.site.data_files import read_route_file

N = 100_000


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "routes.csv"
        lines = ["value,destination"]
        # 90 000 exact 6-digit customer numbers and 10 000 ranges of 8-digit numbers
        for i in range(90_000):
            lines.append(f"{i * 7 + 100000:06d},queue:q{i % 5}")
        for i in range(10_000):
            lo = 10_000_000 + i * 1000
            lines.append(f"{lo:08d}-{lo + 499:08d},queue:q{i % 5}")
        path.write_text("\n".join(lines) + "\n")

        t0 = time.perf_counter()
        rows = read_route_file(path)
        t1 = time.perf_counter()
        routes = RouteList.build(rows)
        t2 = time.perf_counter()
        # memory in a second pass: tracemalloc slows the load several times over
        tracemalloc.start()
        RouteList.build(read_route_file(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        probes = [f"{rng.randrange(100000, 730000):06d}" for _ in range(100_000)]
        probes += [f"{rng.randrange(10_000_000, 20_000_000):08d}" for _ in range(100_000)]
        t3 = time.perf_counter()
        hits = sum(1 for p in probes if routes.lookup(p) is not None)
        t4 = time.perf_counter()

    print(f"entries           {len(routes)}")
    print(f"read CSV          {(t1 - t0) * 1000:.0f} ms")
    print(f"build + checks    {(t2 - t1) * 1000:.0f} ms")
    print(f"load total        {(t2 - t0) * 1000:.0f} ms")
    print(f"peak memory       {peak / 1e6:.1f} MB (tracemalloc, during load)")
    print(f"lookups           {len(probes) / (t4 - t3):,.0f}/s ({hits} hits of {len(probes)})")


if __name__ == "__main__":
    main()
