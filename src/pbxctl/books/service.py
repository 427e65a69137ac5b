"""The books inside `pbxctl serve asterisk`: the PBX's queue_log followed every second,
in a thread (the database writes block). Calls that reached a queue while the service was
down are read on start-up from the checkpoint: they are in queue_log, and so in the books.

A batch the database does not take after the writer's retries (locked, full, gone) is
not lost: the follower goes back to its last stored checkpoint and reads it again at the
next poll."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Mapping

import structlog
from sqlalchemy.engine import Engine

from pbxctl.books.assembler import Assembler
from pbxctl.books.ingest import Ingestor, QueueLogFollower
from pbxctl.books.site_view import agent_of, node_name, wrapup_of
from pbxctl.books.store import BatchWriter, StoreFailed
from pbxctl.site import model as m

log = structlog.get_logger("pbxctl.books")
POLL_SECONDS = 1.0


def queue_log_follower(site: m.Site, engine: Engine, base_dir: Path, interfaces: Mapping[str, str]) -> QueueLogFollower:
    node = node_name(site)
    path = Path(site.pbx.asterisk.queue_log)
    if not path.is_absolute():
        path = base_dir / path
    ingestor = Ingestor(BatchWriter(engine, node), Assembler(agent_of(site, interfaces), wrapup_of(site)), batch_lines=20_000)
    return QueueLogFollower(path, ingestor, node)


async def follow(follower: QueueLogFollower, interval: float = POLL_SECONDS) -> None:
    log.info("books_following", path=str(follower.path), node=follower.node)
    while True:
        try:
            await asyncio.to_thread(follower.poll)
        except StoreFailed as exc:
            log.error("books_batch_not_stored", error=str(exc), path=str(follower.path))
            follower.reset()
        except OSError as exc:
            log.warning("books_queue_log_unreadable", error=str(exc), path=str(follower.path))
            follower.reset()
        await asyncio.sleep(interval)
