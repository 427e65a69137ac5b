"""`pbxctl books resum` (books/resum.py): the quarter-hour sums counted again with the
site's thresholds now. A hand-made queue_log ingested with the default thresholds, the
site's changed: the queue report reads the stints; after a resum it reads the sums again
and its document is the stints path's, exactly. A second resum changes nothing, a window
or a node recounts only its quarters, an ingestor writing while resums run loses and
doubles nothing, and bad input is refused naming the option. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from books_day import at
from books_db import books_url  # noqa: F401 - fixture
from books_sums import assert_sums_agree, generated, stored
from pbxctl.books import resum
from pbxctl.books.assembler import Assembler, WrapupTable
from pbxctl.books.calls import Call, QueueStint
from pbxctl.books.callback_tally import tally_callbacks, with_callbacks
from pbxctl.books.ingest import Ingestor, import_file
from pbxctl.books.quarter_sums import Thresholds
from pbxctl.books.queue_report import queue_report
from pbxctl.books.report_request import ReportRequest, build_document
from pbxctl.books.report_source import tally_quarters, tally_scan
from pbxctl.books.report_window import make_window
from pbxctl.books.site_view import thresholds_of
from pbxctl.books.store import BatchWriter, write_batch
from pbxctl.cli import app
from pbxctl.site.load import load_site
from pbxctl.storage.db import new_engine

BOOKS_SITE = Path(__file__).parent / "sites" / "books.yaml"  # support 20 s, sales 30 s, short abandon 5 s
QUEUES = ["sales", "support"]
runner = CliRunner()


def call(callid: str, queue: str, entered: int, wait: int, agent: str | None = None, talk: int = 0) -> str:
    """One caller's lines: answered by `agent` after `wait` s and talking `talk` s, or abandoned."""
    lines = [f"{entered}|{callid}|{queue}|NONE|PBXCTLCALLER|4790000{callid[-3:]}|Caller",
             f"{entered}|{callid}|{queue}|NONE|ENTERQUEUE||4790000{callid[-3:]}|1"]
    if agent is None:
        lines.append(f"{entered + wait}|{callid}|{queue}|NONE|ABANDON|1|1|{wait}")
    else:
        lines.append(f"{entered + wait}|{callid}|{queue}|{agent}|CONNECT|{wait}|{callid}.1|2")
        lines.append(f"{entered + wait + talk}|{callid}|{queue}|{agent}|COMPLETECALLER|{wait}|{talk}|1")
    return "\n".join(lines) + "\n"


# Tuesday 2026-11-10, Europe/Oslo (the sites' hours): waits on both sides of each threshold used.
CALLS = [
    call("c001", "support", at(10, "09:00"), 5, "Alice", 60),
    call("c002", "support", at(10, "09:20"), 25, "Bob", 100),
    call("c003", "support", at(10, "09:40"), 3),
    call("c004", "support", at(10, "10:05"), 6),
    call("c005", "support", at(10, "10:20"), 35, "Alice", 30),
    call("c006", "sales", at(10, "10:40"), 22, "Bob", 40),
    call("c007", "sales", at(10, "11:10"), 12),
    call("c008", "support", at(10, "11:50"), 9, "Alice", 20),
]
LATER = at(10, "12:00")  # quiet until here: every call above is over


def site_with(tmp_path: Path, name: str, support: int, sales: int, short: int) -> Path:
    """tests/sites/books.yaml with other service levels and short-abandon threshold."""
    body = BOOKS_SITE.read_text()
    body = body.replace("    service_level: 20\n", "    service_level: SUPPORT\n", 1)
    body = body.replace("    service_level: 30\n", f"    service_level: {sales}\n", 1)
    body = body.replace("SUPPORT", str(support))
    body += f"reports:\n  short_abandon: {short}\n"
    path = tmp_path / f"{name}.yaml"
    path.write_text(body)
    assert thresholds_of(load_site(path).site) == Thresholds({"support": support, "sales": sales}, short)
    return path


