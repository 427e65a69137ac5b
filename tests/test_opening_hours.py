"""Opening hours: weekly plans, dated exceptions, time zones and daylight saving."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pbxctl.domain.opening_hours import (
    DAYS,
    DatedException,
    DayPlan,
    OpeningHours,
    TimeRange,
    build_day_plan,
    expand_days,
    parse_time_range,
)
from pbxctl.site.load import load_site

UTC = dt.timezone.utc
EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "example.yaml"


def tr(text: str) -> TimeRange:
    return parse_time_range(text)


def office() -> OpeningHours:
    """The example's office: mon-fri 08:00-16:00 with lunch 11:30-12:00, sat 10-14."""
    weekday = build_day_plan({"open": [tr("08:00-11:30"), tr("12:00-16:00")], "lunch": [tr("11:30-12:00")]}, "closed")
    saturday = build_day_plan({"open": [tr("10:00-14:00")]}, "closed")
    week = {day: weekday for day in expand_days("mon-fri")} | {"sat": saturday}
    exceptions = [
        DatedException(dt.date(2026, 12, 24), dt.date(2026, 12, 24), build_day_plan({"open": [tr("09:00-12:00")]}, "closed"), "Christmas Eve"),
        DatedException(dt.date(2026, 12, 25), dt.date(2026, 12, 26), build_day_plan({}, "closed"), "Christmas"),
        # a dated exception that opens a Sunday and a Saturday, all day, in another category
        DatedException(dt.date(2026, 6, 13), dt.date(2026, 6, 14), build_day_plan({}, "event"), ""),
    ]
    return OpeningHours("Europe/Oslo", week, "closed", exceptions)


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("08:00-16:00", 480, 960),
        ("8:00-16:00", 480, 960),
        (" 08:00 - 16:00 ", 480, 960),
        ("00:00-24:00", 0, 1440),
        ("23:59-24:00", 1439, 1440),
        ("11:30-12:00", 690, 720),
    ],
)
def test_parse_time_range(text, start, end):
    rng = parse_time_range(text)
    assert (rng.start, rng.end) == (start, end)


def test_time_range_prints_zero_padded():
    assert str(parse_time_range("8:05-9:00")) == "08:05-09:00"
    assert str(parse_time_range("00:00-24:00")) == "00:00-24:00"


@pytest.mark.parametrize(
    "text, message",
    [
        ("8-16", "'8-16' is not a time range like 08:00-16:00"),
        ("08:00", "'08:00' is not a time range like 08:00-16:00"),
        ("08.00-16.00", "'08.00-16.00' is not a time range like 08:00-16:00"),
        ("08:0-16:00", "'08:0-16:00' is not a time range like 08:00-16:00"),
        ("24:00-24:00", "'24:00-24:00' is not a valid time of day (00:00 to 24:00)"),
        ("08:60-09:00", "'08:60-09:00' is not a valid time of day (00:00 to 24:00)"),
        ("08:00-25:00", "'08:00-25:00' is not a valid time of day (00:00 to 24:00)"),
        ("08:00-24:30", "'08:00-24:30' is not a valid time of day (00:00 to 24:00)"),
        ("08:00-09:75", "'08:00-09:75' is not a valid time of day (00:00 to 24:00)"),
        ("16:00-08:00", "'16:00-08:00' ends before it starts (a range cannot cross midnight: split it)"),
        ("22:00-02:00", "'22:00-02:00' ends before it starts (a range cannot cross midnight: split it)"),
        ("08:00-08:00", "'08:00-08:00' ends before it starts (a range cannot cross midnight: split it)"),
    ],
)
def test_parse_time_range_errors(text, message):
    with pytest.raises(ValueError) as info:
        parse_time_range(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "spec, days",
    [
        ("mon", ["mon"]),
        ("mon-fri", ["mon", "tue", "wed", "thu", "fri"]),
        ("sat,sun", ["sat", "sun"]),
        ("mon-wed,fri", ["mon", "tue", "wed", "fri"]),
        ("mon - tue , sun", ["mon", "tue", "sun"]),
        ("mon-sun", list(DAYS)),
        ("sun-sun", ["sun"]),
    ],
)
def test_expand_days(spec, days):
    assert expand_days(spec) == days


def test_expand_days_backwards():
    with pytest.raises(ValueError) as info:
        expand_days("mon,fri-tue")
    assert str(info.value) == "day range 'fri-tue' runs backwards"


