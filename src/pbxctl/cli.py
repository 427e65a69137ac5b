"""The `pbxctl` command line."""

from __future__ import annotations

import asyncio
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from pbxctl.apply.files import ApplyError, plan_generated, write_changes
from pbxctl.asterisk.ami_client import AmiError, client_for
from pbxctl.site.load import LoadedSite, load_site
from pbxctl.site.problems import SiteInvalid
from pbxctl.site.secrets import SecretUnavailable

app = typer.Typer(
    help="pbxctl: one site YAML -> Asterisk/FreeSWITCH configuration, and the services beside the PBX.",
    no_args_is_help=True,
    add_completion=False,
)


class Target(str, Enum):
    asterisk = "asterisk"
    freeswitch = "freeswitch"


def _fail(message: str) -> None:
    typer.echo(f"pbxctl: {message}", err=True)
    raise typer.Exit(1)


def _load(site_file: Path, backend: str | None = None) -> LoadedSite:
    try:
        loaded = load_site(site_file)
        if backend is not None and backend != loaded.site.pbx.backend:
            from pbxctl.site.checks import check_site

            problems = [p for p in check_site(loaded, backend) if p.severity == "error"]
            if problems:
                raise SiteInvalid(problems)
    except SiteInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        typer.echo(f"{site_file}: {errors} error{'s' if errors != 1 else ''}, nothing written", err=True)
        raise typer.Exit(1)
    for warning in loaded.warnings:
        typer.echo(str(warning), err=True)
    return loaded


def _generate(loaded: LoadedSite, target: str) -> dict[str, str]:
    if target == "asterisk":
        from pbxctl.render.asterisk import generate_asterisk

        return generate_asterisk(loaded)
    from pbxctl.render.freeswitch import generate_freeswitch

    return generate_freeswitch(loaded)


@app.command()
def validate(site_file: Path = typer.Argument(..., help="The site YAML file.")) -> None:
    """Check a site file; print every problem as FILE:LINE key.path: message."""
    loaded = _load(site_file)
    s = loaded.site
    typer.echo(
        f"{site_file}: ok (site {s.site}, {s.pbx.backend}; {len(s.queues)} queues, {len(s.agents)} agents, "
        f"{len(s.ivrs)} IVRs, {len(s.entries)} entry numbers, {len(loaded.warnings)} warnings)"
    )


@app.command()
def generate(
    site_file: Path = typer.Argument(..., help="The site YAML file."),
    out: Path = typer.Option(..., "--out", help="Directory to write the generated files into."),
    target: Optional[Target] = typer.Option(None, "--target", help="Backend to generate for (default: pbx.backend)."),
) -> None:
    """Write the generated include files into a directory (nothing is reloaded)."""
    backend = target.value if target else None
    loaded = _load(site_file, backend)
    files = _generate(loaded, backend or loaded.site.pbx.backend)
    try:
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
        changes = plan_generated(out, files)
        write_changes(changes, out / "pbxctl-backup", None)
    except (ApplyError, OSError) as exc:
        _fail(str(exc))
    for change in changes:
        state = "unchanged" if not change.changed else ("new" if change.old is None else "updated")
        typer.echo(f"{change.path} ({state})")


def _config_dir(loaded: LoadedSite, config_dir: Path | None) -> Path:
    if loaded.site.pbx.backend != "asterisk":
        _fail(
            "diff/apply write to a running Asterisk; for FreeSWITCH use `pbxctl generate` "
            "(applying to FreeSWITCH comes with the FreeSWITCH runtime)"
        )
    return config_dir or (loaded.base_dir / loaded.site.pbx.asterisk.config_dir)


@app.command()
def diff(
    site_file: Path = typer.Argument(..., help="The site YAML file."),
    config_dir: Optional[Path] = typer.Option(None, "--config-dir", help="Override pbx.asterisk.config_dir."),
) -> None:
    """Show what `apply` would change, without writing anything. Exit 0 either way."""
    from pbxctl.apply.asterisk_apply import plan_asterisk

    loaded = _load(site_file)
    try:
        changes = plan_asterisk(loaded, _config_dir(loaded, config_dir))
    except ApplyError as exc:
        _fail(str(exc))
    changed = [c for c in changes if c.changed]
    for change in changed:
        typer.echo(change.diff(), nl=False)
    typer.echo(f"{len(changed)} file(s) would change" if changed else "no change: the PBX config is up to date")


