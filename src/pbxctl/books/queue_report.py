"""The queue report: per queue and interval, what happened to the callers offered to it.

A pure function of the quarter-hour tallies (queue_tally.py) and the report window.

Counting a call that visits several queues (overflow A→B, a transfer into another queue):
each queue counts its own stint — the caller is offered, and timed out, in A (overflowed
to queue:B) and offered, and answered or not, in B (overflow_in). The "all queues" rows add
the stints up; offered − overflow_in there is the number of callers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pbxctl.books.queue_tally import ASTERISK_ABANDONED, Tally, TallyKey, WaitKey, wait_bin_labels
from pbxctl.books.report_window import ReportWindow

ALL_QUEUES = "(all queues)"

DEFINITIONS = {
    "service_level": "answered_in_sl / (offered - short_abandoned) x 100: answered within the queue's "
    "service_level seconds, over every caller who entered the queue (answered, abandoned, timed out, "
    "left when empty, other) except abandons shorter than short_abandon seconds",
    "asterisk_sl": "Asterisk ServiceLevelPerf = callscompletedinsl / callscompleted x 100: answered within "
    "the service level over answered calls only",
    "asterisk_sl2": "Asterisk ServiceLevelPerf2 = (callscompletedinsl + callsabandonedinsl) / "
    "(callscompleted + callsabandoned) x 100: answered or given up within the service level, over answered "
    "and abandoned; app_queue counts timeouts and leave-when-empty as abandoned too",
    "wait": "seconds from entering the queue until answered or leaving it; within SL means wait <= service_level",
    "offered": "callers who entered the queue (callers refused at the door are `refused`, not offered)",
}
MULTI_STINT = (
    "a call that overflows from queue A into queue B is offered in both: A counts it timed out (or exit_empty) "
    "and overflowed to queue:B, B counts it offered and how it ended there (overflow_in). The all-queues row adds "
    "the stints up; callers = offered - overflow_in"
)


@dataclass
class _Cell:
    by_outcome: Counter = field(default_factory=Counter)
    total: Tally = field(default_factory=Tally)
    answered: Tally = field(default_factory=Tally)
    asterisk_abandoned: Tally = field(default_factory=Tally)
    short: int = 0
    overflow_to: Counter = field(default_factory=Counter)
    entries: Counter = field(default_factory=Counter)
    exits: Counter = field(default_factory=Counter)

    def add(self, key: TallyKey, t: Tally) -> None:
        self.total.talked += t.talked
        self.total.talk_sum += t.talk_sum
        self.total.wrapup_sum += t.wrapup_sum
        self.total.callbacks += t.callbacks
        if not t.n:
            return
        self.by_outcome[key.outcome] += t.n
        if key.outcome == "refused":
            self.exits["refused" + (f" -> {key.exit_to}" if key.exit_to else "")] += t.n
            if key.exit_to:
                self.overflow_to[key.exit_to] += t.n
            return
        self.total.n += t.n
        self.total.wait_sum += t.wait_sum
        self.total.wait_max = max(self.total.wait_max, t.wait_max)
        self.short += t.short
        if key.outcome == "answered":
            self.answered.add(t)
        if key.outcome in ASTERISK_ABANDONED:
            self.asterisk_abandoned.add(t)
        if key.exit_to and key.outcome != "answered":
            self.overflow_to[key.exit_to] += t.n
        self.entries[key.entry or "(unknown)"] += t.n
        self.exits[key.outcome + (f" -> {key.exit_to}" if key.exit_to and key.outcome != "answered" else "")] += t.n


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole > 0 else None


def _avg(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None


def _row(interval: str, queue: str, cell: _Cell, overflow_in: int) -> dict:
    t, ans, ab = cell.total, cell.answered, cell.asterisk_abandoned
    offered = t.n
    return {
        "interval": interval,
        "queue": queue,
        "offered": offered,
        "answered": ans.n,
        "answered_in_sl": ans.in_sl,
        "abandoned": cell.by_outcome["abandoned"],
        "short_abandoned": cell.short,
        "timed_out": cell.by_outcome["timed_out"],
        "exit_empty": cell.by_outcome["exit_empty"],
        "exit_key": cell.by_outcome["exit_key"],
        "refused": cell.by_outcome["refused"],
        "lost": cell.by_outcome["lost"],
        "overflowed": sum(cell.overflow_to.values()),
        "overflow_to": dict(sorted(cell.overflow_to.items())),
        "overflow_in": overflow_in,
        "callers": offered - overflow_in,
        "callbacks_requested": t.callbacks,
        "service_level_pct": _pct(ans.in_sl, offered - cell.short),
        "asterisk_sl_pct": _pct(ans.in_sl, ans.n),
        "asterisk_sl2_pct": _pct(ans.in_sl + ab.in_sl, ans.n + ab.n),
        "avg_wait": _avg(t.wait_sum, offered),
        "avg_wait_answered": _avg(ans.wait_sum, ans.n),
        "longest_wait": round(t.wait_max, 1) if offered else None,
        "avg_talk": _avg(t.talk_sum, t.talked),
        "avg_wrapup": _avg(t.wrapup_sum, t.talked),
        "entry_paths": dict(cell.entries.most_common()),
        "exit_paths": dict(cell.exits.most_common()),
    }


def _overflow_in(cells: dict, interval: str, queues: list[str]) -> dict[str, int]:
    """Stints each queue got by overflow from the other selected queues."""
    into = {q: 0 for q in queues}
    for q in queues:
        for dest, n in cells.get((interval, q), _Cell()).overflow_to.items():
            target = dest.removeprefix("queue:")
            if dest.startswith("queue:") and target in into:
                into[target] += n
    into[ALL_QUEUES] = sum(into.values())
    return into


def queue_report(
    tallies: dict[TallyKey, Tally],
    window: ReportWindow,
    queues: list[str],
    service_levels: dict[str, int],
    short_abandon: int,
    target_pct: float,
    waits: dict[WaitKey, int] | None = None,
) -> dict:
    """The report document (JSON-ready). `queues`: the queues to show, in order."""
    wanted = set(queues)
    cells: dict[tuple[str, str], _Cell] = {}
    for key, t in sorted(tallies.items()):
        if key.queue not in wanted:
            continue
        bucket = window.bucket_of_slot(key.slot)
        if bucket is None:
            continue
        for interval in {bucket, "total"}:
            for queue in (key.queue, ALL_QUEUES):
                cells.setdefault((interval, queue), _Cell()).add(key, t)
    order = [*queues, ALL_QUEUES]

    def rows_of(interval: str) -> list[dict]:
        into = _overflow_in(cells, interval, queues)
        return [_row(interval, q, cells.get((interval, q), _Cell()), into[q]) for q in order]

    rows = [row for interval in window.buckets() for row in rows_of(interval)]
    totals = rows_of("total")
    labels = wait_bin_labels()
    distribution = {"bins": labels, "answered": [0] * len(labels), "unanswered": [0] * len(labels)}
    for key, n in sorted((waits or {}).items()):
        if window.bucket_of_slot(key.slot) is not None:
            distribution["answered" if key.answered else "unanswered"][key.bin] += n
    return {
        "report": "queues",
        "window": window.describe(),
        "queues": {q: {"service_level": service_levels.get(q, 20)} for q in queues},
        "short_abandon": short_abandon,
        "service_level_target_pct": target_pct,
        "definitions": DEFINITIONS,
        "multi_stint": MULTI_STINT,
        "rows": rows,
        "totals": totals,
        "wait_distribution": distribution,
    }
