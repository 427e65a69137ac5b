"""`pbxctl books resum`: the quarter-hour sums counted again from the stints and legs the
books hold, with the site's thresholds as they are now (each queue's service_level,
reports.short_abandon).

The sums remember the thresholds they were counted with, and the queue report reads them
only when those are its own (`report_source.tally_quarters`); after a queue's service level
or the short-abandon threshold changed, or after migration 0007 filled older books with the
defaults, the report reads every stint until the sums are counted again.

Per node, in one transaction: the node's sums lock taken exclusive (PostgreSQL:
`quarter_sums.hold_sums`, which every ingestor batch holds shared, so no batch is half
seen, lost or counted twice; SQLite: the DELETE comes first and takes the one write lock,
so every read after it sees all committed batches and none can commit meanwhile), the sum
rows of the recounted quarters deleted, the stints and legs of those quarters read as
they come (`stint_sums`, `leg_sums`) and written with the ingestor's own upserts
(`add_stints`, `add_legs`), in pieces of at most FLUSH_GROUPS groups: the upserts add, so
pieces of one group add up to its sums and memory stays bounded over years of books.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from pbxctl.books.quarter_sums import (
    LEG_SUMMED, QUARTER, STINT_SUMMED, Thresholds, add_legs, add_stints, hold_sums, leg_sums, merge_sums,
    stint_sums,
)

FLUSH_GROUPS = 20_000  # groups summed in Python before they are written
_ROWS = 5_000  # rows fetched at a time


@dataclass(frozen=True)
class Recounted:
    node: str
    quarters: int       # quarter hours with stints or legs, recounted
    stints: int
    legs: int
    stint_sums: int     # rows of books_queue_quarters / books_leg_quarters now there
    leg_sums: int
    removed: int        # sum rows deleted (both tables)


def books_nodes(engine: Engine) -> list[str]:
    """The nodes that have stints, legs or sums in the books."""
    with engine.connect() as conn:
        return sorted({row[0] for table in ("books_queue_stints", "books_agent_legs", "books_queue_quarters",
                                            "books_leg_quarters")
                       for row in conn.exec_driver_sql(f"SELECT DISTINCT node FROM {table}")})


def quarters_of(start_epoch: int, end_epoch: int) -> tuple[int, int]:
    """The whole quarter hours covering [start, end): the first's start, the last's end."""
    return start_epoch - start_epoch % QUARTER, -(-end_epoch // QUARTER) * QUARTER


def recount_node(conn: Connection, node: str, thresholds: Thresholds,
                 quarters: tuple[int, int] | None = None) -> Recounted:
    """The node's sums of the quarters [lo, hi) (every quarter without `quarters`) counted
    again in this transaction (the caller commits)."""
    hold_sums(conn, node, exclusive=True)
    postgres = conn.dialect.name == "postgresql"
    m = "%s" if postgres else "?"
    params: tuple = (node,) if quarters is None else (node, *quarters)

    def where(column: str) -> str:
        return f"node = {m}" + ("" if quarters is None else f" AND {column} >= {m} AND {column} < {m}")

    # Locking: PostgreSQL — the node's sums lock, exclusive (every ingestor batch holds it
    # shared from its first statement): the batches in flight have committed, and the next
    # wait for this commit. SQLite — the DELETE is the transaction's first statement and
    # takes the one write lock before anything is read, so no batch commits in between.
    removed = 0
    for table in ("books_queue_quarters", "books_leg_quarters"):  # the ingestor's order
        removed += conn.exec_driver_sql(f"DELETE FROM {table} WHERE {where('quarter')}", params).rowcount or 0
    seen: set[int] = set()
    counts = []
    for table, columns, summed, add in (
            ("books_queue_stints", STINT_SUMMED, lambda rows: stint_sums(rows, thresholds), add_stints),
            ("books_agent_legs", LEG_SUMMED, leg_sums, add_legs)):
        # streamed (PostgreSQL: a server-side cursor), the upserts in between on the same connection
        rows = conn.exec_driver_sql(f"SELECT {', '.join(columns)} FROM {table} WHERE {where('entered_at')}", params,
                                    execution_options={"stream_results": True, "yield_per": _ROWS})
        n = 0
        groups: dict = {}
        for part in rows.partitions(_ROWS):
            n += len(part)
            seen.update(row[1] - row[1] % QUARTER for row in part)
            merge_sums(groups, summed(part))
            if len(groups) >= FLUSH_GROUPS:  # the upserts add: a group's pieces add up
                add(conn, node, groups)
                groups = {}
        add(conn, node, groups)
        counts.append(n)
    stored = [conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table} WHERE {where('quarter')}", params).scalar()
              for table in ("books_queue_quarters", "books_leg_quarters")]
    return Recounted(node, len(seen), counts[0], counts[1], int(stored[0]), int(stored[1]), removed)


def recount(engine: Engine, thresholds: Thresholds, nodes: list[str],
            quarters: tuple[int, int] | None = None) -> list[Recounted]:
    """Each node in a transaction of its own (one node's batches wait for its recount only)."""
    done = []
    for node in nodes:
        with engine.begin() as conn:
            done.append(recount_node(conn, node, thresholds, quarters))
    return done
