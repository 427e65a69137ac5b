"""The site a long-running service works from, reloaded when its files change.

A routing list imported with `pbxctl routes import` rewrites the list's file; the next
check picks it up for new calls, without restarting the service or reloading the PBX.
A file that no longer validates is logged and the previous site kept.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import structlog

from pbxctl.site.data_files import data_file_path
from pbxctl.site.load import LoadedSite, load_site
from pbxctl.site.problems import SiteInvalid

log = structlog.get_logger("pbxctl.site")

_RELOAD_SWITCH_INTERVAL_S = 0.0005


def data_files(loaded: LoadedSite) -> list[Path]:
    files = [loaded.path]
    for lst in [*loaded.site.routing_lists.values(), *loaded.site.lists.values()]:
        if lst.file:
            files.append(data_file_path(loaded.base_dir, lst.file))
    return files


def _stamps(files: list[Path]) -> dict[Path, tuple[int, int] | None]:
    out: dict[Path, tuple[int, int] | None] = {}
    for f in files:
        try:
            st = f.stat()
            out[f] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[f] = None
    return out


class SiteHolder:
    def __init__(self, path: Path | str, interval_s: float = 2.0, loaded: LoadedSite | None = None):
        self.path = Path(path)
        self.interval_s = interval_s
        self.current = loaded or load_site(self.path, long_lived=True)
        self._stamps = _stamps(data_files(self.current))

    def get(self) -> LoadedSite:
        return self.current

    async def reload_if_changed(self) -> bool:
        stamps = self._changed()
        if stamps is None:
            return False
        # The load runs in a thread; this loop still needs the GIL for every decision, and
        # waits up to the switch interval (5 ms by default) each time it wakes: ask for it
        # back sooner while the load runs.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, _RELOAD_SWITCH_INTERVAL_S))
        try:
            loaded = await asyncio.to_thread(load_site, self.path, True)
        except SiteInvalid as exc:
            return self._invalid(exc)
        finally:
            sys.setswitchinterval(interval)
        previous = self._adopt(loaded, stamps)
        # Decisions in flight may still read the previous site; its line map nobody reads.
        await asyncio.to_thread(previous.source.release)
        return True

    def reload_if_changed_now(self) -> bool:
        """The blocking reload, for a process without an asyncio loop (the gevent FreeSWITCH
        service calls it from its own greenlet)."""
        stamps = self._changed()
        if stamps is None:
            return False
        try:
            loaded = load_site(self.path, True)
        except SiteInvalid as exc:
            return self._invalid(exc)
        self._adopt(loaded, stamps).source.release()
        return True

    def _changed(self) -> dict[Path, tuple[int, int] | None] | None:
        stamps = _stamps(list(self._stamps))
        if stamps == self._stamps:
            return None
        self._stamps = stamps
        return stamps

    @staticmethod
    def _invalid(exc: SiteInvalid) -> bool:
        log.error("site_reload_invalid", kept="previous", problems=[str(p) for p in exc.problems][:20])
        return False

    def _adopt(self, loaded: LoadedSite, stamps: dict[Path, tuple[int, int] | None]) -> LoadedSite:
        """Make `loaded` current; returns the previous site."""
        previous, self.current = self.current, loaded
        # Stamps from before the load: a rewrite during the load shows as a change next time.
        files = data_files(loaded)
        added = _stamps([f for f in files if f not in stamps])
        self._stamps = {f: stamps[f] if f in stamps else added[f] for f in files}
        log.info("site_reloaded", site=loaded.site.site, sha256=loaded.sha256[:16])
        return previous

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.reload_if_changed()
            except Exception:
                log.exception("site_reload_failed", kept="previous")
