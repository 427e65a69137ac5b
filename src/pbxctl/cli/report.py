"""`pbxctl report queues|agents|calls`: the books' reports as a table, CSV, XLSX, JSON or
the HTML page with charts, for a window in an hours set's timezone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer

from pbxctl.books.report_formats import to_csv, to_json, to_table, to_xlsx
from pbxctl.books.report_request import FORMATS, ReportRequest, build_document, build_page
from pbxctl.books.report_window import INTERVALS, ReportError
from pbxctl.cli.common import SITE, fail, load_site_or_fail, write_output

app = typer.Typer(name="report", help="Reports from the books (queue_log/CDR): queues, agents, the call log.",
                  no_args_is_help=True)
FROM = typer.Option(..., "--from", help="First day (or day and time) of the window, local: 2026-12-01 or '2026-12-01 08:00'.")
TO = typer.Option(None, "--to", help="Last day (included) or end time (excluded); default: one day after --from.")
INTERVAL = typer.Option("day", "--interval", help=f"One of {', '.join(INTERVALS)}.")
QUEUE = typer.Option(None, "--queue", "-q", help="Only this queue (repeat for several).")
AGENT = typer.Option(None, "--agent", "-a", help="Only this agent (repeat for several).")
HOURS = typer.Option(None, "--hours", help="Hours set whose timezone the window and intervals are in.")
WEEKDAYS = typer.Option(None, "--weekdays", help="Only these weekdays, e.g. mon-fri or sat,sun.")
TIME = typer.Option(None, "--time", help="Only callers entering at this time of day, e.g. 08:00-16:00 (quarter hours).")
SHORT = typer.Option(None, "--short-abandon", help="Abandons shorter than this many seconds leave the service level out (default reports.short_abandon).")
NODE = typer.Option(None, "--node", help="Only this PBX node (default: all nodes).")
FORMAT = typer.Option("table", "--format", "-f", help=f"One of {', '.join(FORMATS)}.")
OUT = typer.Option(None, "--out", "-o", help="Write to this file instead of the terminal (xlsx needs it).")


def engine_of(loaded):
    from pbxctl.storage.db import database_url, engine_for

    return engine_for(database_url(loaded.site.site, loaded.site.storage.url))


def run_report(site_file: Optional[Path], req: ReportRequest, fmt: str, out: Optional[Path]) -> None:
    from rich.console import Console

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "xlsx" and out is None:
        fail("--format xlsx writes a file: give --out FILE.xlsx")
    loaded = load_site_or_fail(site_file)
    try:
        engine = engine_of(loaded)
        if fmt == "html":
            body: str | bytes = build_page(engine, loaded.site, req, dt.datetime.now().astimezone())[0]
        else:
            doc = build_document(engine, loaded.site, req)
            if fmt == "table":
                to_table(doc, Console(file=out.open("w") if out else None, width=200 if out else None))
                return
            body = {"csv": to_csv, "xlsx": to_xlsx, "json": to_json}[fmt](doc)
    except ReportError as exc:
        fail(str(exc))
    write_output(body, out, f"{req.kind} report written ({fmt})")


def _command(kind: str, doc: str):
    def command(
        site_file: Optional[Path] = SITE, start: str = FROM, end: Optional[str] = TO, interval: str = INTERVAL,
        queue: Optional[list[str]] = QUEUE, agent: Optional[list[str]] = AGENT, hours: Optional[str] = HOURS,
        weekdays: Optional[str] = WEEKDAYS, time_of_day: Optional[str] = TIME,
        number: Optional[str] = typer.Option(None, "--number", help="Calls: part of the caller's number or name, or the entry number."),
        short_abandon: Optional[int] = SHORT, node: Optional[str] = NODE, fmt: str = FORMAT, out: Optional[Path] = OUT,
    ) -> None:
        if number is not None and kind != "calls":
            fail("--number searches the call log: use it with `pbxctl report calls`")
        req = ReportRequest(kind, start, end, interval, list(queue or []), list(agent or []), hours, weekdays,
                            time_of_day, number, short_abandon, node)
        run_report(site_file, req, fmt, out)

    command.__doc__ = doc
    app.command(kind)(command)


_command("queues", "Per queue and interval: offered, answered (within SL), abandoned, timed out, overflowed, SL %, waits, talk, wrap-up, entry and exit paths.")
_command("agents", "Per agent: login and pause time, calls rung/answered/not answered, ring time, handling time, transfers, conferences, help requests.")
_command("calls", "The call log: each call with its queue stints, rings, talks and transfers as a tree.")
