"""Where pbxctl keeps its books: SQLite by default (embedded, nothing to set up),
PostgreSQL when `storage.url` (or PBXCTL_DATABASE_URL) names one."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

DEFAULT_DIR = Path("/var/lib/pbxctl")


def database_url(site_name: str, configured: str | None) -> str:
    url = os.environ.get("PBXCTL_DATABASE_URL") or configured
    if url:
        return url
    return f"sqlite:///{DEFAULT_DIR / (site_name + '.db')}"


@lru_cache(maxsize=None)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    import pbxctl.storage.agent_memberships  # noqa: F401  (registers the tables)
    import pbxctl.storage.callbacks  # noqa: F401
    import pbxctl.storage.queue_calls  # noqa: F401  # pyflakes: registers a table

    SQLModel.metadata.create_all(engine)
    return engine
