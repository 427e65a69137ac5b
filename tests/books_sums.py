"""The books' quarter-hour sums as stored, and as counted again from the stints and legs
the books hold now: the two must agree after any sequence of writes."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text

from pbxctl.books.quarter_sums import BIN_COLUMNS, QUARTER, Thresholds, stint_sums

SUMS = ("stints", "in_sl", "short", "wait_sum", *BIN_COLUMNS)
REPO = Path(__file__).resolve().parent.parent


def generated(tmp_path: Path, calls: int, seed: int) -> Path:
    """A queue_log of `calls` calls from scripts/gen_queue_log.py (the benchmark's shape)."""
    path = tmp_path / f"queue_log.{seed}"
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_queue_log.py"), "--calls", str(calls), "--seed",
                    str(seed), "--out", str(path)], check=True, capture_output=True)
    return path


def stored(engine) -> tuple[dict, dict, dict]:
    """(stint groups without their wait_max, longest wait per node/queue/quarter, leg groups);
    groups whose stints all moved to another group (n = 0) left out."""
    with engine.connect() as conn:
        groups = {tuple(row[:8]): tuple(row[8:]) for row in conn.execute(text(
            "SELECT node, quarter, queue, outcome, exit_to, entry, sl_seconds, short_seconds, "
            f"{', '.join(SUMS)} FROM books_queue_quarters"))}
        longest = {tuple(row[:3]): row[3] for row in conn.execute(text(
            "SELECT node, quarter, queue, MAX(wait_max) FROM books_queue_quarters WHERE stints > 0 "
            "GROUP BY node, quarter, queue"))}
        legs = {tuple(row[:3]): tuple(row[3:]) for row in conn.execute(text(
            "SELECT node, quarter, queue, legs, talk_sum, wrapup_sum FROM books_leg_quarters"))}
    return {k: v for k, v in groups.items() if v[0]}, longest, legs


def recounted(engine, thresholds: Thresholds) -> tuple[dict, dict, dict]:
    """What `stored` would give for the stints and legs in the books now."""
    groups: dict = {}
    longest: dict = defaultdict(int)
    legs: dict = defaultdict(lambda: [0, 0, 0])
    with engine.connect() as conn:
        by_node = defaultdict(list)
        for node, *row in conn.execute(text(
                "SELECT node, queue, entered_at, outcome, exit_to, entry, wait_seconds FROM books_queue_stints")):
            by_node[node].append(tuple(row))
        for node, rows in by_node.items():
            for key, sums in stint_sums(rows, thresholds).items():
                groups[(node, *key)] = (*sums[:4], *sums[5:])
                longest[(node, key[0], key[1])] = max(longest[(node, key[0], key[1])], sums[4])
        for node, queue, entered, talk, cut in conn.execute(text(
                "SELECT node, queue, entered_at, talk_seconds, wrapup_cut_seconds FROM books_agent_legs")):
            sums = legs[(node, entered - entered % QUARTER, queue)]
            sums[0] += 1
            sums[1] += talk
            sums[2] += cut or 0
    return groups, dict(longest), {k: tuple(v) for k, v in legs.items()}


def assert_sums_agree(engine, thresholds: Thresholds = Thresholds()) -> None:
    have, want = stored(engine), recounted(engine, thresholds)
    assert want[0], "no stints in the books: nothing was checked"
    for name, mine, theirs in zip(("stint groups", "longest waits", "leg groups"), have, want):
        assert mine == theirs, name
