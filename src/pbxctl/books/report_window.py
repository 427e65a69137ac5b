"""Which stretch of time a report covers and how it is cut up, in one timezone.

The window is given in local dates/times of an hours set's timezone; the books hold UTC.
Buckets (hour, day, week from Monday, month) are local too, so a day is a local day
across a DST change (23 or 25 hours; the hour that repeats when DST ends is one local
hour bucket holding both). Time-of-day and weekday filters look at the local
time a caller entered the queue.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from bisect import bisect_right
from functools import lru_cache
from zoneinfo import ZoneInfo

from pbxctl.domain.opening_hours import DAYS, TimeRange, expand_days, parse_time_range

INTERVALS = ("hour", "day", "week", "month", "total")
UTC = dt.timezone.utc
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


class ReportError(ValueError):
    """A report request that makes no sense (the message says why)."""


@dataclass(frozen=True)
class ReportWindow:
    """Local time is counted as `epoch + offset(epoch)` seconds, the offset being the
    timezone's UTC offset at that instant (piecewise constant over the window: it changes
    at DST). The database computes the same number (`sql_local`), so it can group by
    local hour or day itself."""

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

    @property
    def grain(self) -> int:
        """Seconds of local time the books are grouped by: hours for an hourly report, else days."""
        return 3600 if self.interval == "hour" else 86400

    def offsets(self) -> tuple[tuple[int, int], ...]:
        """((from_epoch, utc_offset_seconds), ...) covering the window, first from its start."""
        return _offsets(self.tz, self.start_epoch, self.end_epoch)

    def local(self, epoch: int) -> int:
        offsets = self.offsets()
        i = bisect_right(offsets, (epoch, 1 << 40)) - 1
        return epoch + offsets[max(i, 0)][1]

    def passes(self, local: int) -> bool:
        """The weekday and time-of-day filters, on local seconds."""
        if len(self.weekdays) < 7 and DAYS[(local // 86400 + 3) % 7] not in self.weekdays:
            return False
        if self.time_of_day is not None:
            minute = local % 86400 // 60
            return self.time_of_day.start <= minute < self.time_of_day.end
        return True

    def contains(self, epoch: int) -> bool:
        """Inside the window and let through by the weekday / time-of-day filters."""
        return self.start_epoch <= epoch < self.end_epoch and self.passes(self.local(epoch))

    def unit_of(self, epoch: int) -> int:
        """The local hour or day (as local seconds at its start) an instant falls in."""
        return self.local(epoch) // self.grain * self.grain

    def label_of_unit(self, unit: int) -> str:
        return _label(self.interval, _NAIVE_EPOCH + dt.timedelta(seconds=unit))

    def bucket_of(self, epoch: int) -> str | None:
        """The local bucket label of a Unix time, or None when a filter leaves it out."""
        local = self.local(epoch)
        return _label(self.interval, _NAIVE_EPOCH + dt.timedelta(seconds=local)) if self.passes(local) else None

    def buckets(self) -> list[str]:
        """Every bucket label of the window in order (also the empty ones)."""
        if self.interval == "total":
            return ["total"]
        labels: list[str] = []
        for epoch in range(self.start_epoch, self.end_epoch, 900):
            label = self.label_of_unit(self.unit_of(epoch))
            if not labels or labels[-1] != label:
                labels.append(label)
        return labels

    # -- the same arithmetic in SQL (integers only: SQLite and PostgreSQL alike)
    def sql_local(self, column: str) -> str:
        offsets = self.offsets()
        if len(offsets) == 1:
            return f"({column} + {offsets[0][1]})"
        whens = " ".join(f"WHEN {column} < {nxt} THEN {off}" for (_, off), (nxt, _) in zip(offsets, offsets[1:]))
        return f"({column} + CASE {whens} ELSE {offsets[-1][1]} END)"

    def sql_unit(self, column: str) -> str:
        return f"({self.sql_local(column)} / {self.grain} * {self.grain})"

    def sql_filters(self, column: str) -> str:
        """` AND ...` for the weekday and time-of-day filters ('' without filters)."""
        local = self.sql_local(column)
        out = ""
        if len(self.weekdays) < 7:
            days = ", ".join(str(DAYS.index(d)) for d in sorted(self.weekdays, key=DAYS.index))
            out += f" AND ({local} / 86400 + 3) % 7 IN ({days})"
        if self.time_of_day is not None:
            out += (f" AND {local} % 86400 >= {self.time_of_day.start * 60}"
                    f" AND {local} % 86400 < {self.time_of_day.end * 60}")
        return out

    def on_quarter_hours(self) -> bool:
        """Whether the window is made of whole UTC quarter hours that each lie in one local
        hour and in or out of the time-of-day filter: its ends and UTC offsets (and their
        changes) on quarter hours, the filter's times too. Every timezone in use today
        qualifies; historical local mean times (e.g. +00:19:32) do not."""
        if self.start_epoch % 900 or self.end_epoch % 900:
            return False
        if any(at % 900 or offset % 900 for at, offset in self.offsets()):
            return False
        tod = self.time_of_day
        return tod is None or (tod.start % 15 == 0 and tod.end % 15 == 0)

    def describe(self) -> dict:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "timezone": self.tz,
            "interval": self.interval,
            "weekdays": [d for d in DAYS if d in self.weekdays],
            "time_of_day": str(self.time_of_day) if self.time_of_day else None,
        }


@lru_cache(maxsize=256)
def _offsets(tz: str, start: int, end: int) -> tuple[tuple[int, int], ...]:
    zone = ZoneInfo(tz)

    def offset(epoch: int) -> int:
        return int(dt.datetime.fromtimestamp(epoch, zone).utcoffset().total_seconds())

    # Offsets change on whole quarter hours everywhere: a 15-minute scan finds every change.
    out = [(start, offset(start))]
    for epoch in range(start - start % 900 + 900, end, 900):
        value = offset(epoch)
        if value != out[-1][1]:
            out.append((epoch, value))
    return tuple(out)


def _label(interval: str, local: dt.datetime) -> str:
    if interval == "hour":
        return local.strftime("%Y-%m-%d %H:00")
    if interval == "day":
        return local.strftime("%Y-%m-%d")
    if interval == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if interval == "month":
        return local.strftime("%Y-%m")
    return "total"


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
