"""Which stretch of time a report covers and how it is cut up, in one timezone.

The window is given in local dates/times of an hours set's timezone; the books hold UTC.
Buckets (hour, day, week from Monday, month) are local too, so a day is a local day
across a DST change (23 or 25 hours). Time-of-day and weekday filters look at the local
time a caller entered the queue.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from pbxctl.domain.opening_hours import DAYS, TimeRange, expand_days, parse_time_range

INTERVALS = ("hour", "day", "week", "month", "total")
UTC = dt.timezone.utc
# The books are tallied in quarter hours of UTC: every timezone's offset is a multiple of
# 15 minutes, so each quarter falls wholly into one local hour, day, week or month.
SLOT_SECONDS = 900


class ReportError(ValueError):
    """A report request that makes no sense (the message says why)."""


@dataclass(frozen=True)
class ReportWindow:
    start: dt.datetime            # local, aware, inclusive
    end: dt.datetime              # local, aware, exclusive
    tz: str
    interval: str = "day"
    weekdays: frozenset[str] = frozenset(DAYS)
    time_of_day: TimeRange | None = None

    @property
    def start_epoch(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_epoch(self) -> int:
        return int(self.end.timestamp())

    def contains(self, epoch: int) -> bool:
        """Inside the window and let through by the weekday / time-of-day filters."""
        return self.start_epoch <= epoch < self.end_epoch and _bucket(self, epoch) is not None

    def bucket_of(self, epoch: int) -> str | None:
        """The local bucket label of a Unix time, or None when a filter leaves it out."""
        return _bucket(self, epoch)

    def bucket_of_slot(self, slot: int) -> str | None:
        return _bucket(self, slot * SLOT_SECONDS)

    def buckets(self) -> list[str]:
        """Every bucket label of the window in order (also the empty ones)."""
        if self.interval == "total":
            return ["total"]
        labels: list[str] = []
        step = dt.timedelta(hours=1) if self.interval == "hour" else dt.timedelta(days=1)
        at = self.start.astimezone(UTC)
        end = self.end.astimezone(UTC)
        while at < end:
            label = _label(self.interval, at.astimezone(ZoneInfo(self.tz)))
            if not labels or labels[-1] != label:
                labels.append(label)
            at += step
        return labels

    def describe(self) -> dict:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "timezone": self.tz,
            "interval": self.interval,
            "weekdays": [d for d in DAYS if d in self.weekdays],
            "time_of_day": str(self.time_of_day) if self.time_of_day else None,
        }


def _label(interval: str, local: dt.datetime) -> str:
    if interval == "hour":
        # The hour that repeats when DST ends is its own bucket.
        return local.strftime("%Y-%m-%d %H:00") + (" (2nd)" if local.fold else "")
    if interval == "day":
        return local.strftime("%Y-%m-%d")
    if interval == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if interval == "month":
        return local.strftime("%Y-%m")
    return "total"


@lru_cache(maxsize=200_000)
def _bucket(window: ReportWindow, epoch: int) -> str | None:
    local = dt.datetime.fromtimestamp(epoch, ZoneInfo(window.tz))
    if DAYS[local.weekday()] not in window.weekdays:
        return None
    if window.time_of_day is not None:
        minute = local.hour * 60 + local.minute
        if not window.time_of_day.start <= minute < window.time_of_day.end:
            return None
    return _label(window.interval, local)


_WHEN = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2})?$")


def parse_when(text: str, tz: str, what: str) -> dt.datetime:
    """`2026-12-01` (midnight) or `2026-12-01 08:30`, local to tz."""
    if not _WHEN.match(text.strip()):
        raise ReportError(f"{what} {text!r} is not a date like 2026-12-01 or 2026-12-01 08:30")
    try:
        naive = dt.datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError as exc:
        raise ReportError(f"{what} {text!r}: {exc}") from None
    return naive.replace(tzinfo=ZoneInfo(tz))


def make_window(
    start: str,
    end: str | None,
    tz: str,
    interval: str = "day",
    weekdays: str | None = None,
    time_of_day: str | None = None,
) -> ReportWindow:
    """The window from --from/--to text. A bare --to date includes that whole day."""
    if interval not in INTERVALS:
        raise ReportError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
    first = parse_when(start, tz, "--from")
    if end is None:
        last = first + dt.timedelta(days=1)
    else:
        last = parse_when(end, tz, "--to")
        if len(end.strip()) == 10:
            last = (last.replace(tzinfo=None) + dt.timedelta(days=1)).replace(tzinfo=ZoneInfo(tz))
    if last <= first:
        raise ReportError(f"--from {start} is not before --to {end}")
    days = frozenset(DAYS)
    if weekdays:
        try:
            days = frozenset(expand_days(weekdays.lower()))
        except ValueError as exc:
            raise ReportError(f"--weekdays {weekdays!r}: {exc} (use e.g. mon-fri or sat,sun)") from None
    tod = None
    if time_of_day:
        try:
            tod = parse_time_range(time_of_day)
        except ValueError as exc:
            raise ReportError(f"--time {exc}") from None
        if tod.start % 15 or tod.end % 15:
            raise ReportError(f"--time {time_of_day!r}: the books are tallied in quarter hours; use :00, :15, :30 or :45")
    return ReportWindow(first, last, tz, interval, days, tod)


def period_window(period: str, today: dt.date, tz: str, interval: str) -> ReportWindow:
    """yesterday / last_week (Monday to Sunday) / last_month, seen from local `today`."""
    if period == "yesterday":
        first = today - dt.timedelta(days=1)
        last = today
    elif period == "last_week":
        monday = today - dt.timedelta(days=today.weekday())
        first, last = monday - dt.timedelta(days=7), monday
    elif period == "last_month":
        last = today.replace(day=1)
        first = (last - dt.timedelta(days=1)).replace(day=1)
    else:
        raise ReportError(f"period {period!r} is not one of yesterday, last_week, last_month")
    zone = ZoneInfo(tz)
    return ReportWindow(
        dt.datetime.combine(first, dt.time(), zone), dt.datetime.combine(last, dt.time(), zone), tz, interval
    )
