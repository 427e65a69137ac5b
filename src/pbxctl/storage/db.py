"""Where pbxctl keeps its books: SQLite by default (embedded, nothing to set up),
PostgreSQL when `storage.url` (or PBXCTL_DATABASE_URL) names one. Every engine is
migrated to the newest schema (storage/migrate.py) before use."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from pbxctl.storage.migrate import upgrade

DEFAULT_DIR = Path("/var/lib/pbxctl")
SQLITE_BUSY_MS = 30_000
SQLITE_CACHED_STATEMENTS = 16


def database_url(site_name: str, configured: str | None) -> str:
    url = os.environ.get("PBXCTL_DATABASE_URL") or configured
    if url:
        return url
    return f"sqlite:///{DEFAULT_DIR / (site_name + '.db')}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL: the service's ingestor and a `books import` (or the reports) work side by side;
    # a writer waits for the other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def new_engine(url: str) -> Engine:
    """A migrated engine of its own (tests, benchmarks, a second ingestor)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        create_private_file(Path(url.removeprefix("sqlite:///")))
    # sqlite3's statement cache keeps each compiled statement of a connection (128 by
    # default): the books' many-row INSERTs (books.store.insert_new) compile to hundreds of
    # kB each, and 128 of them held 15-40 MB of SQLite's heap for the whole of an import.
    # 16 still covers the statements a service repeats.
    connect_args = {"cached_statements": SQLITE_CACHED_STATEMENTS} if url.startswith("sqlite") else {}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    upgrade(engine)
    return engine


def create_private_file(path: Path) -> None:
    """The SQLite file made 0600 (its directory 0750 if new) before SQLite opens it: the
    books hold callers' numbers, and whatever umask the CLI runs under must not widen that.
    SQLite gives its -wal and -shm files the database file's mode."""
    if str(path) in ("", ":memory:") or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


@lru_cache(maxsize=None)
def engine_for(url: str) -> Engine:
    """The process's one engine for `url`."""
    return new_engine(url)