def ingest(engine, tmp_path: Path, nodes=("pbx1", "pbx2"), thresholds: Thresholds = Thresholds()) -> None:
    log = tmp_path / "queue_log"
    log.write_text("".join(CALLS) + f"{LATER}|z|support|NONE|ENTERQUEUE||4790000999|1\n"
                   f"{LATER + 1}|z|support|NONE|ABANDON|1|1|1\n")
    for node in nodes:
        stats = import_file(log, Ingestor(BatchWriter(engine, node, thresholds=thresholds), Assembler(), batch_lines=7))
        assert stats.calls >= len(CALLS)


def documents(engine, site_file: Path, start="2026-11-10", end=None):
    """(the report from the sums or None when they cannot answer, the report from the
    stints, the report `pbxctl report queues` makes) over the window."""
    site = load_site(site_file).site
    th = thresholds_of(site)
    sl, short = dict(th.service_levels), th.short_abandon
    window = make_window(start, end, "Europe/Oslo", "day")
    callbacks = tally_callbacks(engine, window, QUEUES)

    def doc(tallies):
        return with_callbacks(queue_report(tallies, window, QUEUES, sl, short, 80.0), callbacks, window)

    quarters = tally_quarters(engine, window, QUEUES, sl, short)
    made = build_document(engine, site, ReportRequest("queues", start, end, "day", list(QUEUES)))
    return (None if quarters is None else doc(quarters)), doc(tally_scan(engine, window, QUEUES, sl, short)), made


def resum_cli(url: str, site_file: Path, *args: str):
    return runner.invoke(app, ["books", "resum", "-s", str(site_file), "--db", url, *args])


def sum_rows(engine, node: str | None = None) -> dict[tuple, tuple]:
    """Every sum row of both tables, by table and key (node filter optional)."""
    out = {}
    with engine.connect() as conn:
        for table, keys in (("books_queue_quarters", 8), ("books_leg_quarters", 3)):
            for row in conn.execute(text(f"SELECT * FROM {table}")).mappings():
                values = tuple(row.values())
                if node is None or row["node"] == node:
                    out[(table, *values[:keys])] = values[keys:]
    return out


def quarter_of(row_key: tuple) -> int:
    return row_key[1]


def test_a_resum_makes_the_report_read_the_sums_again_and_equal_the_stints(books_url, tmp_path):
    engine = new_engine(books_url)
    ingest(engine, tmp_path)  # as `books import` without --site: 20 s, 5 s
    assert_sums_agree(engine, Thresholds())
    changed = site_with(tmp_path, "changed", support=30, sales=25, short=8)
    sums, scan, made = documents(engine, changed)
    assert sums is None and made == scan  # other thresholds than counted with: the stints path
    support = next(r for r in scan["totals"] if r["queue"] == "support")
    assert support["offered"] == 2 * 6 + 2  # two nodes, and the closing caller of each

    done = resum_cli(books_url, changed)
    assert done.exit_code == 0, done.output
    assert "service levels sales 25 s, support 30 s and short abandons under 8 s" in done.output
    for node in ("pbx1", "pbx2"):
        # c001..c008 and the closing caller: 9 stints in 9 quarters, 5 legs
        assert f"{node}: 9 quarters, 9 stints, 5 legs recounted" in done.output
    assert_sums_agree(engine, thresholds_of(load_site(changed).site))
    sums, scan, made = documents(engine, changed)
    assert sums is not None, "the report still reads the stints"
    assert sums == scan == made
    assert support["offered"] == next(r for r in sums["totals"] if r["queue"] == "support")["offered"]
    with engine.connect() as conn:
        counted = set(conn.execute(text("SELECT DISTINCT sl_seconds, short_seconds, queue "
                                        "FROM books_queue_quarters")).fetchall())
    assert counted == {(30, 8, "support"), (25, 8, "sales")}

    once = stored(engine), sum_rows(engine)
    again = resum_cli(books_url, changed)
    assert again.exit_code == 0 and (stored(engine), sum_rows(engine)) == once
    counts = re.compile(r"; \d+ old sum rows replaced")
    assert counts.sub("", again.output) == counts.sub("", done.output)
    # the thresholds of before (20 s / 30 s / 5 s) are not the sums' any more: the stints path
    assert documents(engine, BOOKS_SITE)[0] is None


