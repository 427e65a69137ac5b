"""Queue stints summed up per queue and local hour or day: what the queue report is made of.

`tally_rows` does it in Python over report rows; `report_source.tally_books` does the same
in SQL GROUP BYs over the books' tables, so a month of a million calls is summed by the
database. Both give the same `{TallyKey: Tally}` (a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pbxctl.books.report_rows import AgentLeg, CallEvent, Stint
from pbxctl.books.report_window import ReportWindow

# Outcomes app_queue also counts as abandoned (record_abandoned, AMI QueueCallerAbandon).
ASTERISK_ABANDONED = ("abandoned", "timed_out", "exit_empty")
# Tallies of talk (from agent legs) and callbacks (from pbxctl's lines) carry no callers.
TALK, CALLBACK = "answered", "callback"
# Thresholds when the site says none: a queue's service level, the short-abandon seconds.
DEFAULT_SERVICE_LEVEL, DEFAULT_SHORT_ABANDON = 20, 5
# Wait-time distribution: the upper ends (seconds) of its bins; the last bin is open.
WAIT_BINS = (10, 20, 30, 60, 120, 300)


def wait_bin(wait: float) -> int:
    """Index into WAIT_BINS (len(WAIT_BINS) for longer waits)."""
    for i, upper in enumerate(WAIT_BINS):
        if wait < upper:
            return i
    return len(WAIT_BINS)


def wait_bin_labels() -> list[str]:
    lows = (0, *WAIT_BINS)
    return [f"{lo}-{hi}s" for lo, hi in zip(lows, WAIT_BINS)] + [f"{WAIT_BINS[-1]}s+"]


@dataclass(frozen=True, order=True)
class TallyKey:
    queue: str
    unit: int                     # local hour or day, as local seconds (ReportWindow.unit_of)
    outcome: str
    exit_to: str = ""             # "" when the caller did not go on elsewhere
    entry: str = ""               # entry number dialled, "" when unknown


@dataclass
class Tally:
    n: int = 0                    # stints
    in_sl: int = 0                # wait <= the queue's service level
    short: int = 0                # abandoned with wait < the short-abandon threshold
    wait_sum: float = 0.0
    wait_max: float = 0.0
    talked: int = 0               # agent legs
    talk_sum: float = 0.0
    wrapup_sum: float = 0.0
    callbacks: int = 0
    bins: list[int] = field(default_factory=lambda: [0] * (len(WAIT_BINS) + 1))


def tally_rows(
    stints: Iterable[Stint],
    legs: Iterable[AgentLeg],
    callbacks: Iterable[CallEvent],
    window: ReportWindow,
    service_levels: dict[str, int],
    short_abandon: int,
) -> dict[TallyKey, Tally]:
    out: dict[TallyKey, Tally] = {}

    def at(key: TallyKey) -> Tally:
        return out.setdefault(key, Tally())

    for s in stints:
        if window.contains(s.entered_at):
            t = at(TallyKey(s.queue, window.unit_of(s.entered_at), s.outcome, s.exit_to or "", s.entry_number or ""))
            t.n += 1
            t.in_sl += s.wait <= service_levels.get(s.queue, 20)
            t.short += s.outcome == "abandoned" and s.wait < short_abandon
            t.wait_sum += s.wait
            t.wait_max = max(t.wait_max, s.wait)
            t.bins[wait_bin(s.wait)] += 1
    for g in legs:
        if g.queue is not None and g.entered_at is not None and window.contains(g.entered_at):
            t = at(TallyKey(g.queue, window.unit_of(g.entered_at), TALK))
            t.talked += 1
            t.talk_sum += g.talk
            t.wrapup_sum += g.wrapup
    for e in callbacks:
        if e.kind == "callback" and e.queue and window.contains(e.at):
            at(TallyKey(e.queue, window.unit_of(e.at), CALLBACK)).callbacks += 1
    return out
