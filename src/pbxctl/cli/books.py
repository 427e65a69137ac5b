"""`pbxctl books import`: a historical queue_log (and CDR file) into the books; `books resum`:
the quarter-hour sums counted again with the site's thresholds now."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import SITE, fail, load_site_or_fail

app = typer.Typer(name="books", help="The books: the PBX's queue_log and CDR in the database.", no_args_is_help=True)


def _books_target(site_file: Path | None, database: str | None, node: str | None):
    """(engine, node, site or None) from the options, the site and the environment."""
    from pbxctl.books.site_view import node_name

    site = load_site_or_fail(site_file).site if site_file is not None else None
    return _books_engine(site, database), node_name(site, node), site


def _books_engine(site, database: str | None):
    """The engine of --db, else the site's storage.url, else PBXCTL_DATABASE_URL."""
    import os

    from pbxctl.storage.db import database_url, engine_for

    if database is None:
        if site is not None:
            database = database_url(site.site, site.storage.url)
        else:
            database = os.environ.get("PBXCTL_DATABASE_URL")
            if not database:
                fail("no database: give -s SITE.yaml (storage.url), --db URL or PBXCTL_DATABASE_URL")
    return engine_for(database)


@app.command("import")
def import_books(
    queue_log: Path = typer.Argument(..., exists=True, dir_okay=False, help="A queue_log file."),
    cdr: Optional[Path] = typer.Option(None, "--cdr", exists=True, dir_okay=False, help="A CDR file (cdr_custom pbxctl.csv or cdr_csv Master.csv)."),
    site_file: Optional[Path] = SITE,
    database: Optional[str] = typer.Option(None, "--db", help="Database URL (default: the site's storage.url)."),
    node: Optional[str] = typer.Option(None, "--node", help="Node name (default: storage.node, else the host name)."),
) -> None:
    """Ingest a historical QUEUE_LOG (and --cdr FILE). Lines already in the books change
    nothing; lines that are not facts are counted, kept in books_rejects and listed. The
    site (optional) gives the database, the node name, agents' names and wrap-up."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from pbxctl.books.assembler import Assembler
    from pbxctl.books.ingest import Ingestor, import_file
    from pbxctl.asterisk.member_actions import agent_by_interface
    from pbxctl.books.quarter_sums import Thresholds
    from pbxctl.books.site_view import agent_of, thresholds_of, wrapup_of
    from pbxctl.books.store import BatchWriter, StoreFailed

    engine, node_name, site = _books_target(site_file, database, node)
    assembler = Assembler(agent_of(site, agent_by_interface(site)), wrapup_of(site)) if site is not None else Assembler()
    writer = BatchWriter(engine, node_name, thresholds=thresholds_of(site) if site is not None else Thresholds())
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(queue_log.name, total=queue_log.stat().st_size)
            stats = import_file(queue_log, Ingestor(writer, assembler), lambda done: progress.update(task, completed=done))
            cdr_stats = None
            if cdr is not None:
                from pbxctl.books.cdr import import_cdr

                task = progress.add_task(cdr.name, total=cdr.stat().st_size)
                cdr_stats = import_cdr(cdr, engine, node_name, lambda done: progress.update(task, completed=done))
    except StoreFailed as exc:
        fail(f"{exc} (nothing after the last stored batch was lost: run the import again)")
    typer.echo(
        f"{queue_log}: {stats.lines} lines, {stats.calls} calls, {stats.agent_events} agent events, "
        f"{stats.ignored} ignored, {stats.rejected_total} rejected, {stats.still_open} calls still open at the end "
        f"(node {node_name})"
    )
    for reason, count in stats.rejected.most_common():
        typer.echo(f"  rejected: {count} x {reason}")
    for example in stats.examples[:10]:
        typer.echo(f"  {example}")
    if cdr_stats is not None:
        typer.echo(f"{cdr}: {cdr_stats.records} records, {cdr_stats.rejected_total} rejected")
        for example in cdr_stats.examples[:10]:
            typer.echo(f"  {example}")


@app.command("import-freeswitch")
def import_freeswitch(
    cdr: Path = typer.Argument(..., exists=True, dir_okay=False, help="mod_cdr_csv's file in pbxctl's template (Master.csv)."),
    site_file: Optional[Path] = SITE,
    database: Optional[str] = typer.Option(None, "--db", help="Database URL (default: the site's storage.url)."),
    node: Optional[str] = typer.Option(None, "--node", help="Node name (default: storage.node, else the host name)."),
) -> None:
    """Ingest a FreeSWITCH CDR file (mod_callcenter's cc_* variables) into the books: the
    same tables and reports as Asterisk's queue_log. Records already in the books change
    nothing; records that are not pbxctl's template are kept in books_rejects and listed."""
    from pbxctl.books.site_view import thresholds_of
    from pbxctl.books.store import BatchWriter, StoreFailed
    from pbxctl.freeswitch.cdr import CdrAssembler, queue_mapping
    from pbxctl.freeswitch.cdr_follower import CdrFollower
    from pbxctl.render.freeswitch import agent_wrapup

    engine, node_name, site = _books_target(site_file, database, node)
    if site is None:
        fail("give -s SITE.yaml: the site names the queue domain and the agents' wrap-up")
    assembler = CdrAssembler(queue_mapping(site.pbx.freeswitch.queue_domain), lambda agent: agent,
                             lambda agent: agent_wrapup(site, agent) if agent in site.agents else None)
    follower = CdrFollower(cdr, BatchWriter(engine, node_name, thresholds=thresholds_of(site)), node_name, assembler)
    try:
        follower.start(engine)
        follower.poll()
    except StoreFailed as exc:
        fail(f"{exc} (nothing after the last stored batch was lost: run the import again)")
    stats = follower.stats
    typer.echo(f"{cdr}: {stats.lines} records, {stats.calls} queue calls, {sum(stats.rejected.values())} rejected "
               f"(node {node_name})")
    for reason, count in stats.rejected.most_common():
        typer.echo(f"  rejected: {count} x {reason}")
    for example in stats.examples[:10]:
        typer.echo(f"  {example}")


@app.command("resum")
def resum_books(
    site_file: Optional[Path] = SITE,
    database: Optional[str] = typer.Option(None, "--db", help="Database URL (default: the site's storage.url)."),
    node: Optional[str] = typer.Option(None, "--node", help="Only this node's sums (default: every node in the books)."),
    start: Optional[str] = typer.Option(None, "--from", help="First day (or day and time) to recount, local: 2026-12-01 or '2026-12-01 08:00' (default: all the books)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last day (included) or end time (excluded); default: one day after --from."),
    hours: Optional[str] = typer.Option(None, "--hours", help="Hours set whose timezone --from/--to are in (default: the site's only one, else UTC)."),
) -> None:
    """Count the quarter-hour sums the queue report reads again from the stored stints and
    legs, with the site's thresholds now (each queue's service_level, reports.short_abandon):
    after changing them, or after an upgrade from before migration 0007 on a site with other
    thresholds than 20 s / 5 s. The recounted quarters' old sums are replaced, one
    transaction per node; a running ingestor waits for it (or it for the ingestor)."""
    from pbxctl.books.report_request import report_timezone
    from pbxctl.books.report_window import ReportError, make_window
    from pbxctl.books.resum import books_nodes, quarters_of, recount
    from pbxctl.books.site_view import thresholds_of

    if site_file is None:
        fail("give -s SITE.yaml: the sums are recounted with its queues' service_level and reports.short_abandon")
    site = load_site_or_fail(site_file).site
    quarters = None
    if start is None and end is not None:
        fail(f"--to {end} needs --from (without either, every quarter of the books is recounted)")
    if start is not None:
        try:
            window = make_window(start, end, report_timezone(site, hours))
        except ReportError as exc:
            fail(str(exc))
        quarters = quarters_of(window.start_epoch, window.end_epoch)
    elif hours is not None:
        fail(f"--hours {hours} names the timezone of --from/--to: give --from")
    engine = _books_engine(site, database)
    nodes = books_nodes(engine)
    if not nodes:
        fail("no books in the database: no stints, legs or sums to recount (import or ingest a queue_log first)")
    if node is not None:
        if node not in nodes:
            fail(f"--node {node!r} has no books (nodes in the books: {', '.join(nodes)})")
        nodes = [node]
    thresholds = thresholds_of(site)
    levels = ", ".join(f"{q} {s} s" for q, s in sorted(thresholds.service_levels.items())) or "none"
    if quarters is None:
        span = "every quarter hour"
    else:
        span = f"the quarter hours from {window.start.isoformat()} to {window.end.isoformat()}"
    typer.echo(f"recounting {span} with service levels {levels} and short abandons under "
               f"{thresholds.short_abandon} s")
    for done in recount(engine, thresholds, nodes, quarters):
        typer.echo(f"{done.node}: {done.quarters} quarters, {done.stints} stints, {done.legs} legs recounted "
                   f"({done.stint_sums} stint sums, {done.leg_sums} leg sums; {done.removed} old sum rows replaced)")