def test_build_day_plan_sorts_and_allows_touching_ranges():
    plan = build_day_plan({"open": [tr("12:00-16:00"), tr("08:00-11:30")], "lunch": [tr("11:30-12:00")]}, "closed")
    assert plan == DayPlan(
        ((tr("08:00-11:30"), "open"), (tr("11:30-12:00"), "lunch"), (tr("12:00-16:00"), "open")), "closed"
    )
    assert [plan.category_at(m) for m in (479, 480, 689, 690, 719, 720, 959, 960)] == [
        "closed", "open", "open", "lunch", "lunch", "open", "open", "closed",
    ]


@pytest.mark.parametrize(
    "ranges, message",
    [
        ({"open": ["08:00-16:00"], "lunch": ["11:30-12:00"]}, "open 08:00-16:00 overlaps lunch 11:30-12:00"),
        ({"open": ["08:00-12:00", "11:59-13:00"]}, "open 08:00-12:00 overlaps open 11:59-13:00"),
        ({"open": ["09:00-10:00"], "meeting": ["09:00-09:30"]}, "meeting 09:00-09:30 overlaps open 09:00-10:00"),
        ({"a": ["08:00-09:00"], "b": ["10:00-12:00"], "c": ["11:00-11:15"]}, "b 10:00-12:00 overlaps c 11:00-11:15"),
    ],
)
def test_build_day_plan_overlap(ranges, message):
    with pytest.raises(ValueError) as info:
        build_day_plan({cat: [tr(t) for t in texts] for cat, texts in ranges.items()}, "closed")
    assert str(info.value) == message


def test_categories():
    assert office().categories() == {"open", "lunch", "closed", "event"}


# --- decide -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when, category, reason",
    [
        # Wednesday 2026-06-03, summer time (CEST)
        (dt.datetime(2026, 6, 3, 7, 59), "closed", "Wed 2026-06-03 07:59 CEST: weekly hours on wed say closed"),
        (dt.datetime(2026, 6, 3, 8, 0), "open", "Wed 2026-06-03 08:00 CEST: weekly hours on wed say open"),
        (dt.datetime(2026, 6, 3, 11, 29), "open", "Wed 2026-06-03 11:29 CEST: weekly hours on wed say open"),
        (dt.datetime(2026, 6, 3, 11, 30), "lunch", "Wed 2026-06-03 11:30 CEST: weekly hours on wed say lunch"),
        (dt.datetime(2026, 6, 3, 11, 59, 59), "lunch", "Wed 2026-06-03 11:59 CEST: weekly hours on wed say lunch"),
        (dt.datetime(2026, 6, 3, 12, 0), "open", "Wed 2026-06-03 12:00 CEST: weekly hours on wed say open"),
        (dt.datetime(2026, 6, 3, 15, 59), "open", "Wed 2026-06-03 15:59 CEST: weekly hours on wed say open"),
        (dt.datetime(2026, 6, 3, 16, 0), "closed", "Wed 2026-06-03 16:00 CEST: weekly hours on wed say closed"),
        (dt.datetime(2026, 6, 3, 0, 0), "closed", "Wed 2026-06-03 00:00 CEST: weekly hours on wed say closed"),
        # weekend: Saturday has hours, Sunday none
        (dt.datetime(2026, 6, 6, 9, 59), "closed", "Sat 2026-06-06 09:59 CEST: weekly hours on sat say closed"),
        (dt.datetime(2026, 6, 6, 10, 0), "open", "Sat 2026-06-06 10:00 CEST: weekly hours on sat say open"),
        (dt.datetime(2026, 6, 6, 14, 0), "closed", "Sat 2026-06-06 14:00 CEST: weekly hours on sat say closed"),
        (dt.datetime(2026, 6, 7, 12, 0), "closed", "Sun 2026-06-07 12:00 CEST: no hours on sun, default closed"),
        # a single dated exception wins over the weekly plan of a Thursday
        (dt.datetime(2026, 12, 24, 8, 59), "closed", "Thu 2026-12-24 08:59 CET: dated exception 'Christmas Eve' (2026-12-24..2026-12-24) says closed"),
        (dt.datetime(2026, 12, 24, 9, 0), "open", "Thu 2026-12-24 09:00 CET: dated exception 'Christmas Eve' (2026-12-24..2026-12-24) says open"),
        (dt.datetime(2026, 12, 24, 11, 45), "open", "Thu 2026-12-24 11:45 CET: dated exception 'Christmas Eve' (2026-12-24..2026-12-24) says open"),
        (dt.datetime(2026, 12, 24, 12, 0), "closed", "Thu 2026-12-24 12:00 CET: dated exception 'Christmas Eve' (2026-12-24..2026-12-24) says closed"),
        (dt.datetime(2026, 12, 23, 12, 30), "open", "Wed 2026-12-23 12:30 CET: weekly hours on wed say open"),
        # a from/to range, both ends included: a Friday and a Saturday closed all day
        (dt.datetime(2026, 12, 25, 10, 0), "closed", "Fri 2026-12-25 10:00 CET: dated exception 'Christmas' (2026-12-25..2026-12-26) says closed"),
        (dt.datetime(2026, 12, 26, 11, 0), "closed", "Sat 2026-12-26 11:00 CET: dated exception 'Christmas' (2026-12-25..2026-12-26) says closed"),
        (dt.datetime(2026, 12, 28, 10, 0), "open", "Mon 2026-12-28 10:00 CET: weekly hours on mon say open"),
        # an exception without a name, on a weekend, with its own default category
        (dt.datetime(2026, 6, 13, 3, 0), "event", "Sat 2026-06-13 03:00 CEST: dated exception (2026-06-13..2026-06-14) says event"),
        (dt.datetime(2026, 6, 14, 23, 59), "event", "Sun 2026-06-14 23:59 CEST: dated exception (2026-06-13..2026-06-14) says event"),
        (dt.datetime(2026, 6, 15, 0, 0), "closed", "Mon 2026-06-15 00:00 CEST: weekly hours on mon say closed"),
    ],
)
def test_decide_naive_local_time(when, category, reason):
    decision = office().decide(when)
    assert (decision.category, decision.reason) == (category, reason)
    assert decision.local_time.replace(tzinfo=None) == when
    assert str(decision.local_time.tzinfo) == "Europe/Oslo"


