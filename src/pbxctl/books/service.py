"""The books inside `pbxctl serve asterisk`: the PBX's queue_log and its CDR file
(`pbx.asterisk.queue_log`, `pbx.asterisk.cdr_file`) followed every second, each in a
thread (the database writes block) with its own checkpoint. Calls that reached a queue
while the service was down are read on start-up from the checkpoint: they are in
queue_log, and so in the books; their CDR records likewise.

A batch the database does not take after the writer's retries (locked, full, gone) is
not lost: the follower goes back to its last stored checkpoint and reads it again at the
next poll. A checkpoint the database cannot give (a PostgreSQL server stopped) is asked
for again at the next poll: the follower waits, the service goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Mapping

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from pbxctl.books.assembler import Assembler
from pbxctl.books.cdr import CdrIngestor
from pbxctl.books.ingest import Ingestor, LogFollower
from pbxctl.books.site_view import agent_of, node_name, thresholds_of, wrapup_of
from pbxctl.books.store import BatchWriter, StoreFailed
from pbxctl.site import model as m
from pbxctl.storage.failure import failure_kind

log = structlog.get_logger("pbxctl.books")
POLL_SECONDS = 1.0


def _site_path(configured: str, base_dir: Path) -> Path:
    path = Path(configured)
    return path if path.is_absolute() else base_dir / path


def queue_log_follower(site: m.Site, engine: Engine, base_dir: Path, interfaces: Mapping[str, str]) -> LogFollower:
    node = node_name(site)
    ingestor = Ingestor(BatchWriter(engine, node, thresholds=thresholds_of(site)), Assembler(agent_of(site, interfaces), wrapup_of(site)), batch_lines=20_000)
    return LogFollower(_site_path(site.pbx.asterisk.queue_log, base_dir), ingestor, node)


def cdr_follower(site: m.Site, engine: Engine, base_dir: Path) -> LogFollower:
    node = node_name(site)
    return LogFollower(_site_path(site.pbx.asterisk.cdr_file, base_dir), CdrIngestor(BatchWriter(engine, node)), node)


async def follow(follower: LogFollower, interval: float = POLL_SECONDS, caught_up: asyncio.Event | None = None) -> None:
    """`caught_up` is set after the first pass over the log (what was written while the
    service was down is in the books then)."""
    log.info("books_following", source=follower.source, path=str(follower.path), node=follower.node)
    while True:
        try:
            await asyncio.to_thread(follower.poll)
            if caught_up is not None:
                caught_up.set()
        except StoreFailed as exc:
            log.error("books_batch_not_stored", fault=failure_kind(exc.__cause__ or exc), source=follower.source,
                      error=str(exc), path=str(follower.path))
            follower.reset()
        except SQLAlchemyError as exc:  # the checkpoint unreadable: the database is away (stopped, gone)
            log.warning("books_checkpoint_unreadable", fault=failure_kind(exc), source=follower.source,
                        error=str(exc), path=str(follower.path))
            follower.reset()
        except OSError as exc:
            log.warning("books_log_unreadable", source=follower.source, error=str(exc), path=str(follower.path))
            follower.reset()
        await asyncio.sleep(interval)
