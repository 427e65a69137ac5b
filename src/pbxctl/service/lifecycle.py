"""A long-running service's life under systemd (or a terminal): READY=1 once it
listens, WATCHDOG=1 pings from its event loop, and on SIGTERM/SIGINT a graceful stop —
STOPPING=1, the running tasks cancelled, and the caller's cleanup (flushing the books)
run before the process exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Mapping

import structlog

from pbxctl.service.systemd_notify import SystemdNotifier, ping_watchdog, watchdog_interval

log = structlog.get_logger("pbxctl.service")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ServiceLifecycle:
    def __init__(self, notifier: SystemdNotifier | None = None, environ: Mapping[str, str] = os.environ):
        self.notifier = notifier or SystemdNotifier.from_environment(environ)
        self.watchdog_s = watchdog_interval(environ)
        self.stopped_by: str | None = None

    def ready(self, status: str) -> None:
        self.notifier.notify("READY=1", f"STATUS={status}")
        log.info("service_ready", status=status, systemd=self.notifier.enabled, watchdog_s=self.watchdog_s)

    def stopping(self) -> None:
        self.notifier.notify("STOPPING=1")

    async def run(self, *jobs: Awaitable[object], healthy: Callable[[], bool] | None = None) -> str | None:
        """Run `jobs` (and the watchdog pings, held while `healthy()` is false) until one
        fails or a stop signal comes. Returns the signal's name after a requested stop; a job's error is raised."""
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None

        def stop(sig: signal.Signals) -> None:
            if self.stopped_by is None:
                self.stopped_by = sig.name
                log.info("service_stopping", signal=sig.name)
                self.stopping()
                main.cancel()

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop, sig)
        pings = [ping_watchdog(self.notifier, self.watchdog_s, healthy)] if self.watchdog_s and self.notifier.enabled else []
        try:
            await asyncio.gather(*jobs, *pings)
        except asyncio.CancelledError:
            if self.stopped_by is None:
                raise
            return self.stopped_by
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        return None
