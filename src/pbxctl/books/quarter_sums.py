"""The books' quarter-hour sums (books_queue_quarters, books_leg_quarters): what the queue
report counts, kept by the ingestor in the transaction that writes the stints and legs.

Only rows really inserted are added: the stints and legs come back from their INSERT …
ON CONFLICT DO NOTHING RETURNING, so lines read twice, or by two ingestors at once, add
nothing. A batch is summed in Python first, then one upsert per group (`SET n = n +
excluded.n`: atomic on PostgreSQL with two writers; groups in key order, so two writers
lock them in one order). A summed row that changes later adjusts its group by the
difference: a leg's cut wrap-up lowered when the agent's next leg arrives, a stint given
its call's entry number by a later piece of the call (moved from entry '' to that entry;
the old group keeps its wait_max, a wait still in the same queue's quarter, so the longest
wait of a queue's quarter — what the report shows — stays exact).

`pbxctl books resum` (books/resum.py) counts a node's sums again from its stints and legs
(other thresholds): each writer's transaction holds the node's sums lock shared
(`hold_sums`), the recount holds it exclusive, so it never sees half a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbxctl.books.queue_tally import DEFAULT_SERVICE_LEVEL, DEFAULT_SHORT_ABANDON, WAIT_BINS, wait_bin

if TYPE_CHECKING:  # the ingest's rows are made without SQLAlchemy (books/rows.py)
    from sqlalchemy.engine import Connection

QUARTER = 900
BIN_COLUMNS = tuple(f"wait_bin{i}" for i in range(len(WAIT_BINS) + 1))
# What a stint's group and sums are made of (its INSERT returns these).
STINT_SUMMED = ("queue", "entered_at", "outcome", "exit_to", "entry", "wait_seconds")
# A leg's: its stint's queue and entered_at, its talk and cut wrap-up.
LEG_SUMMED = ("queue", "entered_at", "talk_seconds", "wrapup_cut_seconds")

_STINT_KEY = ("quarter", "queue", "node", "outcome", "exit_to", "entry", "sl_seconds", "short_seconds")
_STINT_SUMS = ("stints", "in_sl", "short", "wait_sum", "wait_max", *BIN_COLUMNS)
_WAIT_MAX = _STINT_SUMS.index("wait_max")
_LEG_KEY = ("quarter", "queue", "node")
_LEG_SUMS = ("legs", "talk_sum", "wrapup_sum")


@dataclass(frozen=True)
class Thresholds:
    """The site's thresholds the sums are counted with: each queue's service level and
    the short-abandon seconds (an ingestor without a site counts with the defaults)."""

    service_levels: Mapping[str, int] = field(default_factory=dict)
    short_abandon: int = DEFAULT_SHORT_ABANDON

    def of(self, queue: str) -> tuple[int, int]:
        return int(self.service_levels.get(queue, DEFAULT_SERVICE_LEVEL)), int(self.short_abandon)


def stint_sums(rows: Iterable[tuple], thresholds: Thresholds, sign: int = 1) -> dict[tuple, list[int]]:
    """Group key (without the node) -> sums, over stints as STINT_SUMMED tuples; sign -1
    takes them out again (wait_max is left as it is)."""
    out: dict[tuple, list[int]] = {}
    of = thresholds.of
    for queue, entered, outcome, exit_to, entry, wait in rows:
        sl, short = of(queue)
        key = (entered - entered % QUARTER, queue, outcome, exit_to or "", entry or "", sl, short)
        sums = out.get(key)
        if sums is None:
            sums = out[key] = [0] * len(_STINT_SUMS)
        sums[0] += sign
        sums[1] += sign * (wait <= sl)
        sums[2] += sign * (outcome == "abandoned" and wait < short)
        sums[3] += sign * wait
        if sign > 0 and wait > sums[4]:
            sums[4] = wait
        sums[5 + wait_bin(wait)] += sign
    return out


def leg_sums(rows: Iterable[tuple]) -> dict[tuple, list[int]]:
    """(quarter, queue) -> [legs, talk, wrap-up] over legs as LEG_SUMMED tuples."""
    out: dict[tuple, list[int]] = {}
    for queue, entered, talk, wrapup in rows:
        key = (entered - entered % QUARTER, queue)
        sums = out.get(key)
        if sums is None:
            sums = out[key] = [0, 0, 0]
        sums[0] += 1
        sums[1] += talk
        sums[2] += wrapup or 0
    return out


def _upsert(conn: Connection, table: str, key: tuple[str, ...], sums: tuple[str, ...], node: str,
            groups: dict[tuple, list[int]]) -> None:
    if not groups:
        return
    postgres = conn.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    larger = "GREATEST" if postgres else "max"
    columns = (*key, *sums)
    added = ", ".join(f"{c} = {larger}({table}.{c}, excluded.{c})" if c == "wait_max" else f"{c} = {table}.{c} + excluded.{c}"
                      for c in sums)
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
           f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}")
    conn.exec_driver_sql(sql, [(k[0], k[1], node, *k[2:], *v) for k, v in sorted(groups.items())])


# Advisory lock class of a node's quarter-hour sums (PostgreSQL), "sum".
_SUMS_LOCK = 0x73756D


def hold_sums(conn: Connection, node: str, exclusive: bool = False) -> None:
    """The node's sums lock, to the end of the transaction (PostgreSQL; SQLite has one
    writer at a time anyway). Every ingestor's batch takes it shared before it writes
    anything — two ingestors of one node still write side by side — and `books resum`
    takes it exclusive before it deletes and recounts the node's sums: the recount waits
    for the batches in flight to commit, then reads every stint and leg they wrote, and a
    batch that starts meanwhile waits for the recount to commit before it adds its rows
    to the recounted sums. Without it a batch whose stints the recount did not see yet
    (uncommitted) but whose new sum rows it did not delete (also uncommitted) could be
    counted twice, or its upsert deleted after the recount read past its stints."""
    if conn.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    conn.exec_driver_sql(f"SELECT {function}(%s, hashtext(%s))", (_SUMS_LOCK, node))


def merge_sums(into: dict[tuple, list[int]], more: dict[tuple, list[int]]) -> None:
    """`more`'s groups added into `into` (stint or leg sums alike): each sum added, the
    longest wait (a stint group's wait_max) kept as the larger."""
    for key, sums in more.items():
        have = into.get(key)
        if have is None:
            into[key] = sums
        else:
            for i, value in enumerate(sums):
                have[i] = max(have[i], value) if i == _WAIT_MAX else have[i] + value


def add_stints(conn: Connection, node: str, groups: dict[tuple, list[int]]) -> None:
    _upsert(conn, "books_queue_quarters", _STINT_KEY, _STINT_SUMS, node, groups)


def add_legs(conn: Connection, node: str, groups: dict[tuple, list[int]]) -> None:
    _upsert(conn, "books_leg_quarters", _LEG_KEY, _LEG_SUMS, node, groups)
