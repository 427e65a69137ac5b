"""`pbxctl status|queues|agents`: the live view from the running service, as tables
(rich), refreshed with --watch, or as JSON for scripts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pbxctl.cli.common import JSON, SITE, WATCH, call_service, format_duration, load_site_or_fail

app = typer.Typer()


def queues_table(doc: dict) -> Table:
    table = Table(title=f"Queues of {doc['site']}", title_justify="left")
    # Short headers: the table must fit an 80-column terminal on the PBX box.
    table.add_column("queue", no_wrap=True)
    table.add_column("strategy")
    for col in ("wait", "longest", "in", "free", "busy", "paused", "ans", "aband", "t/o", "SLA"):
        table.add_column(col, justify="right")
    table.caption = "in = logged in; busy includes ringing and wrap-up; ans/aband/t/o = today"
    for q in doc["queues"]:
        a, t = q["agents"], q["today"]
        sla = "-" if t["service_level_pct"] is None else f"{t['service_level_pct']:.0f}% ≤{q['service_level_s']}s"
        table.add_row(
            q["name"], q["strategy"], str(q["waiting"]), format_duration(q["longest_wait_s"]) if q["waiting"] else "-",
            str(a["logged_in"]), str(a["available"]), str(a["busy"] + a["ringing"] + a["wrapup"]), str(a["paused"]),
            str(t["answered"]), str(t["abandoned"]), str(t["timed_out"]), sla,
        )
    return table


def callers_table(doc: dict) -> Table | None:
    rows = [(q["name"], c) for q in doc["queues"] for c in q["callers"]]
    if not rows:
        return None
    table = Table(title="Waiting callers", title_justify="left")
    for col in ("queue", "pos", "caller", "wait"):
        table.add_column(col)
    for name, c in rows:
        table.add_row(name, str(c["position"]), c["caller"] or "(anonymous)", format_duration(c["wait_s"]))
    return table


def agents_table(doc: dict) -> Table:
    table = Table(title="Agents", title_justify="left")
    table.add_column("agent", no_wrap=True)
    for col in ("ext", "state", "for", "call", "pause reason", "queues"):
        table.add_column(col)
    for a in doc["agents"]:
        queues = ", ".join(
            f"{q['queue']}{' (p)' if q['paused'] else ''}" for q in a["queues"] if q["member"]
        ) or "-"
        table.add_row(
            a["agent"], a["extension"], a["state"], format_duration(a["time_in_state_s"]),
            a["current_call"] or "-", a["pause_reason"] or "-", queues,
        )
    return table


def ami_line(doc: dict) -> str:
    return doc["ami"]["detail"]


def _fetch(site: Path | None) -> dict:
    return call_service(load_site_or_fail(site), "GET", "/api/status", timeout=10)


def _show(site_file: Path | None, watch: Optional[float], as_json: bool, parts) -> None:
    console = Console()
    if as_json:
        while True:
            doc = _fetch(site_file)
            typer.echo(json.dumps(doc if parts is None else {k: doc[k] for k in ("site", "at", "ami", *parts)}, indent=2))
            if not watch:
                return
            time.sleep(watch)

    def render(doc: dict) -> Group:
        items = [ami_line(doc)]
        if parts is None or "queues" in parts:
            items.append(queues_table(doc))
            callers = callers_table(doc)
            if callers is not None:
                items.append(callers)
        if parts is None or "agents" in parts:
            items.append(agents_table(doc))
        return Group(*items)

    if not watch:
        console.print(render(_fetch(site_file)))
        return
    try:
        with Live(render(_fetch(site_file)), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(watch)
                live.update(render(_fetch(site_file)))
    except KeyboardInterrupt:
        pass


@app.command("status")
def status(site: Optional[Path] = SITE, watch: Optional[float] = WATCH, as_json: bool = JSON) -> None:
    """Queues and agents, live (from the running service)."""
    _show(site, watch, as_json, None)


@app.command("queues")
def queues(site: Optional[Path] = SITE, watch: Optional[float] = WATCH, as_json: bool = JSON) -> None:
    """Queues live: waiting callers, longest wait, agents by state, today's SLA."""
    _show(site, watch, as_json, ("queues",))


@app.command("agents")
def agents(site: Optional[Path] = SITE, watch: Optional[float] = WATCH, as_json: bool = JSON) -> None:
    """Agents live: state, time in state, current call, pause reason, queues."""
    _show(site, watch, as_json, ("agents",))
