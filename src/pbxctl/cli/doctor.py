"""`pbxctl doctor`: what an engineer checks by hand before a site goes live."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import SITE, fail, load_site_or_fail

app = typer.Typer()


@app.command()
def doctor(
    site: Optional[Path] = SITE,
    config_dir: Optional[Path] = typer.Option(None, "--config-dir", help="Override pbx.asterisk.config_dir."),
) -> None:
    """Check a site's PBX before going live: one OK/WARN/FAIL line per check, exit 1 on any FAIL."""
    from pbxctl.doctor.report import exit_status, summary
    from pbxctl.doctor.run import run_doctor

    loaded = load_site_or_fail(site)
    if loaded.site.pbx.backend != "asterisk":
        fail("doctor checks Asterisk sites; the FreeSWITCH checks come with the FreeSWITCH runtime")
    directory = config_dir or (loaded.base_dir / loaded.site.pbx.asterisk.config_dir)
    checks = asyncio.run(run_doctor(loaded, directory))
    for check in checks:
        typer.echo(check.line())
    typer.echo(summary(checks))
    raise typer.Exit(exit_status(checks))
