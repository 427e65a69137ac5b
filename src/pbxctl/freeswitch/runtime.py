"""`pbxctl serve freeswitch`: one gevent process (never an asyncio loop in it) with the
outbound-socket IVR service and the site watcher."""

from __future__ import annotations

import functools

import gevent
import structlog

from pbxctl.freeswitch.greenswitch_glue import serve as serve_sessions
from pbxctl.ivr.clock import FixedClock
from pbxctl.freeswitch.outbound_service import OutboundIvrService
from pbxctl.site.holder import SiteHolder

log = structlog.get_logger("pbxctl.freeswitch")


def build_service(holder: SiteHolder, clock: FixedClock | None) -> OutboundIvrService:
    from pbxctl.storage.callbacks import record_callback
    from pbxctl.storage.db import database_url, engine_for

    loaded = holder.get()
    out = loaded.site.pbx.freeswitch.outbound
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    return OutboundIvrService(
        holder.get,
        clock=clock,
        record_callback=functools.partial(record_callback, engine, source="ivr"),
        timeout_s=out.timeout_ms / 1000,
        watchdog_s=out.watchdog,
        prompt_allowance_s=out.prompt_allowance,
    )


def watch_site(holder: SiteHolder) -> None:
    while True:
        gevent.sleep(holder.interval_s)
        try:
            holder.reload_if_changed_now()
        except Exception:
            log.exception("site_reload_failed_keeping_previous")


def serve(holder: SiteHolder, clock: FixedClock | None = None) -> None:
    service = build_service(holder, clock)
    out = holder.get().site.pbx.freeswitch.outbound
    server = serve_sessions(service.handle, out.host, out.port)
    log.info("outbound_socket_listening", host=out.host, port=server.server_port)
    watcher = gevent.spawn(watch_site, holder)
    try:
        server.serve_forever()
    finally:
        watcher.kill()
