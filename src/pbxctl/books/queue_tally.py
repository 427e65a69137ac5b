"""Queue stints summed up per queue and UTC quarter hour: what the queue report is made of.

`tally_rows` does it in Python over report rows; `report_source.tally_books` does the same
in SQL GROUP BYs over the books' tables, so a month of a million calls is summed by the
database. Both give the same `{TallyKey: Tally}` (a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from pbxctl.books.report_rows import AgentLeg, CallEvent, Stint
from pbxctl.books.report_window import SLOT_SECONDS, ReportWindow

# Outcomes app_queue also counts as abandoned (record_abandoned, AMI QueueCallerAbandon).
ASTERISK_ABANDONED = ("abandoned", "timed_out", "exit_empty")
# Tallies of talk (from agent legs) and callbacks (from pbxctl's lines) carry no callers.
TALK, CALLBACK = "answered", "callback"


@dataclass(frozen=True, order=True)
class TallyKey:
    queue: str
    slot: int                     # UTC Unix seconds // SLOT_SECONDS
    outcome: str
    exit_to: str = ""             # "" when the caller did not go on elsewhere
    entry: str = ""               # entry number dialled, "" when unknown


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
class WaitKey:
    slot: int
    bin: int
    answered: bool


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

    def add(self, other: "Tally") -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, max(mine, theirs) if f.name == "wait_max" else mine + theirs)


def tally_rows(
    stints: Iterable[Stint],
    legs: Iterable[AgentLeg],
    callbacks: Iterable[CallEvent],
    window: ReportWindow,
    service_levels: dict[str, int],
    short_abandon: int,
) -> dict[TallyKey, Tally]:
    start, end = window.start_epoch, window.end_epoch
    out: dict[TallyKey, Tally] = {}

    def at(key: TallyKey) -> Tally:
        return out.setdefault(key, Tally())

    for s in stints:
        if start <= s.entered_at < end:
            t = at(TallyKey(s.queue, s.entered_at // SLOT_SECONDS, s.outcome, s.exit_to or "", s.entry_number or ""))
            t.n += 1
            t.in_sl += s.wait <= service_levels.get(s.queue, 20)
            t.short += s.outcome == "abandoned" and s.wait < short_abandon
            t.wait_sum += s.wait
            t.wait_max = max(t.wait_max, s.wait)
    for g in legs:
        if g.queue is not None and g.entered_at is not None and start <= g.entered_at < end:
            t = at(TallyKey(g.queue, g.entered_at // SLOT_SECONDS, TALK))
            t.talked += 1
            t.talk_sum += g.talk
            t.wrapup_sum += g.wrapup
    for e in callbacks:
        if e.kind == "callback" and e.queue and start <= e.at < end:
            at(TallyKey(e.queue, e.at // SLOT_SECONDS, CALLBACK)).callbacks += 1
    return out


def wait_rows(stints: Iterable[Stint], window: ReportWindow, queues: list[str]) -> dict[WaitKey, int]:
    """How long callers waited (offered stints of the queues), by quarter hour and bin."""
    out: dict[WaitKey, int] = {}
    wanted = set(queues)
    for s in stints:
        if s.queue in wanted and s.outcome != "refused" and window.start_epoch <= s.entered_at < window.end_epoch:
            key = WaitKey(s.entered_at // SLOT_SECONDS, wait_bin(s.wait), s.outcome == "answered")
            out[key] = out.get(key, 0) + 1
    return out
