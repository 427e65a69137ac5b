"""`pbxctl calls|barge|transfer`: live calls and what a supervisor does with them, through
the running service's API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pbxctl.cli.common import JSON, SITE, WATCH, call_service, fail, format_duration, load_site_or_fail

app = typer.Typer()

MODES = ("listen", "whisper", "both")


def _api(site: Path | None, method: str, path: str, body: dict | None = None, timeout: float = 15.0) -> dict:
    return call_service(load_site_or_fail(site), method, path, body, timeout=timeout)


def calls_table(doc: dict) -> Table:
    table = Table(title="Live calls", title_justify="left")
    for col in ("call", "caller", "agent", "queue", "time", "state", "help", "listening"):
        table.add_column(col, no_wrap=col in ("call", "caller"))
    for c in doc["calls"]:
        listening = ", ".join(f"{lis['supervisor'] or '?'} ({lis['mode']})" for lis in c["listeners"]) or "-"
        help_text = f"YES {format_duration(c['help_waiting'])}" if c["help_requested"] else "-"
        state = c["state"] + (f" +{c['third_party']}" if c["third_party"] else "")
        table.add_row(c["call"], c["caller"] or "(anonymous)", c["agent"] or "?", c["queue"] or "-",
                      format_duration(c["duration"]), state, help_text, listening)
    if not doc["calls"]:
        table.caption = "no calls"
    return table


@app.command("calls")
def calls(site: Optional[Path] = SITE, watch: Optional[float] = WATCH, as_json: bool = JSON) -> None:
    """Live queue calls: caller, agent, queue, duration, state, help requested, who listens in which mode."""
    if as_json:
        while True:
            typer.echo(json.dumps(_api(site, "GET", "/api/calls"), indent=2))
            if not watch:
                return
            time.sleep(watch)
    console = Console()
    if not watch:
        console.print(calls_table(_api(site, "GET", "/api/calls")))
        return
    try:
        with Live(calls_table(_api(site, "GET", "/api/calls")), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(watch)
                live.update(calls_table(_api(site, "GET", "/api/calls")))
    except KeyboardInterrupt:
        pass


@app.command("barge")
def barge(
    target: str = typer.Argument(..., help="An agent's name or a call id (see `pbxctl calls`)."),
    site: Optional[Path] = SITE,
    mode: Optional[str] = typer.Option(None, "--mode", "-m", help="listen | whisper | both (default listen)."),
    set_mode: Optional[str] = typer.Option(None, "--set-mode", help="Switch a running session to listen | whisper | both."),
    from_: Optional[str] = typer.Option(None, "--from", help="The supervisor's extension (rung to join; with --set-mode: whose session)."),
) -> None:
    """Join a live call from a supervisor's phone, or switch a running session's mode."""
    if set_mode and mode:
        fail("give --mode (to join) or --set-mode (to switch), not both")
    chosen = set_mode or mode or "listen"
    if chosen not in MODES:
        fail(f"unknown mode {chosen!r} (use {', '.join(MODES)})")
    if set_mode:
        doc = _api(site, "POST", "/api/barge", {"target": target, "mode": chosen, "set_mode": True, "from": from_})
        typer.echo(f"{doc['supervisor']} now in {doc['mode']} mode on {doc['agent']}'s call {doc['call']}")
        return
    if not from_:
        fail("say which supervisor's phone to ring: --from EXTENSION")
    doc = _api(site, "POST", "/api/barge", {"target": target, "mode": chosen, "from": from_}, timeout=330)
    typer.echo(f"{doc['supervisor']} joined {doc['agent']}'s call {doc['call']} in {doc['mode']} mode")


@app.command("transfer")
def transfer(
    target: str = typer.Argument(..., help="An agent's name or a call id (see `pbxctl calls`)."),
    to: str = typer.Option(..., "--to", help="Extension or number to transfer the caller to."),
    site: Optional[Path] = SITE,
    with_return: bool = typer.Option(False, "--with-return", help="Back to the agent if the target does not answer (desk_phone.transfers.return_after)."),
    attended: bool = typer.Option(False, "--attended", help="The agent's phone calls the target first; the agent completes by hanging up."),
) -> None:
    """Transfer a live call's caller: blind (default), attended, or with return."""
    doc = _api(site, "POST", "/api/transfer", {"target": target, "to": to, "with_return": with_return, "attended": attended})
    typer.echo(f"call {doc['call']} ({doc['agent']}): {doc['kind'].replace('_', ' ')} transfer to {doc['to']}")
