"""The root `pbxctl` command: every command group registered the same way, by `add_typer`
(a group without a name puts its commands at the top level)."""

from __future__ import annotations

import typer

from pbxctl.cli import agents, books, callbacks, calls, config, doctor, ivr, report, routes, serve, status

app = typer.Typer(
    help="pbxctl: one site YAML -> Asterisk/FreeSWITCH configuration, and the services beside the PBX.",
    no_args_is_help=True,
    add_completion=False,
)
for group in (config, doctor, ivr, routes, agents, status, calls, books, report, callbacks, serve):
    app.add_typer(group.app)


def main() -> None:
    app()
