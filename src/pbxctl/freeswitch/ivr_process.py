"""The FreeSWITCH IVR service's own process (gevent, never an asyncio loop in it): the
outbound socket the generated dialplan connects to (IVR calls and agents' desk-phone
codes), and the site watcher. `python -m pbxctl.freeswitch.ivr_process SITE [--clock TIME]
[--log-format F] [--heartbeat-fd N] [--api HOST:PORT]`, started by `pbxctl serve
freeswitch` (freeswitch/runtime.py)."""

from __future__ import annotations

import argparse
import functools

import gevent
import structlog

from pbxctl.freeswitch.agent_codes import ServiceApi
from pbxctl.freeswitch.greenswitch_glue import serve as serve_sessions
from pbxctl.freeswitch.heartbeat import beat_forever
from pbxctl.freeswitch.outbound_service import OutboundIvrService
from pbxctl.freeswitch.site_watcher import watch_site
from pbxctl.ivr.clock import FixedClock
from pbxctl.site.holder import SiteHolder

log = structlog.get_logger("pbxctl.freeswitch")


def build_service(holder: SiteHolder, clock: FixedClock | None, api: ServiceApi | None = None) -> OutboundIvrService:
    from pbxctl.service.api_token import api_token
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
        api=api or ServiceApi(loaded.site.service.host, loaded.site.service.port, api_token(loaded)),
    )


def serve(holder: SiteHolder, clock: FixedClock | None = None, heartbeat_fd: int | None = None,
          api: ServiceApi | None = None) -> None:
    service = build_service(holder, clock, api)
    out = holder.get().site.pbx.freeswitch.outbound
    try:
        server = serve_sessions(service.handle, out.host, out.port, reuse_port=out.processes > 1)
    except OSError as exc:
        log.error("listen_failed", where=f"{out.host}:{out.port} (pbx.freeswitch.outbound)", error=exc.strerror or str(exc))
        raise SystemExit(2) from None
    log.info("outbound_socket_listening", host=out.host, port=server.server_port)
    helpers = [gevent.spawn(watch_site, holder)]
    if heartbeat_fd is not None:
        helpers.append(gevent.spawn(beat_forever, heartbeat_fd))
    try:
        server.serve_forever()
    finally:
        gevent.killall(helpers)


def main(argv: list[str] | None = None) -> None:
    from pbxctl.cli.serve import fixed_clock
    from pbxctl.service.api_token import api_token
    from pbxctl.service.logs import configure_logging
    from pbxctl.site.load import load_site

    parser = argparse.ArgumentParser(prog="pbxctl.freeswitch.ivr_process")
    parser.add_argument("site")
    parser.add_argument("--clock")
    parser.add_argument("--log-format", default="text")
    parser.add_argument("--heartbeat-fd", type=int, help="a pipe to the main process for its watchdog")
    parser.add_argument("--api", help="HOST:PORT of the service's /api (desk-phone codes); default service.host:port")
    args = parser.parse_args(argv)
    configure_logging(args.log_format)
    loaded = load_site(args.site, long_lived=True)
    try:
        host, _, port = (args.api or "").rpartition(":")
        api = ServiceApi(host, int(port), api_token(loaded)) if args.api else None
        serve(SiteHolder(args.site, loaded=loaded), fixed_clock(loaded, args.clock), args.heartbeat_fd, api)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
