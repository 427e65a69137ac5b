"""`pbxctl serve asterisk|freeswitch`: pbxctl's long-running services (asyncio for Asterisk,
gevent for FreeSWITCH: one process each)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import OLD_SITE, SITE, fail, load_site_or_fail, parse_at, site_path_or_positional
from pbxctl.ivr.clock import FixedClock
from pbxctl.service.logs import UnknownLogFormat, choose_log_format, configure_logging
from pbxctl.site.secrets import SecretUnavailable

app = typer.Typer(name="serve", help="Long-running services beside the PBX.", no_args_is_help=True)


CLOCK = typer.Option(None, "--clock", help="Behave as if it were this local time (testing), e.g. '2026-12-24 13:05'.")
LOG_FORMAT = typer.Option(
    None, "--log-format", help="text (key=value) or json (default: PBXCTL_LOG_FORMAT, else service.log_format, else text)."
)


def set_up_logging(option: str | None, loaded) -> None:
    try:
        configure_logging(choose_log_format(option, loaded.site.service.log_format))
    except UnknownLogFormat as exc:
        fail(str(exc))


def fixed_clock(loaded, clock: Optional[str]) -> FixedClock | None:
    """--clock as a fixed clock at an aware time: naive text is read in the zone of the site's
    first hours set."""
    if not clock:
        return None
    when = parse_at(clock, "--clock")
    if when.tzinfo is None:
        from zoneinfo import ZoneInfo

        tz = next(iter(loaded.site.hours.values())).timezone if loaded.site.hours else "UTC"
        when = when.replace(tzinfo=ZoneInfo(tz))
    return FixedClock(when)


@app.command("asterisk")
def serve_asterisk(
    ctx: typer.Context,
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
    clock: Optional[str] = CLOCK,
    http_port: Optional[int] = typer.Option(None, "--http-port", help="Port of /metrics and /api (default: service.port of the site, 9464)."),
    log_format: Optional[str] = LOG_FORMAT,
) -> None:
    """Run pbxctl's Asterisk services: the FastAGI IVR decisions and agent codes, the AMI
    queue/agent controller, the books (queue_log followed), and HTTP (/metrics, /api) — one
    asyncio process."""
    from pbxctl.asterisk.runtime import ListenFailed, build_services, run_services
    from pbxctl.service.lifecycle import ServiceLifecycle

    site_file = site_path_or_positional(ctx, site, old_site)
    loaded = load_site_or_fail(site_file)
    set_up_logging(log_format, loaded)
    try:
        services = build_services(site_file, loaded, fixed_clock(loaded, clock))
    except SecretUnavailable as exc:
        fail(str(exc))
    try:
        asyncio.run(run_services(services, http_port, announce=lambda text: typer.echo(text, err=True),
                                 lifecycle=ServiceLifecycle()))
    except ListenFailed as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


@app.command("freeswitch")
def serve_freeswitch(
    ctx: typer.Context,
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
    clock: Optional[str] = CLOCK,
    http_port: Optional[int] = typer.Option(None, "--http-port", help="Port of /metrics and /api (default: service.port of the site, 9464)."),
    log_format: Optional[str] = LOG_FORMAT,
) -> None:
    """Run pbxctl's FreeSWITCH services: the IVR's outbound socket (pbx.freeswitch.outbound)
    and the Event Socket queue/agent controller, each in a gevent process of its own, and
    HTTP (/metrics, /api) with the SLA alerts in this (asyncio) process."""
    from pbxctl.freeswitch.remote_controller import ControllerGone
    from pbxctl.freeswitch.runtime import ChildExited, ListenFailed, build_services, run_services
    from pbxctl.service.lifecycle import ServiceLifecycle
    from pbxctl.service.logs import choose_log_format

    site_file = site_path_or_positional(ctx, site, old_site)
    loaded = load_site_or_fail(site_file)
    set_up_logging(log_format, loaded)
    if clock:
        fixed_clock(loaded, clock)  # a bad --clock is named here, not in the IVR process
    try:
        services = build_services(site_file, loaded, clock, choose_log_format(log_format, loaded.site.service.log_format))
    except SecretUnavailable as exc:
        fail(str(exc))
    try:
        asyncio.run(run_services(services, http_port, announce=lambda text: typer.echo(text, err=True),
                                 lifecycle=ServiceLifecycle()))
    except (ListenFailed, ChildExited, ControllerGone) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
