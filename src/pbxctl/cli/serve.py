"""`pbxctl serve asterisk`: pbxctl's long-running Asterisk services in one asyncio process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import OLD_SITE, SITE, fail, load_site_or_fail, parse_at, site_path_or_positional
from pbxctl.site.secrets import SecretUnavailable

app = typer.Typer(name="serve", help="Long-running services beside the PBX.", no_args_is_help=True)


def configure_logging() -> None:
    import logging

    import structlog

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"], sort_keys=True),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
    )


def clock_time(loaded, clock: Optional[str]):
    """--clock as an aware time: naive text is read in the zone of the site's first hours set."""
    if not clock:
        return None
    when = parse_at(clock, "--clock")
    if when.tzinfo is None:
        from zoneinfo import ZoneInfo

        tz = next(iter(loaded.site.hours.values())).timezone if loaded.site.hours else "UTC"
        when = when.replace(tzinfo=ZoneInfo(tz))
    return when


@app.command("asterisk")
def serve_asterisk(
    ctx: typer.Context,
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
    clock: Optional[str] = typer.Option(None, "--clock", help="Behave as if it were this local time (testing), e.g. '2026-12-24 13:05'."),
    http_port: Optional[int] = typer.Option(None, "--http-port", help="Port of /metrics and /api (default: service.port of the site, 9464)."),
) -> None:
    """Run pbxctl's Asterisk services: the FastAGI IVR decisions and agent codes, the AMI
    queue/agent controller, and HTTP (/metrics, /api) — one asyncio process."""
    import functools
    import time as _time

    from pbxctl.asterisk.agent_codes import agent_code_handler
    from pbxctl.books.service import follow, queue_log_follower
    from pbxctl.asterisk.ami_link import AmiEndpoint
    from pbxctl.asterisk.controller import QueueController
    from pbxctl.asterisk.fastagi_service import FixedClock, IvrAgiService, serve_fastagi
    from pbxctl.asterisk.supervision_control import SupervisionControl
    from pbxctl.asterisk.supervisor_codes import conference_handler, conference_merge_handler, supervise_handler
    from pbxctl.service.http_api import start_http
    from pbxctl.service.metrics import register_controller
    from pbxctl.service.sla_monitor import SlaMonitor
    from pbxctl.site.holder import SiteHolder
    from pbxctl.site.secrets import resolve_secret
    from pbxctl.storage.callbacks import record_callback
    from pbxctl.storage.db import database_url, engine_for

    site_file = site_path_or_positional(ctx, site, old_site)
    configure_logging()
    loaded = load_site_or_fail(site_file)
    holder = SiteHolder(site_file, loaded=loaded)
    ast = loaded.site.pbx.asterisk
    agi = ast.fastagi
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    fixed = FixedClock(when) if (when := clock_time(loaded, clock)) else None
    try:
        secret = resolve_secret(ast.ami.secret, "pbx.asterisk.ami.secret", loaded.base_dir)
    except SecretUnavailable as exc:
        fail(str(exc))
    controller = QueueController(
        holder.get,
        engine,
        AmiEndpoint(ast.ami.host, ast.ami.port, ast.ami.username, secret),
        keepalive_s=ast.ami.keepalive,
        keepalive_timeout_s=ast.ami.keepalive_timeout,
    )
    supervision = SupervisionControl(holder.get, controller.link)
    controller.supervision = supervision
    monitor = SlaMonitor(holder.get, controller)
    controller.sla_alerts_active = monitor.active
    register_controller(controller, _time.time)
    service = IvrAgiService(
        holder.get,
        clock=fixed,
        record_callback=functools.partial(record_callback, engine, source="ivr"),
        timeout_s=agi.timeout_ms / 1000,
        scripts={
            "agent": (agent_code_handler(controller), 5.0),
            "supervise": (supervise_handler(supervision), 5.0),
            "conference": (conference_handler(supervision), 5.0),
            "conference_merge": (conference_merge_handler(supervision), 5.0),
        },
    )
    svc = loaded.site.service
    port = http_port or svc.port
    books = queue_log_follower(loaded.site, engine, loaded.base_dir)

    async def run() -> None:
        try:
            server = await serve_fastagi(service, agi.host, agi.port)
        except OSError as exc:
            fail(f"cannot listen on {agi.host}:{agi.port} (pbx.asterisk.fastagi): {exc.strerror or exc}")
        try:
            runner = await start_http(controller, svc.host, port)
        except OSError as exc:
            fail(f"cannot listen on {svc.host}:{port} (service): {exc.strerror or exc}")
        typer.echo(
            f"pbxctl for site {loaded.site.site}: FastAGI on {agi.host}:{agi.port}, AMI controller for "
            f"{ast.ami.host}:{ast.ami.port}, HTTP on http://{svc.host}:{port}/metrics and /api",
            err=True,
        )
        try:
            async with server:
                await asyncio.gather(
                    server.serve_forever(), holder.watch(), controller.run(), monitor.run(), follow(books)
                )
        finally:
            await controller.flush()
            await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@app.command("freeswitch")
def serve_freeswitch(
    ctx: typer.Context,
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
    clock: Optional[str] = typer.Option(None, "--clock", help="Behave as if it were this local time (testing), e.g. '2026-12-24 13:05'."),
) -> None:
    """Run pbxctl's FreeSWITCH IVR service: the outbound socket the generated dialplan
    connects to (pbx.freeswitch.outbound) — one gevent process, no asyncio in it."""
    from pbxctl.freeswitch.outbound_service import FixedClock
    from pbxctl.freeswitch.runtime import serve
    from pbxctl.site.holder import SiteHolder

    site_file = site_path_or_positional(ctx, site, old_site)
    configure_logging()
    loaded = load_site_or_fail(site_file)
    fixed = FixedClock(when) if (when := clock_time(loaded, clock)) else None
    serve(SiteHolder(site_file, loaded=loaded), fixed)
