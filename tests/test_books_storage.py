"""The books' storage: Alembic upgrades a database made by the previous schema and keeps its
data (SQLite and PostgreSQL); two ingestors writing into one PostgreSQL at once (two
processes) never double count; several nodes share one database."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from pbxctl.storage.agent_memberships import load_memberships
from pbxctl.storage.callbacks import open_callbacks
from pbxctl.storage.db import new_engine
from pbxctl.books.queue_report import queue_report
from pbxctl.books.report_source import tally_books
from pbxctl.books.report_window import make_window
from pbxctl.storage.migrate import current_revision, upgrade
from pbxctl.storage.queue_calls import queue_calls_since

from helpers.controller_harness import PBXCTL
from books_db import books_url, empty_postgres  # noqa: F401 - fixture
from books_day import CASES, NODE
from books_sums import assert_sums_agree


UTC = dt.timezone.utc
HEAD = "0008"
FIXTURES = Path(__file__).parent / "fixtures" / "storage"
REPO = Path(__file__).resolve().parent.parent
BOOKS = {"books_calls", "books_queue_stints", "books_agent_rings", "books_agent_legs", "books_transfers",
         "books_agent_events", "books_pbxctl_events", "books_cdr", "books_checkpoints", "books_rejects"}


def make_previous_schema(url: str) -> None:
    """A database as pbxctl made it before the books (no Alembic), with a row in each table."""
    engine = create_engine(url)
    dialect = engine.dialect.name
    ddl = (FIXTURES / f"schema_before_books.{dialect}.sql").read_text()
    with engine.begin() as conn:
        for statement in filter(str.strip, ddl.split(";")):
            conn.exec_driver_sql(statement)
        conn.execute(text(
            "INSERT INTO agent_memberships (agent, queue, logged_in, paused, reason, changed_at, source) "
            "VALUES ('kari', 'support', :t, :t, 'lunch', :at, 'cli')"), {"t": True, "at": dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)})
        conn.execute(text(
            "INSERT INTO queue_calls (queue, uniqueid, caller_id, joined_at, ended_at, outcome, wait_seconds, agent) "
            "VALUES ('support', '1796000000.1', '+4722334455', :a, :b, 'answered', 12.5, 'kari')"),
            {"a": dt.datetime(2026, 11, 30, 9, 1, tzinfo=UTC), "b": dt.datetime(2026, 11, 30, 9, 5, tzinfo=UTC)})
        conn.execute(text(
            "INSERT INTO callback_requests (queue, number, requested_at, source, status, attempts) "
            "VALUES ('support', '+4722334455', :at, 'ivr', 'open', 0)"), {"at": dt.datetime(2026, 11, 30, 9, 2, tzinfo=UTC)})
    engine.dispose()


def test_an_upgrade_keeps_the_data_of_the_previous_schema(books_url):
    make_previous_schema(books_url)
    engine = new_engine(books_url)  # migrates
    assert current_revision(engine) == HEAD
    assert BOOKS <= set(inspect(engine).get_table_names())
    (member,) = load_memberships(engine)
    assert (member.agent, member.queue, member.logged_in, member.paused, member.reason) == ("kari", "support", True, True, "lunch")
    (call,) = queue_calls_since(engine, dt.datetime(2026, 11, 30, tzinfo=UTC))
    assert (call.uniqueid, call.outcome, call.wait_seconds, call.agent) == ("1796000000.1", "answered", 12.5, "kari")
    (callback,) = open_callbacks(engine, "support")
    assert callback.number == "+4722334455"
    # and opening it again is a no-op
    new_engine(books_url)
    assert current_revision(engine) == HEAD and len(load_memberships(engine)) == 1


def test_a_new_database_gets_every_table(books_url):
    engine = new_engine(books_url)
    assert current_revision(engine) == HEAD
    assert BOOKS | {"agent_memberships", "queue_calls", "callback_requests", "callback_entries", "callback_attempts",
                    "callback_calls", "callback_feed"} <= set(inspect(engine).get_table_names())


def write_books_as_of_0003(engine) -> None:
    """books_day's cases as revision 0003 stored them: no entry on stints, no cut wrap-up."""
    with engine.begin() as conn:
        for c in CASES:
            first = min(s["entered"] for s in c.stints)
            conn.execute(text("INSERT INTO books_calls (node, callid, started_at, ended_at, caller_number, caller_name, "
                              "entry) VALUES (:n, :c, :t, :t, :num, '', :e)"),
                         {"n": NODE, "c": c.callid, "t": first, "num": c.number, "e": c.entry})
            for s in c.stints:
                conn.execute(text(
                    "INSERT INTO books_queue_stints (node, callid, queue, entered_at, ended_at, outcome, wait_seconds, "
                    "agent, exit_to, caller_number) VALUES (:n, :c, :q, :t, :end, :o, :w, :a, :x, '')"),
                    {"n": NODE, "c": c.callid, "q": s["queue"], "t": s["entered"], "end": s["entered"] + s["wait"],
                     "o": s["outcome"], "w": s["wait"], "a": s["agent"], "x": s["exit_to"]})
            for g in c.legs:
                entered = next(s["entered"] for s in c.stints if s["queue"] == g["queue"])
                conn.execute(text(
                    "INSERT INTO books_agent_legs (node, callid, member, connected_at, queue, entered_at, agent, ended_at, "
                    "talk_seconds, ended_by, wrapup_seconds) VALUES (:n, :c, :a, :t, :q, :e, :a, :end, :talk, 'caller', :w)"),
                    {"n": NODE, "c": c.callid, "a": g["agent"], "t": g["connected"], "q": g["queue"], "e": entered,
                     "end": g["connected"] + g["talk"], "talk": g["talk"], "w": g["wrapup"]})


