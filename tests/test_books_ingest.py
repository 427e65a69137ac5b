"""Ingesting queue_log into the books, on SQLite and on the project's PostgreSQL: the same
lines twice change nothing, what the store derives (a leg's wrap-up cut at the agent's next
call, a stint's entry number) holds whatever order the pieces come in, bad lines are kept
with FILE:LINE and the reason, the follower survives rename and copytruncate rotation and a
restart mid-call, and a locked or full database is retried, never a crash and never a lost
line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from pbxctl.books.assembler import Assembler, WrapupTable
from pbxctl.books.cdr import CdrIngestor
from pbxctl.books.import_reader import ReaderFailed
from pbxctl.books.ingest import Ingestor, LogFollower, import_file
from pbxctl.books import store
from pbxctl.books.store import BatchWriter, StoreFailed
from pbxctl.storage.db import new_engine

from helpers.controller_harness import PBXCTL
from books_db import books_url  # noqa: F401 - fixture
from books_sums import assert_sums_agree, stored


RECORDED = Path(__file__).parent / "fixtures" / "queue_log" / "sandbox_calls.queue_log"
CDR_RECORDED = RECORDED.with_name("sandbox_calls.pbxctl.csv")
REPO = Path(__file__).resolve().parent.parent

CALL_A = """\
1796169000|ca|support|NONE|PBXCTLCALLER|4790000000|Kari
1796169000|ca|support|NONE|ENTERQUEUE||4790000000|1
1796169004|ca|support|Agent One|CONNECT|4|ca.1|2
"""
CALL_A_END = "1796169064|ca|support|Agent One|COMPLETECALLER|4|60|1\n"
CALL_B = """\
1796169100|cb|support|NONE|ENTERQUEUE||4790000001|1
1796169110|cb|support|NONE|ABANDON|1|1|10
"""
LATER = "1796170000|cz|support|NONE|ENTERQUEUE||4790000009|1\n1796170002|cz|support|NONE|ABANDON|1|1|2\n"


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar()
            for name in ("books_calls", "books_queue_stints", "books_agent_rings", "books_agent_legs",
                         "books_agent_events", "books_rejects")
        }


def stints(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT callid, queue, outcome, wait_seconds FROM books_queue_stints ORDER BY entered_at, callid"))]


def import_into(engine, path: Path, node: str = "n1"):
    return import_file(path, Ingestor(BatchWriter(engine, node, background=True), Assembler()))


def test_the_same_lines_twice_change_nothing(books_url, tmp_path):
    engine = new_engine(books_url)
    first = import_into(engine, RECORDED)
    after_one = counts(engine)
    sums = stored(engine)
    second = import_into(engine, RECORDED)
    assert counts(engine) == after_one and stored(engine) == sums
    assert (first.calls, second.calls) == (3, 3)
    assert after_one["books_calls"] == 3 and after_one["books_queue_stints"] == 4 and after_one["books_rejects"] == 0
    # the second import also through the command line, with the progress bar
    done = subprocess.run([str(PBXCTL), "books", "import", str(RECORDED), "--db", books_url,
                           "--node", "n1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "23 lines, 3 calls" in done.stdout and counts(engine) == after_one


def agent_call(callid: str, connected: int, talk: int) -> str:
    entered = connected - 4
    return (f"{entered}|{callid}|support|NONE|ENTERQUEUE||4790000000|1\n"
            f"{connected}|{callid}|support|Agent One|CONNECT|4|{callid}.1|2\n"
            f"{connected + talk}|{callid}|support|Agent One|COMPLETEAGENT|4|{talk}|1\n")


def test_an_agents_next_call_cuts_the_wrap_up_before_it_whichever_arrives_first(books_url, tmp_path):
    # 30 s wrap-up; p1 ends at 1060 and the agent takes p2 at 1070 (cut to 10), p2 ends at
    # 1100 and p3 comes at 1120 (cut to 20), p3 is the agent's last call (30).
    middle, around = tmp_path / "middle", tmp_path / "around"
    middle.write_text(agent_call("p2", 1796171070, 30))
    around.write_text(agent_call("p1", 1796171000, 60) + agent_call("p3", 1796171120, 45))
    engine = new_engine(books_url)

    def ingest(path: Path) -> None:
        import_file(path, Ingestor(BatchWriter(engine, "n1"), Assembler(wrapup_of=WrapupTable(default=30))))

    def cuts() -> dict[str, tuple]:
        with engine.connect() as conn:
            return {c: (w, cut) for c, w, cut in conn.execute(text(
                "SELECT callid, wrapup_seconds, wrapup_cut_seconds FROM books_agent_legs"))}

    ingest(middle)  # p2 first: its successor is not known yet
    assert cuts() == {"p2": (30, 30)}
    ingest(around)  # then the calls before and after it, in another transaction
    assert cuts() == {"p1": (30, 10), "p2": (30, 20), "p3": (30, 30)}
    assert_sums_agree(engine)  # p2's lowered cut lowered its quarter's wrap-up sum
    for path in (around, middle):  # the same lines again change nothing
        ingest(path)
    assert cuts() == {"p1": (30, 10), "p2": (30, 20), "p3": (30, 30)}
    assert_sums_agree(engine)


# On PostgreSQL a batch of COPY_FROM_ROWS rows or more goes by COPY (calls merged by one
# INSERT ... SELECT ... ON CONFLICT DO UPDATE): the small files below take both paths.
BY_COPY_OR_ROWS = pytest.mark.parametrize("copy_from_rows", [store.COPY_FROM_ROWS, 1], ids=["rows", "copy"])


@BY_COPY_OR_ROWS
def test_a_stint_carries_its_calls_entry_also_when_the_call_is_written_in_pieces(books_url, tmp_path, monkeypatch,
                                                                                 copy_from_rows):
    monkeypatch.setattr(store, "COPY_FROM_ROWS", copy_from_rows)
    # e1's entry is in its first piece, e2's only in its second (a later PBXCTLENTRY)
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("1796172000|e1|NONE|NONE|PBXCTLENTRY|22334455\n"
                     "1796172001|e1|support|NONE|ENTERQUEUE||4790000000|1\n1796172005|e1|support|NONE|ABANDON|1|1|4\n"
                     "1796172001|e2|support|NONE|ENTERQUEUE||4790000001|1\n1796172005|e2|support|NONE|ABANDON|1|1|4\n")
    second.write_text("1796172100|e1|sales|NONE|ENTERQUEUE||4790000000|1\n1796172105|e1|sales|NONE|ABANDON|1|1|5\n"
                      "1796172100|e2|NONE|NONE|PBXCTLENTRY|81500100\n"
                      "1796172101|e2|sales|NONE|ENTERQUEUE||4790000001|1\n1796172105|e2|sales|NONE|ABANDON|1|1|4\n")
    engine = new_engine(books_url)
    for path in (first, second, second):
        import_into(engine, path)
    with engine.connect() as conn:
        found = sorted(conn.execute(text(
            "SELECT s.callid, s.queue, s.entry, c.entry FROM books_queue_stints s "
            "JOIN books_calls c ON c.node = s.node AND c.callid = s.callid")))
    assert found == [("e1", "sales", "22334455", "22334455"), ("e1", "support", "22334455", "22334455"),
                     ("e2", "sales", "81500100", "81500100"), ("e2", "support", "81500100", "81500100")]
    assert_sums_agree(engine)  # e2's support stint moved to its entry in the sums too


@BY_COPY_OR_ROWS
def test_the_cdr_file_is_followed_from_its_checkpoint_and_links_the_calls_either_way(books_url, tmp_path, monkeypatch,
                                                                                     copy_from_rows):
    monkeypatch.setattr(store, "COPY_FROM_ROWS", copy_from_rows)
    # sandbox_calls.pbxctl.csv: 5 records of call ...439, then 6 of call ...453
    records = CDR_RECORDED.read_bytes().splitlines(keepends=True)
    cdr = tmp_path / "pbxctl.csv"
    cdr.write_bytes(b"".join(records[:5]))
    engine = new_engine(books_url)

    def cdr_follower() -> LogFollower:
        return LogFollower(cdr, CdrIngestor(BatchWriter(engine, "n1")), "n1", clock=lambda: 1796180000)

    def linked() -> dict[str, str | None]:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT callid, linkedid FROM books_calls")).all())

    cdr_follower().poll()
    assert counts(engine)["books_rejects"] == 0
    import_into(engine, RECORDED)  # the calls after their CDR: ...439 takes its linkedid from it
    assert linked() == {"1796166765.439": "1796166765.438", "1796166772.451": None, "1796166772.453": None}
    with open(cdr, "ab") as current:
        current.write(b"".join(records[5:]))
    follower = cdr_follower()  # a restart: reads on from the checkpoint
    follower.poll()
    assert linked()["1796166772.453"] == "1796166772.452"  # a CDR after its call links it too
    cdr_follower().poll()
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM books_cdr")).scalar()
        source = conn.execute(text("SELECT source FROM books_checkpoints WHERE read_offset = :o"),
                              {"o": cdr.stat().st_size}).scalar()
    assert (stored, source) == (len(records), "cdr")


def test_bad_lines_are_kept_counted_and_named(books_url, tmp_path):
    log = tmp_path / "queue_log"
    log.write_bytes(
        CALL_B.encode()
        + b"1796169120|cc|support|NONE|ENTERQUEUE||47\xff\xfe|1\n"  # line 3: not UTF-8
        + b"1796169121|cc|supp\n"  # line 4: truncated
        + b"1796169122|cd|support|NONE|FROBNICATE|1|2\n"  # line 5: unknown verb
        + LATER.encode()
    )
    engine = new_engine(books_url)
    stats = import_into(engine, log)
    assert stats.lines == 7 and stats.rejected_total == 3
    assert stats.examples == [
        "queue_log:3: not UTF-8 (byte 41)",
        "queue_log:4: truncated: 3 fields, at least 5 (time|callid|queue|agent|event)",
        "queue_log:5: unknown event 'FROBNICATE'",
    ]
    with engine.connect() as conn:
        rows = list(conn.execute(text("SELECT line_no, reason, text FROM books_rejects ORDER BY line_no")))
    assert [(r.line_no, r.reason.split(" (")[0]) for r in rows] == [
        (3, "not UTF-8"), (4, "truncated: 3 fields, at least 5"), (5, "unknown event 'FROBNICATE'")]
    assert rows[0].text == "1796169120|cc|support|NONE|ENTERQUEUE||47\\xff\\xfe|1"
    assert [s[:3] for s in stints(engine)] == [("cb", "support", "abandoned"), ("cz", "support", "abandoned")]
    import_into(engine, log)
    assert counts(engine)["books_rejects"] == 3
    done = subprocess.run([str(PBXCTL), "books", "import", str(log), "--db", books_url],
                          capture_output=True, text=True, timeout=120)
    assert "3 rejected" in done.stdout and "queue_log:5: unknown event 'FROBNICATE'" in done.stdout


def follower(engine, path: Path, node: str = "n1") -> LogFollower:
    # the wall clock is past every line: finished calls settle at once
    return LogFollower(path, Ingestor(BatchWriter(engine, node), Assembler()), node, clock=lambda: 1796180000)


def test_the_follower_survives_rename_rotation_and_catches_up(books_url, tmp_path):
    log = tmp_path / "queue_log"
    log.write_text(CALL_A)
    engine = new_engine(books_url)
    tail = follower(engine, log)
    tail.poll()
    assert stints(engine) == []  # ca is talking
    # logrotate renames, Asterisk writes the end of ca into the old file, then opens a new one
    log.rename(tmp_path / "queue_log.1")
    with open(tmp_path / "queue_log.1", "a") as old:
        old.write(CALL_A_END)
    log.write_text(CALL_B + LATER)
    tail.poll()
    assert [s[:3] for s in stints(engine)] == [("ca", "support", "answered"), ("cb", "support", "abandoned"),
                                               ("cz", "support", "abandoned")]
    # a new follower (service restarted) after more lines: only the new ones are read
    with open(log, "a") as new:
        new.write("1796170100|cy|support|NONE|ENTERQUEUE||1|1\n1796170101|cy|support|NONE|EXITEMPTY|1|1|1\n")
    follower(engine, log).poll()
    assert [s[:3] for s in stints(engine)][-1] == ("cy", "support", "exit_empty")
    assert counts(engine)["books_queue_stints"] == 4


def test_a_restart_while_the_service_was_down_across_a_rotation(books_url, tmp_path):
    log = tmp_path / "queue_log"
    log.write_text(CALL_A)
    engine = new_engine(books_url)
    follower(engine, log).poll()
    # the service stops; meanwhile the call ends, the log rotates and new calls come
    with open(log, "a") as current:
        current.write(CALL_A_END)
    log.rename(tmp_path / "queue_log.1")
    log.write_text(CALL_B + LATER)
    follower(engine, log).poll()
    assert [s[:3] for s in stints(engine)] == [("ca", "support", "answered"), ("cb", "support", "abandoned"),
                                               ("cz", "support", "abandoned")]


def test_copytruncate_starts_over_at_the_beginning(books_url, tmp_path):
    log = tmp_path / "queue_log"
    log.write_text(CALL_B + LATER)
    engine = new_engine(books_url)
    tail = follower(engine, log)
    tail.poll()
    (tmp_path / "queue_log.1").write_bytes(log.read_bytes())  # logrotate's copy...
    with open(log, "r+") as same:  # ...and truncate, in place (same inode)
        same.truncate(0)
    with open(log, "a") as same:
        same.write(CALL_A + CALL_A_END)
    tail.poll()
    assert sorted(s[0] for s in stints(engine)) == ["ca", "cb", "cz"]


def test_a_restart_mid_call_replays_the_call_and_counts_it_once(books_url, tmp_path):
    log = tmp_path / "queue_log"
    log.write_text(CALL_B + CALL_A)  # cb is over, ca is talking
    engine = new_engine(books_url)
    follower(engine, log).poll()
    assert [s[0] for s in stints(engine)] == ["cb"]
    with open(log, "a") as current:
        current.write(CALL_A_END + LATER)
    follower(engine, log).poll()  # a new process: ca's first lines come from the replay point
    assert [s[:3] for s in stints(engine)] == [("ca", "support", "answered"), ("cb", "support", "abandoned"),
                                               ("cz", "support", "abandoned")]
    with engine.connect() as conn:
        caller = conn.execute(text("SELECT caller_name FROM books_calls WHERE callid = 'ca'")).scalar()
    assert caller == "Kari" and counts(engine)["books_agent_legs"] == 1


def test_a_locked_sqlite_database_is_waited_for(tmp_path):
    url = f"sqlite:///{tmp_path / 'books.db'}"
    new_engine(url).dispose()  # migrated
    impatient = create_engine(url, connect_args={"timeout": 0})  # no busy wait: the lock shows at once
    holder = sqlite3.connect(tmp_path / "books.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.6, lambda: holder.execute("COMMIT")).start()
    writer = BatchWriter(impatient, "n1", first_delay=0.2)
    stats = import_file(RECORDED, Ingestor(writer, Assembler()))
    holder.close()
    assert writer.failures >= 1 and stats.calls == 3
    assert counts(impatient)["books_queue_stints"] == 4


def test_a_full_database_fails_clearly_and_loses_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'books.db'}"
    new_engine(url).dispose()
    full = create_engine(url)
    pages = sqlite3.connect(tmp_path / "books.db").execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(full, "connect")
    def no_room(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    writer = BatchWriter(full, "n1", retries=2, sleep=lambda s: None)
    big = tmp_path / "queue_log"
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_queue_log.py"), "--calls", "3000", "--out", str(big)],
                   check=True, capture_output=True)
    with pytest.raises(StoreFailed, match="database or disk is full"):
        import_file(big, Ingestor(writer, Assembler()))
    assert writer.failures == 3
    # room again: the same file once more books every call
    roomy = new_engine(url)
    assert import_into(roomy, big).calls == 3000
    assert counts(roomy)["books_calls"] == 3000


def test_the_import_reader_process_loads_no_database_library():
    # its memory adds to the writer's (books import's peak is both processes'): stdlib and
    # pbxctl's queue_log modules only
    done = subprocess.run([sys.executable, "-c", "import sys, pbxctl.books.import_reader; print(*sys.modules)"],
                          capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in done.stdout.split()}
    assert not loaded & {"sqlalchemy", "sqlmodel", "pydantic", "structlog", "typer", "rich", "alembic", "psycopg"}


def test_a_reader_process_that_fails_is_named_and_nothing_is_written(tmp_path):
    engine = new_engine(f"sqlite:///{tmp_path / 'books.db'}")
    (tmp_path / "queue_log").mkdir()  # not a file: the reader cannot open it
    with pytest.raises(ReaderFailed, match="IsADirectoryError"):
        import_into(engine, tmp_path / "queue_log")
    with pytest.raises(TypeError, match="cannot go to the reader process"):
        import_file(RECORDED, Ingestor(BatchWriter(engine, "n1"), Assembler(agent_of=lambda member: member)))
    assert set(counts(engine).values()) == {0}
