"""`pbxctl agent login|logout|pause|unpause AGENT`: through the running service, which
holds the AMI link and the books. The site file is checked first, so an unknown agent or
queue is named without asking anyone."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import SITE, call_service, fail, load_site_or_fail
from pbxctl.domain.agent_membership import AgentCommandError, check_request

app = typer.Typer(name="agent", help="Agents: log in, log out, pause, unpause.", no_args_is_help=True)


def _run(site: Path | None, agent: str, action: str, queue: str | None, reason: str = "") -> None:
    loaded = load_site_or_fail(site)
    try:
        check_request(loaded.site, agent, queue)
    except AgentCommandError as exc:
        fail(str(exc))
    body = {"queue": queue, "reason": reason, "source": "cli"}
    answer = call_service(loaded, "POST", f"/api/agents/{agent}/{action}", body, error_prefix=f"{agent} {action}: ")
    changes = answer.get("changes") or []
    if not changes:
        typer.echo(f"{agent}: nothing to change")
    for line in changes:
        typer.echo(line)


@app.command("login")
def login(
    agent: str = typer.Argument(..., help="The agent (key under agents:)."),
    site: Optional[Path] = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all the agent's queues)."),
) -> None:
    """Log a dynamic agent in (adds it as a member; its device is the state interface)."""
    _run(site, agent, "login", queue)


@app.command("logout")
def logout(
    agent: str = typer.Argument(..., help="The agent."),
    site: Optional[Path] = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all)."),
) -> None:
    """Log a dynamic agent out of its queues."""
    _run(site, agent, "logout", queue)


@app.command("pause")
def pause(
    agent: str = typer.Argument(..., help="The agent."),
    site: Optional[Path] = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all it is in)."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (shown in status, kept by Asterisk)."),
) -> None:
    """Pause an agent: it stays logged in but is not offered calls."""
    _run(site, agent, "pause", queue, reason)


@app.command("unpause")
def unpause(
    agent: str = typer.Argument(..., help="The agent."),
    site: Optional[Path] = SITE,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (default: all it is in)."),
) -> None:
    """Unpause an agent."""
    _run(site, agent, "unpause", queue)