def test_a_window_or_a_node_recounts_only_its_quarters(books_url, tmp_path):
    engine = new_engine(books_url)
    ingest(engine, tmp_path)
    first = site_with(tmp_path, "first", support=30, sales=25, short=8)
    assert resum_cli(books_url, first).exit_code == 0
    before = sum_rows(engine)
    second = site_with(tmp_path, "second", support=10, sales=20, short=2)
    done = resum_cli(books_url, second, "--from", "2026-11-10 10:00", "--to", "2026-11-10 11:00")
    assert done.exit_code == 0, done.output
    # c004 (10:05), c005 (10:20), c006 (10:40): 3 stints, 2 legs in 3 quarters, on each node
    assert "pbx1: 3 quarters, 3 stints, 2 legs recounted" in done.output
    assert "pbx2: 3 quarters, 3 stints, 2 legs recounted" in done.output
    lo, hi = at(10, "10:00"), at(10, "11:00")
    after = sum_rows(engine)
    inside = {k: v for k, v in after.items() if lo <= quarter_of(k) < hi}
    outside = {k: v for k, v in after.items() if not lo <= quarter_of(k) < hi}
    assert outside == {k: v for k, v in before.items() if not lo <= quarter_of(k) < hi}
    assert inside and {(k[7], k[8]) for k in inside if k[0] == "books_queue_quarters"} <= {(10, 2), (20, 2)}
    assert {k[1] for k in inside} == {at(10, "10:00"), at(10, "10:15"), at(10, "10:30")}
    # the window's report reads the new sums and is the stints'; the day's, mixed, reads the stints
    sums, scan, made = documents(engine, second, "2026-11-10 10:00", "2026-11-10 11:00")
    assert sums is not None and sums == scan == made
    sums, scan, made = documents(engine, second)
    assert sums is None and made == scan

    # one node: the other's sums stay as they are
    before = sum_rows(engine)
    done = resum_cli(books_url, second, "--node", "pbx2")
    assert done.exit_code == 0, done.output
    assert "pbx2: 9 quarters, 9 stints, 5 legs recounted" in done.output and "pbx1:" not in done.output
    assert sum_rows(engine, "pbx1") == {k: v for k, v in before.items() if k[3] == "pbx1"}
    assert sum_rows(engine, "pbx2") != {k: v for k, v in before.items() if k[3] == "pbx2"}


def test_sums_written_in_pieces_are_the_sums_written_at_once(books_url, tmp_path, monkeypatch):
    engine = new_engine(books_url)
    ingest(engine, tmp_path, nodes=("pbx1",))
    th = Thresholds({"support": 30, "sales": 25}, 8)
    [whole] = resum.recount(engine, th, ["pbx1"])
    at_once = sum_rows(engine)
    monkeypatch.setattr(resum, "FLUSH_GROUPS", 1)
    monkeypatch.setattr(resum, "_ROWS", 2)
    [pieces] = resum.recount(engine, th, ["pbx1"])
    assert sum_rows(engine) == at_once and pieces == whole
    assert_sums_agree(engine, th)


