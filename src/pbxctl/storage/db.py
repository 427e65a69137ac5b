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
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    upgrade(engine)
    return engine


@lru_cache(maxsize=None)
def engine_for(url: str) -> Engine:
    """The process's one engine for `url`."""
    return new_engine(url)
