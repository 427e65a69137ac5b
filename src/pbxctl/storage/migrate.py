"""Schema migrations (Alembic, revisions in storage/migrations/versions): every engine pbxctl
opens is brought to the newest schema first, keeping the data.

A database made before Alembic (the live tables only, by `create_all`) has no
alembic_version table: revision 0001 makes only the live tables it lacks, and the
upgrade goes on from there. Two
processes opening the same database at once migrate one after the other (PostgreSQL: an
advisory lock; SQLite: a lock file beside the database).
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x7062786374  # "pbxct": one advisory lock id for pbxctl's migrations


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


@contextmanager
def _sqlite_lock(engine: Engine):
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(Path(database).with_suffix(Path(database).suffix + ".migrate-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    if engine.dialect.name == "sqlite":
        with _sqlite_lock(engine), engine.begin() as conn:
            _upgrade(conn, revision)
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        _upgrade(conn, revision)


def _upgrade(conn: Connection, revision: str) -> None:
    command.upgrade(_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
