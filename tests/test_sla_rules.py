"""SLA rules: hold, gaps, active hours, cool-down, every kind and their messages."""

from __future__ import annotations

import datetime as dt

import pytest

from pbxctl.domain.opening_hours import OpeningHours, build_day_plan, expand_days, parse_time_range
from pbxctl.domain.sla_rules import (
    AlertEvent,
    QueueSample,
    SlaRule,
    SlaWatch,
    active_during,
    format_duration,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def sample(t: float, queue: str = "support", wait: int = 0, waiting: int = 0, logged_in: int = 3) -> QueueSample:
    return QueueSample(queue, at(t), wait, waiting, logged_in)


def wait_rule(**kw) -> SlaRule:
    args = dict(name="support_wait", queue="support", kind="longest_wait_over", threshold=120, hold=120, cooldown=900)
    return SlaRule(**(args | kw))


def feed(watch: SlaWatch, samples: list[QueueSample]) -> list[tuple[float, AlertEvent]]:
    """Every event with the sample time (seconds after T0) that produced it."""
    out = []
    for s in samples:
        out.extend(((s.at - T0).total_seconds(), e) for e in watch.observe(s))
    return out


def kinds(events: list[tuple[float, AlertEvent]]) -> list[tuple[float, str]]:
    return [(t, e.kind) for t, e in events]


# --- hold ----------------------------------------------------------------------------------


def test_fires_once_the_condition_has_held_for_hold_and_not_before():
    watch = SlaWatch([wait_rule()])
    events = feed(watch, [sample(t, wait=200 + t) for t in range(0, 300, 10)])
    assert kinds(events) == [(120, "alert")]
    event = events[0][1]
    assert (event.rule, event.queue, event.value, event.threshold) == ("support_wait", "support", 320, 120)
    assert (event.since, event.at) == (at(0), at(120))
    assert event.message == "support: longest wait 320 s > 120 s for 2 min"
    assert watch.firing() == [("support", "support_wait")]


def test_a_clearing_sample_restarts_the_hold():
    watch = SlaWatch([wait_rule()])
    samples = [sample(0, wait=200), sample(60, wait=200), sample(100, wait=10), sample(110, wait=200), sample(170, wait=200), sample(230, wait=200)]
    assert kinds(feed(watch, samples)) == [(230, "alert")]


def test_hold_zero_fires_at_the_first_breaking_sample():
    watch = SlaWatch([wait_rule(hold=0)])
    assert kinds(feed(watch, [sample(0, wait=100), sample(5, wait=121)])) == [(5, "alert")]


def test_threshold_itself_is_not_a_breach():
    watch = SlaWatch([wait_rule(hold=0)])
    assert feed(watch, [sample(0, wait=120), sample(5, wait=120)]) == []


def test_samples_of_other_queues_are_ignored():
    watch = SlaWatch([wait_rule(hold=0)])
    assert feed(watch, [sample(0, queue="sales", wait=999)]) == []


def test_late_or_repeated_samples_do_not_rewind():
    watch = SlaWatch([wait_rule()])
    events = feed(watch, [sample(0, wait=200), sample(60, wait=200), sample(30, wait=10), sample(60, wait=10), sample(120, wait=200)])
    assert kinds(events) == [(120, "alert")]


# --- gaps ----------------------------------------------------------------------------------


def test_irregular_samples_within_max_gap_count_as_continuous():
    watch = SlaWatch([wait_rule()])
    assert kinds(feed(watch, [sample(0, wait=200), sample(55, wait=200), sample(75, wait=200), sample(130, wait=200)])) == [(130, "alert")]


def test_a_gap_restarts_a_pending_episode():
    watch = SlaWatch([wait_rule()], max_gap=dt.timedelta(seconds=60))
    samples = [sample(0, wait=200), sample(100, wait=200), sample(150, wait=200), sample(200, wait=200), sample(220, wait=200)]
    events = feed(watch, samples)
    # 0 -> 100 is a gap: the episode starts again at 100 and has held 120 s at 220
    assert kinds(events) == [(220, "alert")]
    assert events[0][1].since == at(100)


def test_a_fired_alert_survives_a_gap_without_recovery_or_refire():
    watch = SlaWatch([wait_rule(hold=0, cooldown=0)], max_gap=dt.timedelta(seconds=60))
    events = feed(watch, [sample(0, wait=200), sample(600, wait=200), sample(610, wait=200), sample(620, wait=10)])
    assert kinds(events) == [(0, "alert"), (620, "recovery")]
    assert events[1][1].since == at(0)


# --- recovery ------------------------------------------------------------------------------


def test_recovery_when_a_fired_condition_clears():
    watch = SlaWatch([wait_rule()])
    samples = [sample(t, wait=300) for t in range(0, 130, 10)] + [sample(840, wait=300), sample(850, wait=45)]
    events = feed(watch, samples)
    assert kinds(events) == [(120, "alert"), (850, "recovery")]
    recovery = events[1][1]
    assert (recovery.value, recovery.threshold, recovery.since, recovery.at) == (45, 120, at(0), at(850))
    assert recovery.message == "support: recovered after 14 min (now longest wait 45 s)"
    assert watch.firing() == []


def test_an_episode_that_never_fired_ends_silently():
    watch = SlaWatch([wait_rule()])
    assert feed(watch, [sample(0, wait=300), sample(60, wait=300), sample(70, wait=0)]) == []


# --- active hours --------------------------------------------------------------------------


def office() -> OpeningHours:
    """Mon-fri 08:00-16:00 open, 11:30-12:00 lunch; Oslo time (UTC+1 in March)."""
    tr = parse_time_range
    plan = build_day_plan({"open": [tr("08:00-11:30"), tr("12:00-16:00")], "lunch": [tr("11:30-12:00")]}, "closed")
    return OpeningHours("Europe/Oslo", {day: plan for day in expand_days("mon-fri")}, "closed")


def test_active_during_reads_the_hours_categories():
    active = active_during(office(), ["open"])
    assert active(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # 10:00 Oslo
    assert not active(dt.datetime(2026, 3, 2, 10, 45, tzinfo=UTC))  # 11:45 Oslo: lunch
    assert not active(dt.datetime(2026, 3, 2, 15, 30, tzinfo=UTC))  # 16:30 Oslo
    assert not active(dt.datetime(2026, 3, 7, 9, 0, tzinfo=UTC))  # Saturday


def test_no_alert_outside_active_hours():
    watch = SlaWatch([wait_rule(hold=60, active=active_during(office(), ["open"]))])
    evening = dt.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 18:00 Oslo
    samples = [QueueSample("support", evening + dt.timedelta(seconds=s), 999, 9, 0) for s in range(0, 3600, 10)]
    assert [e for s in samples for e in watch.observe(s)] == []


def test_leaving_active_hours_recovers_and_resets_the_timer():
    # Lunch starts 11:30 Oslo = 10:30 UTC; T0 is 09:00 UTC.
    watch = SlaWatch([wait_rule(hold=60, cooldown=0, active=active_during(office(), ["open"]))])
    lunch = 5400
    samples = [sample(t, wait=500) for t in range(lunch - 120, lunch + 1800 + 61, 10)]
    events = feed(watch, samples)
    assert kinds(events) == [(lunch - 60, "alert"), (lunch, "recovery"), (lunch + 1800 + 60, "alert")]
    recovery = events[1][1]
    assert recovery.message == "support: alert ended after 2 min, outside the rule's hours (now longest wait 500 s)"
    # after lunch the hold starts again from the first sample back inside the hours
    assert events[2][1].since == at(lunch + 1800)


def test_entering_active_hours_starts_the_hold_there():
    # 08:00 Oslo = 07:00 UTC; a queue already in trouble before opening waits the full hold.
    watch = SlaWatch([wait_rule(hold=120, active=active_during(office(), ["open"]))])
    opening = dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    fired = []
    for s in range(-300, 300, 10):
        for e in watch.observe(QueueSample("support", opening + dt.timedelta(seconds=s), 500, 5, 1)):
            fired.append((s, e.since))
    assert fired == [(120, opening)]


# --- cool-down -----------------------------------------------------------------------------


def test_cooldown_blocks_a_new_alert_after_recovery():
    watch = SlaWatch([wait_rule(hold=0, cooldown=900)])
    samples = [sample(0, wait=200), sample(30, wait=0), sample(60, wait=200), sample(90, wait=0), sample(950, wait=200)]
    # the second episode (60..90) is inside the cool-down: no alert and hence no recovery
    assert kinds(feed(watch, samples)) == [(0, "alert"), (30, "recovery"), (950, "alert")]


def test_an_episode_still_breaking_when_the_cooldown_ends_fires_then():
    watch = SlaWatch([wait_rule(hold=60, cooldown=600)])
    samples = [sample(0, wait=200), sample(60, wait=200), sample(70, wait=0)]
    samples += [sample(t, wait=200) for t in range(100, 700, 20)]
    events = feed(watch, samples)
    # held long enough at 160, cooling down until 660 (first sample at or after 60 + 600)
    assert kinds(events) == [(60, "alert"), (70, "recovery"), (660, "alert")]
    assert events[2][1].since == at(100)
    assert events[2][1].message == "support: longest wait 200 s > 120 s for 9 min 20 s"


def test_one_alert_per_episode_even_after_the_cooldown():
    watch = SlaWatch([wait_rule(hold=0, cooldown=60)])
    assert kinds(feed(watch, [sample(t, wait=200) for t in range(0, 3600, 30)])) == [(0, "alert")]


# --- every kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "threshold", "bad", "good", "message", "recovered"),
    [
        ("longest_wait_over", 120, dict(wait=312), dict(wait=20), "support: longest wait 312 s > 120 s for 5 min", "support: recovered after 6 min (now longest wait 20 s)"),
        ("waiting_over", 5, dict(waiting=7), dict(waiting=1), "support: 7 callers waiting > 5 for 5 min", "support: recovered after 6 min (now 1 caller waiting)"),
        ("logged_in_under", 3, dict(logged_in=1), dict(logged_in=3), "support: 1 agent logged in < 3 for 5 min", "support: recovered after 6 min (now 3 agents logged in)"),
        ("none_logged_in", None, dict(logged_in=0), dict(logged_in=1), "support: no agent logged in for 5 min", "support: recovered after 6 min (now 1 agent logged in)"),
    ],
)
def test_each_kind_fires_and_recovers_with_a_readable_message(kind, threshold, bad, good, message, recovered):
    watch = SlaWatch([SlaRule("r", "support", kind, threshold, hold=300, cooldown=0)])
    samples = [sample(t, **bad) for t in range(0, 360, 30)] + [sample(360, **good)]
    events = feed(watch, samples)
    assert [(t, e.kind, e.message) for t, e in events] == [(300, "alert", message), (360, "recovery", recovered)]
    assert events[0][1].threshold == threshold


def test_none_logged_in_ignores_a_thin_but_staffed_queue():
    watch = SlaWatch([SlaRule("empty", "support", "none_logged_in", None, hold=0)])
    assert feed(watch, [sample(0, logged_in=1), sample(10, logged_in=1)]) == []
    assert kinds(feed(watch, [sample(20, logged_in=0)])) == [(20, "alert")]


def test_several_rules_on_one_queue_are_independent():
    rules = [wait_rule(hold=0), SlaRule("crowd", "support", "waiting_over", 5, hold=0)]
    events = SlaWatch(rules).observe(sample(0, wait=200, waiting=2))
    assert [e.rule for e in events] == ["support_wait"]


# --- validation and formatting -------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(kind="none_logged_in", threshold=1),
        dict(kind="waiting_over", threshold=None),
        dict(kind="logged_in_under", threshold=0),
        dict(kind="queue_on_fire", threshold=1),
        dict(hold=-1),
    ],
)
def test_invalid_rules_are_refused(kw):
    with pytest.raises(ValueError):
        wait_rule(**kw)


def test_duplicate_rule_names_are_refused():
    with pytest.raises(ValueError, match="support_wait"):
        SlaWatch([wait_rule(), wait_rule(queue="sales")])


def test_naive_sample_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        QueueSample("support", dt.datetime(2026, 3, 2, 9, 0), 0, 0, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (90, "1 min 30 s"), (600, "10 min"), (659, "10 min"), (3600, "1 h"), (7800, "2 h 10 min")],
)
def test_format_duration(seconds, text):
    assert format_duration(dt.timedelta(seconds=seconds)) == text
