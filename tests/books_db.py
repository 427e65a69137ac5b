"""Databases for the books' tests: a fresh SQLite file, or this test run's own database on
the project's PostgreSQL (scripts/postgres; a PostgreSQL test FAILS when it cannot reach
the server, it never skips).

The PostgreSQL database is named after this pytest process (`pbxctl_books_test_<pid>`),
so two suites running at once on the shared server never empty each other's schema; it is
dropped when the run ends."""

from __future__ import annotations

import atexit
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
POSTGRES_DB = f"pbxctl_books_test_{os.getpid()}"
_made: list[str] = []


def _drop_made() -> None:
    """At the end of the run: drop this run's database (FORCE: a child ingestor's
    connection may linger)."""
    if not _made:
        return
    admin = create_engine(_made[0].rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
    finally:
        admin.dispose()


atexit.register(_drop_made)


def postgres_url() -> str:
    done = subprocess.run([str(REPO / "scripts" / "postgres"), "db", POSTGRES_DB], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        pytest.fail(f"PostgreSQL is not reachable (scripts/postgres db {POSTGRES_DB}):\n{done.stderr}")
    url = done.stdout.strip().splitlines()[-1]
    if not _made:
        _made.append(url)
    return url


def empty_postgres() -> str:
    """The test database's URL, emptied (its public schema dropped and made again)."""
    url = postgres_url()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach it fails the test
        pytest.fail(f"PostgreSQL at {url} did not answer: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def books_url(request, tmp_path) -> str:
    """Each test using it runs on a fresh SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'books.db'}"
    return empty_postgres()
