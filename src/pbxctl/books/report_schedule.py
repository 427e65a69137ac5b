"""When a scheduled report is due: `next_run` is a pure function of the job's `at`
('mon 07:00', 'daily 06:30', '1st 07:00'), its timezone and the time now."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from pbxctl.domain.opening_hours import DAYS, expand_days

_AT = re.compile(r"^\s*(\S+)\s+(\d{1,2}):(\d{2})\s*$")


def parse_at(text: str) -> tuple[frozenset[str] | None, int]:
    """'mon 07:00' -> ({'mon'}, 420); 'daily 07:00' -> (all days, 420); '1st 07:00' ->
    (None, 420): None means the first day of each month."""
    m = _AT.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a time like 'mon 07:00', 'daily 06:30', 'mon-fri 07:00' or '1st 07:00'")
    days, hour, minute = m.group(1).lower(), int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    if days == "1st":
        return None, hour * 60 + minute
    if days == "daily":
        days = "mon-sun"
    try:
        return frozenset(expand_days(days)), hour * 60 + minute
    except ValueError:
        raise ValueError(f"{text!r}: {days!r} is not daily, 1st or days like mon, mon-fri, sat,sun") from None




def next_run(at: str, tz: str, after: dt.datetime) -> dt.datetime:
    """The first local time strictly after `after` that `at` names (aware, in tz). A time
    that DST skips runs at the first valid instant after it."""
    days, minute = parse_at(at)
    zone = ZoneInfo(tz)
    local = after.astimezone(zone)
    for offset in range(0, 64):
        day = local.date() + dt.timedelta(days=offset)
        if days is None and day.day != 1:
            continue
        if days is not None and DAYS[day.weekday()] not in days:
            continue
        wall = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
        when = wall.replace(tzinfo=zone)
        # Normalise a wall time DST skipped (02:30 on the spring day) to a real instant.
        when = when.astimezone(dt.timezone.utc).astimezone(zone)
        if when > after:
            return when
    raise ValueError(f"{at!r} never comes")  # parse_at only accepts times that come
