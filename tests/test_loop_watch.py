"""The service's event-loop watch (service/loop_watch.py): a loop held by a blocking call
is logged with how late it woke, a collector pass is timed into the same line."""

from __future__ import annotations

import asyncio
import gc
import time

import structlog

from pbxctl.service.loop_watch import CollectorTimer, watch_loop


def test_a_blocked_loop_is_logged_with_its_lateness():
    async def run():
        watcher = asyncio.create_task(watch_loop(interval=0.05, threshold=0.1))
        await asyncio.sleep(0.1)
        time.sleep(0.35)  # what a blocking call in a handler would do
        await asyncio.sleep(0.1)
        watcher.cancel()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(run())
    blocked = [e for e in logs if e["event"] == "event_loop_blocked"]
    assert len(blocked) == 1, logs
    assert 250 <= blocked[0]["late_ms"] <= 1000
    assert not any(isinstance(cb, CollectorTimer) for cb in gc.callbacks)  # taken out when the watch ends


def test_the_collector_timer_keeps_the_longest_pass():
    timer = CollectorTimer()
    gc.callbacks.append(timer)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(timer)
    longest, generation = timer.take()
    assert longest > 0 and generation == 2
    assert timer.take() == (0.0, -1)
