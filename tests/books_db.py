"""Databases for the books' tests: a fresh SQLite file, or this test run's own database on
the project's PostgreSQL (scripts/postgres; a PostgreSQL test FAILS when it cannot reach
the server, it never skips)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
POSTGRES_DB = "pbxctl_books_ingest_test"


def postgres_url() -> str:
    done = subprocess.run([str(REPO / "scripts" / "postgres"), "db", POSTGRES_DB], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        pytest.fail(f"PostgreSQL is not reachable (scripts/postgres db {POSTGRES_DB}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


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