@app.command()
def apply(
    site_file: Path = typer.Argument(..., help="The site YAML file."),
    config_dir: Optional[Path] = typer.Option(None, "--config-dir", help="Override pbx.asterisk.config_dir."),
    reload: bool = typer.Option(True, "--reload/--no-reload", help="Reload Asterisk over AMI and verify (default)."),
) -> None:
    """Write the include files into the PBX config, add the include lines, reload and verify."""
    from pbxctl.apply.asterisk_apply import apply_asterisk

    loaded = _load(site_file)
    directory = _config_dir(loaded, config_dir)

    async def run():
        from pbxctl.apply.asterisk_apply import plan_asterisk

        changes = plan_asterisk(loaded, directory)
        if not reload or not any(c.changed for c in changes):
            return await apply_asterisk(loaded, directory, None, reload=False, changes=changes)
        # Connect before writing: with AMI unreachable nothing is written.
        async with client_for(loaded.site, loaded.base_dir) as ami:
            return await apply_asterisk(loaded, directory, ami, reload=True, changes=changes)

    try:
        result = asyncio.run(run())
    except (ApplyError, AmiError, SecretUnavailable) as exc:
        _fail(f"{exc}\nnothing was changed" if isinstance(exc, (AmiError, SecretUnavailable)) else str(exc))
    if not result.changed:
        typer.echo("no change: the PBX config is up to date")
        return
    for change in result.changed:
        verb = "added include line to" if change.what == "include" else ("wrote" if change.old is None else "updated")
        typer.echo(f"{verb} {change.path}")
    if result.backup_dir:
        typer.echo(f"backup of replaced files: {result.backup_dir}")
    if result.reloaded:
        typer.echo("reloaded: dialplan, queues; verified: " + ", ".join(result.verified))
    else:
        typer.echo("not reloaded (--no-reload): Asterisk picks the files up at its next reload")


ivr_app = typer.Typer(help="IVR call flows.", no_args_is_help=True)
app.add_typer(ivr_app, name="ivr")


def _parse_at(text: str | None):
    import datetime as dt

    if text is None:
        return dt.datetime.now(dt.timezone.utc)
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at {text!r}: give a local time like '2026-12-24 13:05' (or ISO 8601 with an offset)")


@ivr_app.command("test")
def ivr_test(
    number: str = typer.Argument(..., help="The entry number dialled."),
    site_file: Path = typer.Option(..., "--site", "-s", envvar="PBXCTL_SITE", help="The site YAML file."),
    caller: str = typer.Option("", "--from", help="Caller number ('' for anonymous)."),
    at: Optional[str] = typer.Option(None, "--at", help="Local time of the call, e.g. '2026-12-24 13:05' (default: now)."),
    digits: str = typer.Option("", "--digits", help="What the caller types at each prompt, comma-separated: 1,4321 (empty item = no input)."),
    call: bool = typer.Option(False, "--call", help="Also place a real call through the PBX (AMI), decided as if at --at, and report where it went."),
) -> None:
    """Dry run: the path a call would take through the IVR, with the live service's decisions."""
    from pbxctl.ivr.decide import CallContext
    from pbxctl.ivr.walk import UnknownEntry, walk_call

    loaded = _load(site_file)
    when = _parse_at(at)
    inputs = digits.split(",") if digits else []
    bad = [d for d in inputs if d and not set(d) <= set("0123456789*#")]
    if bad:
        _fail(f"--digits: {bad[0]!r} is not DTMF (0-9, * and #)")
    try:
        result = walk_call(loaded, number, CallContext(caller=caller, now=when, entry=number), inputs)
    except UnknownEntry as exc:
        _fail(str(exc))
    typer.echo(f"call to {number} from {caller or '(anonymous)'} at {when:%Y-%m-%d %H:%M}{'' if when.tzinfo is None else when.strftime(' %Z')}")
    for i, step in enumerate(result.steps, 1):
        typer.echo(f"{i:>2}. {step.ivr}.{step.element} [{step.kind}] -> {step.outcome}: {step.why}")
    typer.echo(f"destination: {result.destination}")
    if result.unused_digits:
        typer.echo(f"unused input: {','.join(result.unused_digits)}")
    if call:
        _live_call(loaded, number, caller, when, inputs, result.destination.split(" ")[0])


