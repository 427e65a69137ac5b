"""`pbxctl agent login|logout|pause|unpause AGENT`: through the running service, which
holds the AMI link and the books. The site file is checked first, so an unknown agent or
queue is named without asking anyone."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pbxctl.domain.agent_membership import AgentCommandError, check_request

agent_app = typer.Typer(help="Agents: log in, log out, pause, unpause.", no_args_is_help=True)

SITE = typer.Option(..., "--site", "-s", envvar="PBXCTL_SITE", help="The site YAML file.")


def _run(site_file: Path, agent: str, action: str, queue: str | None, reason: str = "") -> None:
    from pbxctl.cli import _fail, _load
    from pbxctl.service.client import ServiceError, call

    loaded = _load(site_file)
    try:
        check_request(loaded.site, agent, queue)
    except AgentCommandError as exc:
        _fail(str(exc))
    svc = loaded.site.service
    try:
        answer = call(svc.host, svc.port, "POST", f"/api/agents/{agent}/{action}", {"queue": queue, "reason": reason, "source": "cli"})
    except ServiceError as exc:
        _fail(f"{agent} {action}: {exc}")
    changes = answer.get("changes") or []
    if not changes:
        typer.echo(f"{agent}: nothing to change")
    for line in changes:
        typer.echo(line)


@agent_app.command("login")
def login(
    agent: str = typer.Argument(..., help="The agent (key under agents:)."),
    site_file: Path = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all the agent's queues)."),
) -> None:
    """Log a dynamic agent in (adds it as a member; its device is the state interface)."""
    _run(site_file, agent, "login", queue)


@agent_app.command("logout")
def logout(
    agent: str = typer.Argument(..., help="The agent."),
    site_file: Path = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all)."),
) -> None:
    """Log a dynamic agent out of its queues."""
    _run(site_file, agent, "logout", queue)


@agent_app.command("pause")
def pause(
    agent: str = typer.Argument(..., help="The agent."),
    site_file: Path = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all it is in)."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (shown in status, kept by Asterisk)."),
) -> None:
    """Pause an agent: it stays logged in but is not offered calls."""
    _run(site_file, agent, "pause", queue, reason)


@agent_app.command("unpause")
def unpause(
    agent: str = typer.Argument(..., help="The agent."),
    site_file: Path = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all it is in)."),
) -> None:
    """Unpause an agent."""
    _run(site_file, agent, "unpause", queue)
