"""The event loop watched from inside: a task asks to wake every `interval` s and, when it
wakes later than `threshold` s past that, logs `event_loop_blocked` — whatever held the
loop (a collector pass, a blocking call, a thread holding the GIL), every FastAGI call
that arrived meanwhile waited as long in the listen queue, where the service's own
decision timer (it starts at accept) does not see it. The same line gives the cyclic
collector's longest pass since the last wake (timed through `gc.callbacks`), so a pause
of the collector is told from the rest. A histogram of the lag goes to /metrics."""

from __future__ import annotations

import asyncio
import gc
import time

import structlog
from prometheus_client import Histogram

log = structlog.get_logger("pbxctl.service")

LOOP_LAG = Histogram(
    "pbxctl_event_loop_lag_seconds",
    "How late the service's event loop woke a task that asked to wake on time",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class CollectorTimer:
    """The longest cyclic-collector pass (and its generation) since `take()` last ran."""

    def __init__(self) -> None:
        self._started = 0.0
        self.longest = 0.0
        self.generation = -1

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        if took > self.longest:
            self.longest, self.generation = took, info.get("generation", -1)

    def take(self) -> tuple[float, int]:
        out = (self.longest, self.generation)
        self.longest, self.generation = 0.0, -1
        return out


async def watch_loop(interval: float = 0.1, threshold: float = 0.2) -> None:
    timer = CollectorTimer()
    gc.callbacks.append(timer)
    try:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(interval)
            late = time.monotonic() - asked - interval
            LOOP_LAG.observe(max(late, 0.0))
            longest_gc, generation = timer.take()
            if late > threshold:
                log.warning("event_loop_blocked", late_ms=round(late * 1000), gc_longest_ms=round(longest_gc * 1000, 1),
                            gc_generation=generation)
    finally:
        gc.callbacks.remove(timer)
