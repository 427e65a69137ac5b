"""Opening hours: weekly categories per weekday, dated exceptions first, in a timezone."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, order=True)
class TimeRange:
    """Minutes since midnight, [start, end)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def parse_time_range(text: str) -> TimeRange:
    m = _RANGE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a time range like 08:00-16:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} is not a valid time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts (a range cannot cross midnight: split it)")
    return TimeRange(start, end)


def expand_days(spec: str) -> list[str]:
    """'mon-fri,sun' -> ['mon', 'tue', 'wed', 'thu', 'fri', 'sun']"""
    days: list[str] = []
    for part in spec.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        i, j = DAYS.index(first), DAYS.index(last or first)
        if j < i:
            raise ValueError(f"day range {part!r} runs backwards")
        days.extend(DAYS[i : j + 1])
    return days


@dataclass(frozen=True)
class DayPlan:
    """Which category holds when, for one day."""

    ranges: tuple[tuple[TimeRange, str], ...]
    default: str

    def category_at(self, minute: int) -> str:
        for rng, category in self.ranges:
            if rng.start <= minute < rng.end:
                return category
        return self.default


class RangesOverlap(ValueError):
    """Two ranges of one day overlap; `later` is the one starting inside the other."""

    def __init__(self, earlier: tuple[str, TimeRange], later: tuple[str, TimeRange]):
        self.earlier, self.later = earlier, later
        super().__init__(f"{earlier[0]} {earlier[1]} overlaps {later[0]} {later[1]}")


def build_day_plan(ranges: dict[str, list[TimeRange]], default: str) -> DayPlan:
    """Raise RangesOverlap naming the two ranges if any overlap."""
    flat = sorted((rng, cat) for cat, rngs in ranges.items() for rng in rngs)
    for (a, cat_a), (b, cat_b) in zip(flat, flat[1:]):
        if b.start < a.end:
            raise RangesOverlap((cat_a, a), (cat_b, b))
    return DayPlan(tuple(flat), default)


@dataclass(frozen=True)
class DatedException:
    first: dt.date
    last: dt.date
    plan: DayPlan
    name: str = ""


@dataclass(frozen=True)
class HoursDecision:
    category: str
    local_time: dt.datetime
    reason: str


@dataclass
class OpeningHours:
    timezone: str
    week: dict[str, DayPlan]
    default: str
    exceptions: list[DatedException] = field(default_factory=list)

    def categories(self) -> set[str]:
        cats = {self.default}
        for plan in [*self.week.values(), *(e.plan for e in self.exceptions)]:
            cats.add(plan.default)
            cats.update(cat for _, cat in plan.ranges)
        return cats

    def decide(self, when: dt.datetime) -> HoursDecision:
        """Category at `when` (aware, or naive meaning local time in this timezone)."""
        tz = ZoneInfo(self.timezone)
        local = when.replace(tzinfo=tz) if when.tzinfo is None else when.astimezone(tz)
        minute = local.hour * 60 + local.minute
        stamp = local.strftime("%a %Y-%m-%d %H:%M %Z")
        for exc in self.exceptions:
            if exc.first <= local.date() <= exc.last:
                cat = exc.plan.category_at(minute)
                label = f" {exc.name!r}" if exc.name else ""
                return HoursDecision(cat, local, f"{stamp}: dated exception{label} ({exc.first}..{exc.last}) says {cat}")
        day = DAYS[local.weekday()]
        plan = self.week.get(day)
        if plan is None:
            return HoursDecision(self.default, local, f"{stamp}: no hours on {day}, default {self.default}")
        cat = plan.category_at(minute)
        return HoursDecision(cat, local, f"{stamp}: weekly hours on {day} say {cat}")
