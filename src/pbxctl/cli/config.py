"""`pbxctl validate|generate|diff|apply`: the site file turned into PBX configuration."""

from __future__ import annotations

import asyncio
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from pbxctl.apply.files import ApplyError, plan_generated, write_changes
from pbxctl.asterisk.ami_client import AmiError, client_for
from pbxctl.cli.common import OLD_SITE, SITE, fail, load_site_or_fail, site_path_or_positional
from pbxctl.render.safe_output import UnsafeOutput
from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import SecretUnavailable

app = typer.Typer()


class Target(str, Enum):
    asterisk = "asterisk"
    freeswitch = "freeswitch"


def _generate(loaded: LoadedSite, target: str) -> dict[str, str]:
    if target == "asterisk":
        from pbxctl.render.asterisk import generate_asterisk

        return generate_asterisk(loaded)
    from pbxctl.render.freeswitch import generate_freeswitch

    return generate_freeswitch(loaded)


@app.command()
def validate(ctx: typer.Context, site: Optional[Path] = SITE, old_site: Optional[Path] = OLD_SITE) -> None:
    """Check a site file; print every problem as FILE:LINE key.path: message."""
    site_file = site_path_or_positional(ctx, site, old_site)
    loaded = load_site_or_fail(site_file)
    s = loaded.site
    typer.echo(
        f"{site_file}: ok (site {s.site}, {s.pbx.backend}; {len(s.queues)} queues, {len(s.agents)} agents, "
        f"{len(s.ivrs)} IVRs, {len(s.entries)} entry numbers, {len(loaded.warnings)} warnings)"
    )


@app.command()
def generate(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory to write the generated files into."),
    target: Optional[Target] = typer.Option(None, "--target", help="Backend to generate for (default: pbx.backend)."),
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
) -> None:
    """Write the generated include files into a directory (nothing is reloaded)."""
    backend = target.value if target else None
    loaded = load_site_or_fail(site_path_or_positional(ctx, site, old_site), backend)
    try:
        files = _generate(loaded, backend or loaded.site.pbx.backend)
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
        changes = plan_generated(out, files)
        write_changes(changes, out / "pbxctl-backup", None)
    except (ApplyError, UnsafeOutput, OSError) as exc:
        fail(str(exc))
    for change in changes:
        state = "unchanged" if not change.changed else ("new" if change.old is None else "updated")
        typer.echo(f"{change.path} ({state})")


def _config_dir(loaded: LoadedSite, config_dir: Path | None) -> Path:
    pbx = loaded.site.pbx
    configured = pbx.asterisk.config_dir if pbx.backend == "asterisk" else pbx.freeswitch.config_dir
    return config_dir or (loaded.base_dir / configured)


def _plan(loaded: LoadedSite, directory: Path):
    if loaded.site.pbx.backend == "freeswitch":
        from pbxctl.apply.freeswitch_apply import plan_freeswitch

        return plan_freeswitch(loaded, directory)
    from pbxctl.apply.asterisk_apply import plan_asterisk

    return plan_asterisk(loaded, directory)


CONFIG_DIR = typer.Option(None, "--config-dir", help="Override pbx.asterisk.config_dir / pbx.freeswitch.config_dir.")


@app.command()
def diff(
    ctx: typer.Context,
    config_dir: Optional[Path] = CONFIG_DIR,
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
) -> None:
    """Show what `apply` would change in the files, without writing anything. Exit 0 either way."""
    loaded = load_site_or_fail(site_path_or_positional(ctx, site, old_site))
    try:
        changes = _plan(loaded, _config_dir(loaded, config_dir))
    except (ApplyError, UnsafeOutput) as exc:
        fail(str(exc))
    changed = [c for c in changes if c.changed]
    for change in changed:
        typer.echo(change.diff(), nl=False)
    typer.echo(f"{len(changed)} file(s) would change" if changed else "no change: the PBX config is up to date")


@app.command()
def apply(
    ctx: typer.Context,
    config_dir: Optional[Path] = CONFIG_DIR,
    reload: bool = typer.Option(True, "--reload/--no-reload", help="Reload the PBX and verify (default)."),
    site: Optional[Path] = SITE,
    old_site: Optional[Path] = OLD_SITE,
) -> None:
    """Write the include files into the PBX config, add the include lines, reload and verify."""
    loaded = load_site_or_fail(site_path_or_positional(ctx, site, old_site))
    directory = _config_dir(loaded, config_dir)
    if loaded.site.pbx.backend == "freeswitch":
        result = _apply_freeswitch(loaded, directory, reload)
    else:
        result = _apply_asterisk(loaded, directory, reload)
    if not result.changed and not result.commands:
        typer.echo("no change: the PBX config is up to date")
        return
    for change in result.changed:
        verb = "added include line to" if change.what == "include" else ("wrote" if change.old is None else "updated")
        typer.echo(f"{verb} {change.path}")
    if result.backup_dir:
        typer.echo(f"backup of replaced files: {result.backup_dir}")
    for command in result.commands:
        typer.echo(f"callcenter_config {command}")
    if result.reloaded:
        what = "reloadxml, mod_callcenter" if loaded.site.pbx.backend == "freeswitch" else "dialplan, queues"
        typer.echo(f"reloaded: {what}; verified: " + ", ".join(result.verified))
    else:
        typer.echo("not reloaded (--no-reload): the PBX picks the files up at its next reload")


def _apply_asterisk(loaded: LoadedSite, directory: Path, reload: bool):
    from pbxctl.apply.asterisk_apply import apply_asterisk, plan_asterisk

    async def run():
        changes = plan_asterisk(loaded, directory)
        if not reload or not any(c.changed for c in changes):
            return await apply_asterisk(loaded, directory, None, reload=False, changes=changes)
        # Connect before writing: with AMI unreachable nothing is written.
        async with client_for(loaded.site, loaded.base_dir) as ami:
            return await apply_asterisk(loaded, directory, ami, reload=True, changes=changes)

    try:
        return asyncio.run(run())
    except (ApplyError, UnsafeOutput, AmiError, SecretUnavailable) as exc:
        fail(f"{exc}\nnothing was changed" if isinstance(exc, (AmiError, SecretUnavailable)) else str(exc))


def _apply_freeswitch(loaded: LoadedSite, directory: Path, reload: bool):
    from pbxctl.apply.freeswitch_apply import apply_freeswitch, plan_freeswitch
    from pbxctl.freeswitch.esl_client import EslClient, EslError
    from pbxctl.site.secrets import resolve_secret

    esl_settings = loaded.site.pbx.freeswitch.esl
    try:
        changes = plan_freeswitch(loaded, directory)
        if not reload:
            return apply_freeswitch(loaded, directory, None, reload=False, changes=changes)
        password = resolve_secret(esl_settings.password, "pbx.freeswitch.esl.password", loaded.base_dir)
        # Connect before writing: with the Event Socket unreachable nothing is written.
        with EslClient(esl_settings.host, esl_settings.port, password) as esl:
            return apply_freeswitch(loaded, directory, esl, reload=True, changes=changes)
    except (EslError, SecretUnavailable) as exc:
        fail(f"{exc}\nnothing was changed")
    except ApplyError as exc:
        fail(str(exc))