def _live_call(loaded: LoadedSite, number: str, caller: str, when, inputs: list[str], predicted: str) -> None:
    from pbxctl.asterisk.ami_events import EventRecorder
    from pbxctl.asterisk.live_call import outcome, place_call
    from pbxctl.site.secrets import resolve_secret

    if loaded.site.pbx.backend != "asterisk":
        _fail("--call places calls through Asterisk's AMI; this site's backend is freeswitch")
    ami = loaded.site.pbx.asterisk.ami
    try:
        secret = resolve_secret(ami.secret, "pbx.asterisk.ami.secret", loaded.base_dir)
    except SecretUnavailable as exc:
        _fail(str(exc))
    at = when.strftime("%Y-%m-%dT%H:%M:%S") if when.tzinfo is None else when.isoformat()

    async def run() -> str:
        async with EventRecorder(secret, ami.host, ami.port, ami.username) as rec:
            channel = await place_call(rec, number, caller, inputs, at=at)
            return await outcome(rec, channel, timeout=60)

    try:
        live = asyncio.run(run())
    except (OSError, AssertionError) as exc:
        _fail(f"live call: {exc}")
    verdict = "matches the dry run" if live == predicted else f"DIFFERS from the dry run ({predicted})"
    typer.echo(f"live call: {live} ({verdict})")
    if live != predicted:
        raise typer.Exit(1)


from pbxctl.agents_cli import agent_app  # noqa: E402
from pbxctl.routes_cli import routes_app  # noqa: E402
from pbxctl.status_cli import register as _register_status  # noqa: E402

app.add_typer(routes_app, name="routes")
app.add_typer(agent_app, name="agent")
_register_status(app)
from pbxctl.calls_cli import register as _register_calls  # noqa: E402

_register_calls(app)

serve_app = typer.Typer(help="Long-running services beside the PBX.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")


def _configure_logging() -> None:
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


@serve_app.command("asterisk")
def serve_asterisk(
    site_file: Path = typer.Argument(..., help="The site YAML file."),
    clock: Optional[str] = typer.Option(None, "--clock", help="Behave as if it were this local time (testing), e.g. '2026-12-24 13:05'."),
    http_port: Optional[int] = typer.Option(None, "--http-port", help="Port of /metrics and /api (default: service.port of the site, 9464)."),
) -> None:
    """Run pbxctl's Asterisk services: the FastAGI IVR decisions and agent codes, the AMI
    queue/agent controller, and HTTP (/metrics, /api) — one asyncio process."""
    import functools
    import time as _time

    from pbxctl.asterisk.agent_codes import agent_code_handler
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

    _configure_logging()
    loaded = _load(site_file)
    holder = SiteHolder(site_file, loaded=loaded)
    ast = loaded.site.pbx.asterisk
    agi = ast.fastagi
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    fixed = None
    if clock:
        when = _parse_at(clock)
        if when.tzinfo is None:
            from zoneinfo import ZoneInfo

            tz = next(iter(loaded.site.hours.values())).timezone if loaded.site.hours else "UTC"
            when = when.replace(tzinfo=ZoneInfo(tz))
        fixed = FixedClock(when)
    try:
        secret = resolve_secret(ast.ami.secret, "pbx.asterisk.ami.secret", loaded.base_dir)
    except SecretUnavailable as exc:
        _fail(str(exc))
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

    async def run() -> None:
        try:
            server = await serve_fastagi(service, agi.host, agi.port)
        except OSError as exc:
            _fail(f"cannot listen on {agi.host}:{agi.port} (pbx.asterisk.fastagi): {exc.strerror or exc}")
        try:
            runner = await start_http(controller, svc.host, port)
        except OSError as exc:
            _fail(f"cannot listen on {svc.host}:{port} (service): {exc.strerror or exc}")
        typer.echo(
            f"pbxctl for site {loaded.site.site}: FastAGI on {agi.host}:{agi.port}, AMI controller for "
            f"{ast.ami.host}:{ast.ami.port}, HTTP on http://{svc.host}:{port}/metrics and /api",
            err=True,
        )
        try:
            async with server:
                await asyncio.gather(server.serve_forever(), holder.watch(), controller.run(), monitor.run())
        finally:
            await controller.flush()
            await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