def test_exceptions_are_looked_at_before_the_week():
    hours = office()
    thursday = dt.datetime(2026, 12, 24, 14, 0)  # open on a normal Thursday
    assert hours.week["thu"].category_at(14 * 60) == "open"
    assert hours.decide(thursday).category == "closed"
    hours.exceptions.clear()
    assert hours.decide(thursday).category == "open"


@pytest.mark.parametrize(
    "utc, local, category",
    [
        # Friday before the spring change: CET, UTC+1
        (dt.datetime(2026, 3, 27, 6, 59, tzinfo=UTC), "2026-03-27T07:59:00+01:00", "closed"),
        (dt.datetime(2026, 3, 27, 7, 0, tzinfo=UTC), "2026-03-27T08:00:00+01:00", "open"),
        # Monday after it: CEST, UTC+2, so the office opens one UTC hour earlier
        (dt.datetime(2026, 3, 30, 5, 59, tzinfo=UTC), "2026-03-30T07:59:00+02:00", "closed"),
        (dt.datetime(2026, 3, 30, 6, 0, tzinfo=UTC), "2026-03-30T08:00:00+02:00", "open"),
        (dt.datetime(2026, 3, 30, 13, 59, tzinfo=UTC), "2026-03-30T15:59:00+02:00", "open"),
        (dt.datetime(2026, 3, 30, 14, 0, tzinfo=UTC), "2026-03-30T16:00:00+02:00", "closed"),
        # Friday before the autumn change: still CEST
        (dt.datetime(2026, 10, 23, 6, 0, tzinfo=UTC), "2026-10-23T08:00:00+02:00", "open"),
        # Monday after it: CET again
        (dt.datetime(2026, 10, 26, 6, 59, tzinfo=UTC), "2026-10-26T07:59:00+01:00", "closed"),
        (dt.datetime(2026, 10, 26, 7, 0, tzinfo=UTC), "2026-10-26T08:00:00+01:00", "open"),
        # The UTC date is a Saturday evening, Oslo is already Sunday: Sunday has no hours.
        (dt.datetime(2026, 6, 6, 22, 30, tzinfo=UTC), "2026-06-07T00:30:00+02:00", "closed"),
        # The UTC date is a Wednesday night, Oslo is Thursday 24 December: the exception applies.
        (dt.datetime(2026, 12, 23, 23, 30, tzinfo=UTC), "2026-12-24T00:30:00+01:00", "closed"),
        (dt.datetime(2026, 12, 24, 8, 0, tzinfo=UTC), "2026-12-24T09:00:00+01:00", "open"),
    ],
)
def test_decide_converts_aware_datetimes(utc, local, category):
    decision = office().decide(utc)
    assert decision.local_time.isoformat() == local
    assert decision.category == category


