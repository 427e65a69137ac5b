"""A database that does not take a write is named in one word in the log line
(storage/failure.py), and the books' follower outlives a database it cannot reach
(books/service.py): it logs, waits and asks again; it never ends the service."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from pbxctl.books.assembler import Assembler
from pbxctl.books.ingest import Ingestor, LogFollower
from pbxctl.books.service import follow
from pbxctl.books.store import BatchWriter
from pbxctl.storage.failure import DISK_FULL, LOCKED, UNREACHABLE, failure_kind

from helpers.controller_harness import free_port


def _raised(fn) -> OperationalError:
    with pytest.raises(OperationalError) as caught:
        fn()
    return caught.value


def test_sqlite_full_and_locked(tmp_path):
    full = create_engine(f"sqlite:///{tmp_path / 'full.db'}")
    with full.begin() as conn:  # max_page_count: SQLite's own SQLITE_FULL, as on a full disk
        conn.execute(text("CREATE TABLE t (x BLOB)"))

    def overfill():
        with full.begin() as conn:
            conn.execute(text("PRAGMA max_page_count = 3"))
            conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))

    assert failure_kind(_raised(overfill)) == DISK_FULL
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    locked = create_engine(f"sqlite:///{tmp_path / 'locked.db'}", connect_args={"timeout": 0.05})

    def write():
        with locked.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    assert failure_kind(_raised(write)) == LOCKED
    holder.close()


def test_postgres_stopped_is_unreachable():
    gone = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    assert failure_kind(_raised(lambda: gone.connect().close())) == UNREACHABLE


def test_the_follower_waits_for_a_database_it_cannot_reach(tmp_path):
    queue_log = tmp_path / "queue_log"
    queue_log.write_text("1796000000|NONE|NONE|NONE|QUEUESTART|\n")
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    follower = LogFollower(queue_log, Ingestor(BatchWriter(engine, "n1"), Assembler()), "n1")

    async def run_a_while():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(follow(follower, interval=0.05), 1.0)

    with structlog.testing.capture_logs() as logs:
        asyncio.run(run_a_while())
    told = [e for e in logs if e["event"] == "books_checkpoint_unreadable"]
    assert len(told) >= 2, logs  # asked again at each poll, the loop alive
    assert {e["fault"] for e in told} == {UNREACHABLE}
    assert follower.handle is None  # nothing read past a checkpoint it could not load
