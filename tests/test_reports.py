"""The reports over a hand-made day of books (tests/books_day.py): the queue report's
counts and rates, SQL tallies equal to the Python ones, the agent report, the call log
tree and its search, windows across DST, and the CLI's formats and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from books_day import CASES, NODE, at, write_books
from pbxctl.books.assembler import Assembler
from pbxctl.books.ingest import Ingestor, import_file
from pbxctl.books.store import BatchWriter
from pbxctl.books.agent_report import agent_report
from pbxctl.books.call_log import CallSearch, call_log
from pbxctl.books.callback_tally import tally_callbacks, with_callbacks
from pbxctl.books.queue_report import ALL_QUEUES, queue_report
from pbxctl.books.queue_tally import tally_rows
from pbxctl.books.report_request import ReportRequest, build_document
from pbxctl.books.report_rows import AgentSpan
from pbxctl.books.report_source import load_books, load_spans, tally_books
from pbxctl.books.report_window import ReportError, make_window
from pbxctl.cli import app
from pbxctl.site.load import load_site

SITE = Path(__file__).parent / "sites" / "books.yaml"
SL = {"support": 20, "sales": 30}
runner = CliRunner()


@pytest.fixture
def engine(tmp_path):
    return write_books(f"sqlite:///{tmp_path / 'books.db'}")


def day_window(interval="day", **kw):
    return make_window("2026-11-10", None, "Europe/Oslo", interval, **kw)


def report(engine, window, queues=("support", "sales"), short=5):
    tallies = tally_books(engine, window, list(queues), SL, short)
    doc = queue_report(tallies, window, list(queues), SL, short, 80.0)
    return with_callbacks(doc, tally_callbacks(engine, window, list(queues)), window)


def total(doc, queue):
    return next(r for r in doc["totals"] if r["queue"] == queue)


def test_queue_report_counts_each_case_once(engine):
    doc = report(engine, day_window())
    support = total(doc, "support")
    # c1..c6 entered support; c7 was refused at the door; c10 is the next day.
    assert support["offered"] == 6 and support["refused"] == 1
    assert (support["answered"], support["answered_in_sl"]) == (2, 1)            # c1 in 5 s, c2 in 25 s > 20
    assert (support["abandoned"], support["short_abandoned"]) == (2, 1)          # c3 after 3 s < 5, c4 after 40
    assert (support["timed_out"], support["exit_empty"]) == (1, 1)               # c5, c6
    assert support["overflow_to"] == {"queue:sales": 2, "voicemail:100": 1}      # c5, c7 / c6
    assert support["callbacks_requested"] == 1                                    # c6
    assert support["service_level_pct"] == round(100 * 1 / (6 - 1), 1)
    assert support["asterisk_sl_pct"] == 50.0                                     # 1 of 2 answered
    # SL2: answered in SL (c1) + given up within 20 s (c3 after 3 s, c6 after 8 s) over 2 + 4
    assert support["asterisk_sl2_pct"] == 50.0
    assert support["avg_wait"] == round((5 + 25 + 3 + 40 + 60 + 8) / 6, 1)
    assert support["longest_wait"] == 60
    assert (support["avg_talk"], support["avg_wrapup"]) == (80.0, 10.0)
    assert support["entry_paths"] == {"22334455": 5, "22334466": 1}
    assert support["exit_paths"]["timed_out -> queue:sales"] == 1

    sales = total(doc, "sales")
    assert (sales["offered"], sales["answered"], sales["answered_in_sl"], sales["abandoned"]) == (4, 3, 3, 1)
    assert sales["overflow_in"] == 2 and sales["callers"] == 2                   # c5 and c7 came from support
    assert sales["service_level_pct"] == 75.0
    assert sales["avg_talk"] == round((30 + 50 + 20) / 3, 1)
    # c8's 15 s wrap-up ends when bob takes c9 five seconds after hanging up
    assert sales["avg_wrapup"] == round((15 + 5 + 15) / 3, 1)

    every = total(doc, ALL_QUEUES)
    assert every["offered"] == 10 and every["overflow_in"] == 2 and every["callers"] == 8
    assert doc["wait_distribution"]["answered"][:2] == [3, 1]                     # c1, c8, c9 < 10 s; c5 10 s
    assert sum(doc["wait_distribution"]["answered"]) + sum(doc["wait_distribution"]["unanswered"]) == 10


@pytest.mark.parametrize("interval, tz, weekdays, time_of_day", [
    ("hour", "Europe/Oslo", None, None), ("day", "America/St_Johns", None, None),  # a -3:30 offset
    ("week", "Asia/Kolkata", "mon-fri", "13:45-16:15"), ("month", "UTC", "tue", None),
])
def test_sql_tallies_equal_the_python_ones(engine, interval, tz, weekdays, time_of_day):
    window = make_window("2026-11-09", "2026-11-11", tz, interval, weekdays, time_of_day)
    books = load_books(engine, make_window("2026-11-08", "2026-11-12", "UTC"))
    queues = ["support", "sales"]
    sql = tally_books(engine, window, queues, SL, 5)
    assert sql and sql == tally_rows(books.stints, books.legs, books.events, window, SL, 5)


def test_intervals_and_filters(engine):
    hourly = report(engine, day_window("hour"))
    assert len({r["interval"] for r in hourly["rows"]}) == 24
    nine = next(r for r in hourly["rows"] if r["interval"] == "2026-11-10 09:00" and r["queue"] == "support")
    assert nine["offered"] == 4                                                   # c1..c4
    morning = report(engine, day_window(time_of_day="09:00-10:00"))
    assert total(morning, "support")["offered"] == 4
    assert total(report(engine, day_window(time_of_day="09:05-09:25")), "support")["offered"] == 2  # c2, c3
    assert total(morning, "sales")["offered"] == 0
    weekend = report(engine, day_window(weekdays="sat,sun"))
    assert total(weekend, ALL_QUEUES)["offered"] == 0
    two_days = report(engine, make_window("2026-11-10", "2026-11-11", "Europe/Oslo", "day"), ["support"])
    assert [r["offered"] for r in two_days["rows"] if r["queue"] == "support"] == [6, 1]
    # The short-abandon threshold moves c3 and c4 in and out of the SL's denominator.
    assert total(report(engine, day_window(), short=0), "support")["service_level_pct"] == round(100 / 6, 1)
    assert total(report(engine, day_window(), short=60), "support")["service_level_pct"] == 25.0


def test_windows_follow_the_local_calendar():
    autumn = make_window("2026-10-25", None, "Europe/Oslo", "hour")
    assert len(autumn.buckets()) == 24                      # DST ends: 02:00-03:00 twice, one local-hour bucket
    assert autumn.bucket_of(autumn.start_epoch + 2 * 3600) == autumn.bucket_of(autumn.start_epoch + 3 * 3600)
    assert len(make_window("2026-03-29", None, "Europe/Oslo", "hour").buckets()) == 23
    assert make_window("2026-11-01", "2026-11-30", "Europe/Oslo", "week").buckets()[0] == "2026-W44"
    assert make_window("2026-11-01", "2026-12-31", "Europe/Oslo", "month").buckets() == ["2026-11", "2026-12"]
    with pytest.raises(ReportError, match="is not before"):
        make_window("2026-11-10", "2026-11-09", "Europe/Oslo")
    with pytest.raises(ReportError, match="is not a date"):
        make_window("10.11.2026", None, "Europe/Oslo")


def test_agent_report(engine):
    window = day_window()
    books = load_books(engine, window)
    spans = load_spans(engine, window)
    assert AgentSpan("bob", at(10, "00:00"), at(10, "02:00"), "sales") in spans  # clipped at the window's start
    doc = agent_report(["alice", "bob"], window, spans, books.rings, books.legs, books.events)
    alice, bob = doc["rows"]
    assert alice["login_time"] == 8 * 3600                                        # 08:00-16:00: union over queues
    assert alice["pause_by_reason"] == {"": 300, "lunch": 20 * 60}
    assert (alice["rung"], alice["answered"], alice["not_answered"]) == (3, 2, 1)  # c1, c2 (no answer), c5
    assert alice["avg_ring_before_answer"] == round((5 + 4) / 2, 1)
    assert alice["avg_handling"] == round((60 + 10 + 30 + 15) / 2, 1)
    assert bob["login_time"] == 2 * 3600
    assert (bob["transfers"], bob["conferences"], bob["help_requests"]) == (1, 1, 1)
    assert bob["avg_handling"] == round((100 + 10 + 50 + 5 + 20 + 15) / 3, 1)


def test_static_members_are_logged_in_from_the_window_or_the_pbx_start(engine, tmp_path):
    static_site = tmp_path / "static.yaml"                                         # alice: support and sales
    static_site.write_text(SITE.read_text().replace('"7001", login: dynamic', '"7001", login: static'))
    site = load_site(static_site).site
    assert site.agents["alice"].login == "static"
    window = day_window()
    request = ReportRequest("agents", "2026-11-10", agents=["alice", "bob"])
    alice, bob = build_document(engine, site, request)["rows"]
    assert alice["login_time"] == window.end_epoch - window.start_epoch           # no PBX start in the books
    assert bob["login_time"] == 2 * 3600                                          # dynamic: ADDMEMBER..REMOVEMEMBER
    assert alice["pause_by_reason"] == {"": 300, "lunch": 20 * 60}                # pauses count as before
    # The books know the PBX started at 07:30 that day (queue_log's QUEUESTART): from then on.
    import_file(_queue_start(tmp_path, at(10, "07:30")), Ingestor(BatchWriter(engine, NODE), Assembler()))
    alice, _ = build_document(engine, site, request)["rows"]
    assert alice["login_time"] == window.end_epoch - at(10, "07:30")
    static = {"alice": ["sales", "support"]}
    assert load_spans(engine, make_window("2026-11-11", None, "Europe/Oslo"), static_members=static)[-1].start == \
        at(11, "00:00")                                                           # the next day: started before it


def _queue_start(tmp_path, when: int):
    log = tmp_path / "queue_log"
    log.write_text(f"{when}|NONE|NONE|NONE|QUEUESTART|\n")
    return log


def test_callback_outcomes_count_in_the_queue_and_interval_of_the_request(engine):
    # books_day.CALLBACK_RESULTS: c3 (09:20) answered 09:49:40 after a dial at 09:49:30; c4
    # (09:30) tried 09:59:35 and 10:19:50, unanswered after its last; c6's IVR request and
    # c7 (sales) wait
    support, sales = total(report(engine, day_window()), "support"), total(report(engine, day_window()), "sales")
    assert (support["callbacks_listed"], support["callbacks_completed"], support["callbacks_failed"]) == (3, 1, 1)
    assert support["callbacks_requested"] == 1                                        # the IVR's, as before
    assert support["avg_time_to_callback"] == ((at(10, "09:49", 30) - at(10, "09:20"))
                                               + (at(10, "09:59", 35) - at(10, "09:30"))) / 2
    assert support["avg_time_to_answered_callback"] == at(10, "09:49", 40) - at(10, "09:20")
    assert (sales["callbacks_listed"], sales["callbacks_completed"], sales["avg_time_to_callback"]) == (1, 0, None)
    hourly = report(engine, day_window("hour"))
    nine = next(r for r in hourly["rows"] if r["queue"] == "support" and r["interval"].endswith("09:00"))
    eleven = next(r for r in hourly["rows"] if r["queue"] == "support" and r["interval"].endswith("11:00"))
    # counted when the customers called (09:20, 09:30; c6 at 11:00), not when called back
    assert (nine["callbacks_listed"], nine["callbacks_completed"], eleven["callbacks_listed"]) == (2, 1, 1)
    assert total(hourly, ALL_QUEUES)["callbacks_listed"] == 4
    # filters look at the request too: 09:25-10:30 holds only c4's
    late = total(report(engine, day_window(time_of_day="09:25-10:30")), "support")
    assert (late["callbacks_listed"], late["callbacks_failed"], late["callbacks_completed"]) == (1, 1, 0)
    log = call_log(load_books(engine, day_window()), day_window())
    c3 = next(c for c in log["calls"] if c["call_id"] == "c3")
    # the callback call is linked from the customer's call (its uniqueid), beside the stint
    assert [n["kind"] for n in c3["children"]] == ["stint", "callback_attempt"]
    attempt = c3["children"][1]
    assert (attempt["agent"], attempt["target"], attempt["at"]) == ("alice", "cb-1", "2026-11-10T09:50:00+01:00")
    assert attempt["detail"].startswith("callback 1: answered (ANSWER")
    c4 = next(c for c in log["calls"] if c["call_id"] == "c4")
    assert [n["detail"].split(" (")[0] for n in c4["children"][1:]] == ["callback 2: no_answer", "callback 2: busy"]


def test_call_log_tree_and_search(engine):
    window = day_window()
    books = load_books(engine, window)
    log = call_log(books, window)
    assert [c["call_id"] for c in log["calls"]] == [c.callid for c in CASES if c.callid != "c10"]
    c5 = next(c for c in log["calls"] if c["call_id"] == "c5")
    assert [(s["queue"], s["outcome"], s["exit_to"]) for s in c5["children"]] == [
        ("support", "timed_out", "queue:sales"), ("sales", "answered", None)]
    assert [n["kind"] for n in c5["children"][1]["children"]] == ["ring", "talk"]
    assert c5["ivr_path"] == "main:menu=2" and c5["outcome"] == "answered"
    assert c5["started_at"] == "2026-11-10T10:00:00+01:00"
    c8 = next(c for c in log["calls"] if c["call_id"] == "c8")
    assert [n["kind"] for n in c8["children"][0]["children"]] == ["ring", "talk", "help", "conference"]
    assert [c["call_id"] for c in call_log(books, window, CallSearch(number="22000007"))["calls"]] == ["c7"]
    assert [c["call_id"] for c in call_log(books, window, CallSearch(agent="bob"))["calls"]] == ["c2", "c8", "c9"]
    assert {c["call_id"] for c in call_log(books, window, CallSearch(queue="sales"))["calls"]} == {"c5", "c7", "c8", "c9"}
    assert [c["call_id"] for c in call_log(books, make_window("2026-11-10 09:05", "2026-11-10 09:25", "Europe/Oslo"))["calls"]] == ["c2", "c3"]


def test_requests_are_checked_against_the_site():
    site = load_site(SITE).site
    with pytest.raises(ReportError, match=r"unknown queue 'nope' \(known: sales, support\)"):
        build_document(None, site, ReportRequest("queues", "2026-11-10", queues=["nope"]))
    with pytest.raises(ReportError, match=r"unknown agent 'carol' \(known: alice, bob\)"):
        build_document(None, site, ReportRequest("agents", "2026-11-10", agents=["carol"]))
    with pytest.raises(ReportError, match="unknown hours set 'night'"):
        build_document(None, site, ReportRequest("queues", "2026-11-10", hours="night"))


def cli(tmp_path, *args):
    return runner.invoke(app, ["report", *args, "-s", str(SITE)],
                         env={"PBXCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'books.db'}", "COLUMNS": "250"})


def test_cli_formats_carry_the_same_numbers(engine, tmp_path):
    result = cli(tmp_path, "queues", "--from", "2026-11-10", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert total(doc, "support") == total(report(engine, day_window()), "support")
    csv_out = cli(tmp_path, "queues", "--from", "2026-11-10", "--format", "csv").stdout.splitlines()
    header = csv_out[0].split(",")
    support_total = next(line.split(",") for line in csv_out[1:] if line.startswith("total,support,"))
    assert support_total[header.index("offered")] == "6"
    assert support_total[header.index("service_level_pct")] == "20.0"
    assert [support_total[header.index(c)] for c in ("callbacks_listed", "callbacks_completed", "callbacks_failed",
                                                      "avg_time_to_callback")] == ["3", "1", "1", "1772.5"]
    xlsx = tmp_path / "q.xlsx"
    assert cli(tmp_path, "queues", "--from", "2026-11-10", "--format", "xlsx", "--out", str(xlsx)).exit_code == 0
    rows = list(load_workbook(xlsx)["queues"].iter_rows(values_only=True))
    xrow = next(r for r in rows if r[0] == "total" and r[1] == "sales")
    assert xrow[rows[0].index("answered")] == 3
    assert (xrow[rows[0].index("callbacks_listed")], xrow[rows[0].index("avg_time_to_callback")]) == (1, None)
    table = cli(tmp_path, "queues", "--from", "2026-11-10")
    assert table.exit_code == 0 and "(all queues)" in table.stdout and "ServiceLevelPerf2" in table.stdout
    calls = cli(tmp_path, "calls", "--from", "2026-11-10", "--agent", "bob", "--format", "json")
    assert [c["call_id"] for c in json.loads(calls.stdout)["calls"]] == ["c2", "c8", "c9"]
    page = tmp_path / "page.html"
    assert cli(tmp_path, "queues", "--from", "2026-11-10", "--format", "html", "--out", str(page)).exit_code == 0
    assert page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "args, message",
    [
        (["queues", "--from", "2026-11-10", "--to", "2026-11-01"], "--from 2026-11-10 is not before --to 2026-11-01"),
        (["queues", "--from", "2026-11-10", "--queue", "nope"], "unknown queue 'nope' (known: sales, support)"),
        (["agents", "--from", "2026-11-10", "--agent", "carol"], "unknown agent 'carol' (known: alice, bob)"),
        (["queues", "--from", "2026-11-10", "--interval", "fortnight"], "interval 'fortnight' is not one of"),
        (["queues", "--from", "2026-11-10", "--format", "xlsx"], "--format xlsx writes a file"),
        (["queues", "--from", "2026-11-10", "--number", "22"], "--number searches the call log"),
    ],
)
def test_cli_refuses_bad_requests(engine, tmp_path, args, message):
    result = cli(tmp_path, *args)
    assert result.exit_code == 1
    assert message in result.output