def test_decide_converts_from_any_offset():
    new_york = dt.timezone(dt.timedelta(hours=-4))
    decision = office().decide(dt.datetime(2026, 6, 3, 2, 0, tzinfo=new_york))  # 08:00 in Oslo
    assert decision.local_time.isoformat() == "2026-06-03T08:00:00+02:00"
    assert decision.category == "open"


def night_hours() -> OpeningHours:
    """Open on Sundays between 01:00 and 03:30 local time (a night line)."""
    sunday = build_day_plan({"open": [tr("01:00-03:30")]}, "closed")
    return OpeningHours("Europe/Oslo", {"sun": sunday}, "closed")


@pytest.mark.parametrize(
    "utc, local, category, zone",
    [
        # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC)
        (dt.datetime(2026, 3, 28, 23, 59, tzinfo=UTC), "2026-03-29T00:59:00+01:00", "closed", "CET"),
        (dt.datetime(2026, 3, 29, 0, 0, tzinfo=UTC), "2026-03-29T01:00:00+01:00", "open", "CET"),
        (dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "2026-03-29T01:59:00+01:00", "open", "CET"),
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29T03:00:00+02:00", "open", "CEST"),
        (dt.datetime(2026, 3, 29, 1, 29, tzinfo=UTC), "2026-03-29T03:29:00+02:00", "open", "CEST"),
        (dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29T03:30:00+02:00", "closed", "CEST"),
        # 2026-10-25: clocks fall back from 03:00 CEST to 02:00 CET (01:00 UTC); 02:30 happens twice
        (dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC), "2026-10-25T01:00:00+02:00", "open", "CEST"),
        (dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25T02:30:00+02:00", "open", "CEST"),
        (dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25T02:30:00+01:00", "open", "CET"),
        (dt.datetime(2026, 10, 25, 2, 29, tzinfo=UTC), "2026-10-25T03:29:00+01:00", "open", "CET"),
        (dt.datetime(2026, 10, 25, 2, 30, tzinfo=UTC), "2026-10-25T03:30:00+01:00", "closed", "CET"),
    ],
)
def test_decide_across_daylight_saving_changes(utc, local, category, zone):
    decision = night_hours().decide(utc)
    assert decision.local_time.isoformat() == local
    assert decision.category == category
    assert f" {zone}: " in decision.reason


def test_open_minutes_follow_the_wall_clock_on_change_nights():
    """01:00-03:30 local is 150 real minutes on a normal Sunday, 90 when 02:00-03:00 is
    skipped in March, 210 when 02:00-03:00 happens twice in October."""

    def open_minutes(day: dt.date) -> int:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) - dt.timedelta(hours=3)
        return sum(
            night_hours().decide(start + dt.timedelta(minutes=m)).category == "open" for m in range(0, 8 * 60)
        )

    assert open_minutes(dt.date(2026, 3, 29)) == 90
    assert open_minutes(dt.date(2026, 6, 7)) == 150
    assert open_minutes(dt.date(2026, 10, 25)) == 210


# --- the example site -------------------------------------------------------------------


@pytest.mark.parametrize(
    "when, category",
    [
        (dt.datetime(2026, 6, 1, 11, 45), "lunch"),
        (dt.datetime(2026, 6, 1, 9, 0), "open"),
        (dt.datetime(2026, 6, 6, 13, 0), "open"),
        (dt.datetime(2026, 6, 7, 13, 0), "closed"),
        (dt.datetime(2026, 12, 24, 10, 0), "open"),
        (dt.datetime(2026, 12, 24, 13, 0), "closed"),
        (dt.datetime(2026, 12, 25, 10, 0), "closed"),
        (dt.datetime(2026, 12, 26, 11, 0), "closed"),  # a Saturday that would be open
        (dt.datetime(2027, 1, 1, 10, 0), "closed"),  # a Friday
        (dt.datetime(2027, 1, 4, 10, 0), "open"),
    ],
)
def test_example_site_office_hours(when, category):
    hours = load_site(EXAMPLE).hours["office"]
    local = hours.decide(when)
    assert local.category == category
    as_utc = (when - local.local_time.utcoffset()).replace(tzinfo=UTC)
    assert hours.decide(as_utc).category == category
