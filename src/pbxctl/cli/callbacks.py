"""`pbxctl callbacks list|show|take|attempt|close|export`: the callback list, read from and
written to the site's database directly (it works with the service stopped). Each feeds
the list from the books first, as the service does every few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import SITE, fail, load_site_or_fail, write_output

app = typer.Typer(name="callbacks", help="The callback list: abandoned calls and callback requests to call back.",
                  no_args_is_help=True)
QUEUE = typer.Option(None, "--queue", "-q", help="Only this queue (repeat for several).")
STATUS = typer.Option(None, "--status", help="open, in_progress, answered, unanswered, closed or all (repeatable); "
                                             "default open, in_progress and unanswered.")
FORMAT = typer.Option("table", "--format", "-f", help="table, csv, xlsx or json.")
OUT = typer.Option(None, "--out", "-o", help="Write to this file (xlsx needs it).")
AGENT = typer.Option(..., "--agent", "-a", help="The agent (site key) who takes or made the callback.")


def _open(site_file: Optional[Path]):
    """The site and its database, the list fed from the books first (as the service does)."""
    import logging

    from pbxctl.service.callback_desk import feed
    from pbxctl.service.logs import configure_logging
    from pbxctl.storage.db import database_url, engine_for

    # Only warnings go to stderr: stdout is the list (CSV, JSON) and the feed logs each entry.
    configure_logging("text")
    logging.getLogger("pbxctl").setLevel(logging.WARNING)
    loaded = load_site_or_fail(site_file)
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    fed = feed(loaded, engine)
    if fed.added or fed.closed:
        typer.echo(f"from the books: {fed.added} calls put on the list, {fed.closed} entries closed", err=True)
    return loaded, engine


def _run(work):
    from pbxctl.domain.callbacks import CallbackError

    try:
        return work()
    except CallbackError as exc:
        fail(str(exc))


def _write(docs: list[dict], fmt: str, out: Optional[Path], title: str) -> None:
    from rich.console import Console

    from pbxctl.service.callback_formats import FORMATS, to_csv, to_json, to_table, to_xlsx

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "xlsx" and out is None:
        fail("--format xlsx writes a file: give --out FILE.xlsx")
    if fmt == "table":
        import sys

        # Piped or written to a file, the table keeps every number whole.
        wide = out is not None or not sys.stdout.isatty()
        to_table(docs, Console(file=out.open("w") if out else None, width=200 if wide else None), title)
        return
    write_output({"csv": to_csv, "xlsx": to_xlsx, "json": to_json}[fmt](docs), out, f"{len(docs)} callbacks written ({fmt})")


def _listing(site_file, queue, status, fmt, out, everything: bool) -> None:
    from pbxctl.service.callback_desk import entry_document, listing

    loaded, engine = _open(site_file)
    statuses = list(status or (["all"] if everything else []))
    entries = _run(lambda: listing(loaded, engine, queue or [], statuses))
    _write([entry_document(e) for e in entries], fmt, out, f"callbacks ({', '.join(statuses) or 'pending'})")


@app.command("list")
def list_command(site_file: Optional[Path] = SITE, queue: Optional[list[str]] = QUEUE,
                 status: Optional[list[str]] = STATUS, fmt: str = FORMAT, out: Optional[Path] = OUT) -> None:
    """The list, customers who called first first: number, first and last call, times called, attempts, status."""
    _listing(site_file, queue, status, fmt, out, everything=False)


@app.command("export")
def export_command(site_file: Optional[Path] = SITE, queue: Optional[list[str]] = QUEUE,
                   status: Optional[list[str]] = STATUS,
                   fmt: str = typer.Option("csv", "--format", "-f", help="csv, xlsx or json."),
                   out: Optional[Path] = OUT) -> None:
    """Every entry (any status unless --status) as CSV, XLSX or JSON."""
    _listing(site_file, queue, status, fmt, out, everything=True)


@app.command("show")
def show_command(entry: int = typer.Argument(..., help="The callback's id."), site_file: Optional[Path] = SITE,
                 json_out: bool = typer.Option(False, "--json", help="Print the entry as JSON.")) -> None:
    """One entry with its attempts and the calls of the books it belongs to."""
    import json

    from pbxctl.service.callback_desk import entry_document, entry_or_fail

    loaded, engine = _open(site_file)
    doc = entry_document(_run(lambda: entry_or_fail(engine, entry)), engine)
    if json_out:
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    for key in ("id", "queue", "number", "status", "source", "first_call", "last_call", "times_called", "agent",
                "closed_by", "close_reason", "closed_at"):
        if doc.get(key) is not None:
            typer.echo(f"{key.replace('_', ' ')}: {doc[key]}")
    for a in doc["attempt_list"]:
        dialled = f" (dialled {a['dialled_at']}, answered {a['answered_at'] or '-'}, call {a['call_id']})" \
            if a["dialled_at"] else ""
        typer.echo(f"attempt {a['at']}: {a['result']}{' by ' + a['agent'] if a['agent'] else ''}{dialled}")
    for c in doc["calls"]:
        typer.echo(f"call {c['call_id']} ({c['node']}) {c['at']}: {c['kind']} in {c['queue']}")


@app.command("take")
def take_command(entry: Optional[int] = typer.Argument(None, help="The callback's id (default: the next open one "
                                                                   "of the agent's queues)."),
                 site_file: Optional[Path] = SITE, agent: str = AGENT) -> None:
    """An agent takes a callback: it is in progress, theirs, until they record the attempt."""
    from pbxctl.service.callback_desk import take_entry

    loaded, engine = _open(site_file)
    taken = _run(lambda: take_entry(loaded, engine, entry, agent))
    typer.echo(f"callback {taken.id}: {taken.number} ({taken.queue}, called {taken.times_called}x) taken by {agent}")


@app.command("attempt")
def attempt_command(entry: int = typer.Argument(..., help="The callback's id."), site_file: Optional[Path] = SITE,
                    result: str = typer.Option(..., "--result", "-r", help="answered, no_answer, busy, not_accepted, "
                                                                            "agent_gone, refused or failed."),
                    agent: Optional[str] = typer.Option(None, "--agent", "-a", help="Who called.")) -> None:
    """Record how a callback went (answered ends it; otherwise it is open again, or unanswered after the last attempt)."""
    from pbxctl.service.callback_desk import attempt_entry

    loaded, engine = _open(site_file)
    done = _run(lambda: attempt_entry(loaded, engine, entry, result, agent))
    typer.echo(f"callback {done.id}: {result}; now {done.status.value} ({len(done.attempts)} attempts)")


@app.command("close")
def close_command(entry: int = typer.Argument(..., help="The callback's id."), site_file: Optional[Path] = SITE,
                  by: str = typer.Option(..., "--by", help="Who closes it."),
                  why: str = typer.Option(..., "--why", help="Why (kept with the entry).")) -> None:
    """Close an entry by hand, saying who and why."""
    from pbxctl.service.callback_desk import close_entry

    loaded, engine = _open(site_file)
    done = _run(lambda: close_entry(loaded, engine, entry, by, why))
    typer.echo(f"callback {done.id} closed by {by}: {why}")