def test_an_upgrade_to_0004_stores_each_stints_entry_and_each_legs_cut_wrapup(books_url):
    old = create_engine(books_url)
    upgrade(old, "0003")
    write_books_as_of_0003(old)
    old.dispose()
    engine = new_engine(books_url)  # 0003 -> 0004 fills the new columns from the rows there
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        entries = set(conn.execute(text("SELECT callid, queue, entry FROM books_queue_stints")))
        cuts = {(callid, agent): (wrapup, cut) for callid, agent, wrapup, cut in conn.execute(text(
            "SELECT callid, agent, wrapup_seconds, wrapup_cut_seconds FROM books_agent_legs"))}
    assert entries == {(c.callid, s["queue"], c.entry) for c in CASES for s in c.stints}
    legs = sorted((g["connected"], g["connected"] + g["talk"], c.callid, g["agent"]) for c in CASES for g in c.legs)
    for connected, ended, callid, agent in legs:
        later = [t for t, _end, _c, a in legs if a == agent and t > connected]
        wrapup = cuts[(callid, agent)][0]
        expected = min(wrapup, max(0, later[0] - ended)) if later else wrapup
        assert cuts[(callid, agent)] == (wrapup, expected), callid
    assert cuts[("c8", "bob")][1] < cuts[("c8", "bob")][0]  # the case that is cut (bob takes c9)
    # the report over the upgraded rows counts as over freshly ingested ones (tests/test_reports.py)
    window = make_window("2026-11-10", None, "Europe/Oslo", "day")
    sl = {"support": 20, "sales": 30}
    doc = queue_report(tally_books(engine, window, ["support", "sales"], sl, 5), window, ["support", "sales"], sl, 5, 80.0)
    sales = next(r for r in doc["totals"] if r["queue"] == "sales")
    support = next(r for r in doc["totals"] if r["queue"] == "support")
    assert sales["avg_wrapup"] == round((15 + 5 + 15) / 3, 1)
    assert support["entry_paths"] == {"22334455": 5, "22334466": 1}


def generated(tmp_path: Path, calls: int, seed: int) -> tuple[Path, dict]:
    path = tmp_path / f"queue_log.{seed}"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_queue_log.py"), "--calls", str(calls),
                           "--seed", str(seed), "--out", str(path)], check=True, capture_output=True, text=True)
    return path, json.loads(done.stdout)


def books_import(path: Path, url: str, node: str) -> subprocess.Popen:
    return subprocess.Popen([str(PBXCTL), "books", "import", str(path), "--db", url,
                             "--node", node], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcomes(url: str) -> dict[tuple[str, str], int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT node, outcome, count(*) FROM books_queue_stints GROUP BY node, outcome"))
        found = {(node, outcome): n for node, outcome, n in rows}
        for node, n in conn.execute(text("SELECT node, count(*) FROM books_calls GROUP BY node")):
            found[(node, "calls")] = n
    engine.dispose()
    return found


def test_two_ingestors_into_one_postgresql_at_once_never_double_count(tmp_path):
    url = empty_postgres()
    new_engine(url).dispose()  # migrated before the race (the race on migrating is its own test below)
    log, truth = generated(tmp_path, 4000, seed=7)
    other, other_truth = generated(tmp_path, 1500, seed=8)
    # the same node's log twice at once (a service and an import of the same file), and a second node
    runs = [books_import(log, url, "pbx1"), books_import(log, url, "pbx1"), books_import(other, url, "pbx2")]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    found = outcomes(url)
    for node, facts in (("pbx1", truth), ("pbx2", other_truth)):
        assert found[(node, "calls")] == facts["calls"]
        assert found[(node, "answered")] == facts["answered"]
        assert found[(node, "abandoned")] == facts["abandoned"]
        assert found[(node, "timed_out")] == facts["timed_out"]
    engine = create_engine(url)
    assert_sums_agree(engine)  # the quarter-hour sums added each stint and leg once too
    engine.dispose()


def test_two_processes_opening_a_new_postgresql_database_migrate_once(tmp_path):
    url = empty_postgres()
    log, truth = generated(tmp_path, 300, seed=9)
    runs = [books_import(log, url, "pbx1") for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    assert outcomes(url)[("pbx1", "calls")] == truth["calls"]