def test_an_ingestor_writing_while_resums_run_loses_and_doubles_nothing(books_url, tmp_path):
    """Small batches (with cut wrap-ups lowered a batch later and entries arriving late)
    written by one thread while another recounts the same node again and again."""
    log = generated(tmp_path, 600, seed=7)
    engine = new_engine(books_url)
    th = Thresholds({"support": 20, "sales": 30, "billing": 15, "tech": 60}, 5)
    failed: list[BaseException] = []

    def write() -> None:
        try:
            import_file(log, Ingestor(BatchWriter(engine, "n1", thresholds=th),
                                      Assembler(wrapup_of=WrapupTable(default=15)), batch_lines=60))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    recounts = 0
    while writer.is_alive() or recounts < 2:
        resum.recount(engine, th, ["n1"])
        recounts += 1
    writer.join()
    assert not failed, failed
    assert recounts >= 2
    assert_sums_agree(engine, th)


def abandoned(callid: str, entered: int, wait: int) -> Call:
    call = Call(callid, entered, entered + wait, "4790000500", "Caller")
    call.stints.append(QueueStint("support", entered, entered + wait, "abandoned", wait_seconds=wait))
    return call


def test_a_resum_waits_for_a_batch_in_flight_and_counts_it_once(books_url, tmp_path):
    """A batch that adds to a sum row already there and makes a new one, not committed
    yet when the resum starts: the resum waits for it (PostgreSQL: the node's sums lock;
    SQLite: the write lock), then counts its stints once. Without the lock, PostgreSQL's
    resum would delete the updated row but not the new one it could not see, then add the
    batch's stints to the new one again."""
    engine = new_engine(books_url)
    ingest(engine, tmp_path, nodes=("pbx1",))
    th = Thresholds({"support": 30, "sales": 25}, 8)
    resum.recount(engine, th, ["pbx1"])
    conn = engine.connect()
    batch = conn.begin()
    # c003's group (support, 09:30, abandoned) and a new one (13:00)
    write_batch(conn, "pbx1", [abandoned("x1", at(10, "09:41"), 3), abandoned("x2", at(10, "13:00"), 3)], [], [],
                None, thresholds=th)
    done: list = []
    recounting = threading.Thread(target=lambda: done.append(resum.recount(engine, th, ["pbx1"])))
    recounting.start()
    time.sleep(1.0)
    assert recounting.is_alive() and not done  # waiting for the batch
    batch.commit()
    conn.close()
    recounting.join(60)
    assert done and done[0][0].stints == 11
    assert_sums_agree(engine, th)
    sums, scan, made = documents(engine, site_with(tmp_path, "th", support=30, sales=25, short=8))
    assert sums is not None and sums == scan == made


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2026-11-10", "--to", "2026-11-01"], "--from 2026-11-10 is not before --to 2026-11-01"),
        (["--to", "2026-11-10"], "--to 2026-11-10 needs --from"),
        (["--from", "10.11.2026"], "--from '10.11.2026' is not a date like 2026-12-01"),
        (["--from", "2026-11-10", "--hours", "night"], "unknown hours set 'night' (known: office)"),
        (["--hours", "office"], "--hours office names the timezone of --from/--to: give --from"),
        (["--node", "pbx9"], "--node 'pbx9' has no books (nodes in the books: pbx1, pbx2)"),
    ],
)
def test_the_cli_refuses_bad_input_naming_the_option(tmp_path, args, message):
    url = f"sqlite:///{tmp_path / 'books.db'}"
    engine = new_engine(url)
    ingest(engine, tmp_path)
    before = sum_rows(engine)
    done = resum_cli(url, BOOKS_SITE, *args)
    assert done.exit_code == 1, done.output
    assert f"pbxctl: {message}" in done.output
    assert sum_rows(engine) == before


def test_the_cli_refuses_empty_books_and_a_missing_site(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = resum_cli(url, BOOKS_SITE)
    assert done.exit_code == 1
    assert "pbxctl: no books in the database: no stints, legs or sums to recount" in done.output
    done = runner.invoke(app, ["books", "resum", "--db", url], env={"PBXCTL_SITE": ""})
    assert done.exit_code == 1
    assert re.search(r"pbxctl: give -s SITE\.yaml: the sums are recounted with its queues' service_level",
                     done.output)
