"""What every command group shares: the one `--site` option, failing with a message, loading
the site (every problem printed as FILE:LINE key.path: message), asking the running service.

Group modules import this module and lower layers only; `cli/app.py` imports the groups.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NoReturn, Optional

import typer

from pbxctl.site.load import LoadedSite, load_site
from pbxctl.site.problems import SiteInvalid
from pbxctl.site.values import shown

SITE = typer.Option(None, "--site", "-s", envvar="PBXCTL_SITE", show_default=False, help="The site YAML file.")
# validate/generate/diff/apply/serve took the site positionally before -s existed for them;
# that form keeps working for one release, with a warning.
OLD_SITE = typer.Argument(None, metavar="SITE.yaml", show_default=False, help="Deprecated: give the site with -s/--site.")
WATCH = typer.Option(None, "--watch", "-w", help="Refresh every N seconds until Ctrl-C.")
JSON = typer.Option(False, "--json", help="Print the service's document as JSON.")


def fail(message: str) -> NoReturn:
    from pbxctl.site.secrets import redact

    typer.echo(f"pbxctl: {redact(message)}", err=True)
    raise typer.Exit(1)


def fail_with_places(lines: list[str], outcome: str) -> NoReturn:
    """Fail with problems that carry their own place (`FILE:LINE: message`, as `validate`
    prints them: no `pbxctl:` prefix), then one line saying what did not happen."""
    for line in lines:
        typer.echo(line, err=True)
    typer.echo(outcome, err=True)
    raise typer.Exit(1)


def site_path(site: Path | None) -> Path:
    """The site file of a command: `-s`/`--site`, else PBXCTL_SITE."""
    if site is None:
        fail("which site? give -s SITE.yaml (or set PBXCTL_SITE)")
    return site


def site_path_or_positional(ctx: typer.Context, site: Path | None, old_site: Path | None) -> Path:
    """As `site_path`, also taking the deprecated positional form, with a warning; on the
    command line it wins over PBXCTL_SITE, as any command-line value does."""
    if old_site is None:
        return site_path(site)
    command = " ".join(["pbxctl", *ctx.command_path.split()[1:]])
    typer.echo(f"warning: '{command} SITE.yaml' is deprecated; use '{command} -s SITE.yaml'", err=True)
    if site is not None and site != old_site and _from_command_line(ctx, "site"):
        fail(f"two site files given ({old_site} and -s {site}); give one, with -s")
    return old_site


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    # By name: typer 0.29 vendors click (typer._click) where older typers import click, so
    # the enum lives in a different module depending on the version.
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def load_site_or_fail(site: Path | None, backend: str | None = None) -> LoadedSite:
    """The validated site, its warnings printed; or every problem printed and exit 1.
    `backend` checks the site for another backend than its own (`generate --target`)."""
    site_file = site_path(site)
    try:
        loaded = load_site(site_file, long_lived=True)
        if backend is not None and backend != loaded.site.pbx.backend:
            from pbxctl.site.checks import check_site

            problems = [p for p in check_site(loaded, backend) if p.severity == "error"]
            if problems:
                raise SiteInvalid(problems)
    except SiteInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        typer.echo(f"{shown(str(site_file))}: {errors} error{'s' if errors != 1 else ''}, nothing written", err=True)
        raise typer.Exit(1)
    for warning in loaded.warnings:
        typer.echo(str(warning), err=True)
    return loaded


def call_service(
    loaded: LoadedSite, method: str, path: str, body: dict | None = None, timeout: float = 15.0, error_prefix: str = ""
) -> dict:
    """One request to the running service (`service.host:port`); its error is the command's."""
    from pbxctl.service.api_token import api_token
    from pbxctl.service.client import ServiceError, call
    from pbxctl.site.secrets import SecretUnavailable

    svc = loaded.site.service
    try:
        return call(svc.host, svc.port, method, path, body, timeout=timeout, backend=loaded.site.pbx.backend,
                    token=api_token(loaded))
    except (ServiceError, SecretUnavailable) as exc:
        fail(f"{error_prefix}{exc}")


def parse_at(text: Optional[str], option: str = "--at") -> dt.datetime:
    """A local time given on the command line (naive: local to each hours set), or now (UTC)."""
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
        fail(f"{option} {text!r}: give a local time like '2026-12-24 13:05' (or ISO 8601 with an offset)")


def write_output(body: str | bytes, out: Path | None, written: str) -> None:
    """A command's document on stdout, or into `out` (then `written` is said on stderr)."""
    if out is None:
        typer.echo(body, nl=False)
        return
    if isinstance(body, bytes):
        out.write_bytes(body)
    else:
        out.write_text(body, encoding="utf-8")
    typer.echo(f"{out}: {written}", err=True)


def format_duration(seconds: float | None) -> str:
    """m:ss below an hour, then 1h05: short enough for an 80-column table."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
