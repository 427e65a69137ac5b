"""Test helper: pbxctl's FastAGI service in a thread of its own, started and stopped at will."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from pbxctl.ivr.clock import FixedClock
from pbxctl.asterisk.fastagi_service import IvrAgiService, serve_fastagi
from pbxctl.site.holder import SiteHolder
from pbxctl.storage.callbacks import record_callback
from pbxctl.storage.db import engine_for


class ServiceThread:
    def __init__(self, site: Path, database: Path, at: str = "2026-12-23 10:00", tz: str = "Europe/Oslo"):
        self.holder = SiteHolder(site, interval_s=0.2)
        self.clock = FixedClock(dt.datetime.fromisoformat(at).replace(tzinfo=ZoneInfo(tz)))
        self.engine = engine_for(f"sqlite:///{database}")
        agi = self.holder.get().site.pbx.asterisk.fastagi
        self.host, self.port = agi.host, agi.port
        self.service = IvrAgiService(
            self.holder.get, clock=self.clock,
            record_callback=functools.partial(record_callback, self.engine, source="ivr"), timeout_s=1.0,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None

    def set_time(self, at: str, tz: str = "Europe/Oslo") -> None:
        self.clock.at = dt.datetime.fromisoformat(at).replace(tzinfo=ZoneInfo(tz))

    def start(self) -> "ServiceThread":
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(serve_fastagi(self.service, self.host, self.port), self.loop).result(5)
        self.watcher = asyncio.run_coroutine_threadsafe(self.holder.watch(), self.loop)
        return self

    def stop(self) -> None:
        if getattr(self, "watcher", None) is not None:
            self.loop.call_soon_threadsafe(self.watcher.cancel)
            self.watcher = None
        if self.server is not None:
            async def close():
                self.server.close()
                await self.server.wait_closed()
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
            self.server = None
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
