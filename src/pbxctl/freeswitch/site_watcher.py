"""The site file followed from a gevent process (the asyncio services use SiteHolder.watch)."""

from __future__ import annotations

import gevent
import structlog

from pbxctl.site.holder import SiteHolder

log = structlog.get_logger("pbxctl.freeswitch")


def watch_site(holder: SiteHolder) -> None:
    while True:
        gevent.sleep(holder.interval_s)
        try:
            holder.reload_if_changed_now()
        except Exception:
            log.exception("site_reload_failed_keeping_previous")
