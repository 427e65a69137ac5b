"""The callback list's rules (pbxctl.domain.callbacks): merge, close on an answered call,
take, attempts and retries within opening hours, and dispatch to free agents."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pbxctl.domain.callbacks import (
    Attempt,
    CallbackError,
    CallbackRequest,
    QueueRules,
    Status,
    abandon_counts,
    close,
    close_on_answered_call,
    dispatch,
    merge,
    next_attempt_at,
    next_for_agent,
    record_attempt,
    release,
    take,
)
from pbxctl.domain.opening_hours import OpeningHours, build_day_plan, parse_time_range

OSLO = ZoneInfo("Europe/Oslo")


def at(hhmm: str, day: int = 7) -> dt.datetime:
    """2026-12-07 is a Monday."""
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2026, 12, day, h, m, tzinfo=OSLO)


def request(number="+4791234567", when="10:00", source="abandoned", call_id="c1", queue="support"):
    return CallbackRequest(queue, number, at(when), source, call_id)


def office() -> OpeningHours:
    weekday = build_day_plan({"open": [parse_time_range("08:00-16:00")]}, "closed")
    return OpeningHours("Europe/Oslo", {d: weekday for d in ("mon", "tue", "wed", "thu", "fri")}, "closed")


AUTO = QueueRules(automatic=True, retry_interval=600, attempts=3)


def test_abandon_counts_after_min_wait_and_not_for_anonymous():
    rules = QueueRules(min_wait=10)
    assert abandon_counts(rules, 12, "+4791234567")[0]
    counted, why = abandon_counts(rules, 9, "+4791234567")
    assert not counted and "min_wait 10" in why
    assert not abandon_counts(rules, 30, "")[0]
    assert abandon_counts(QueueRules(exclude_anonymous=False), 30, "")[0]


def test_the_same_number_twice_is_one_entry_counted_twice():
    first = merge([], request(when="10:00", call_id="c1"))
    assert (first.times_called, first.status, first.call_ids) == (1, Status.open, ("c1",))
    second = merge([first], request(when="10:20", call_id="c2", source="ivr"))
    assert second.times_called == 2
    assert (second.first_call_at, second.last_call_at) == (at("10:00"), at("10:20"))
    assert second.call_ids == ("c1", "c2") and second.source == "abandoned"
    # the same call read twice (a log re-read after a restart) counts once
    assert merge([second], request(when="10:20", call_id="c2")) == second


def test_other_queue_other_number_or_a_finished_entry_make_a_new_entry():
    first = merge([], request())
    assert merge([first], request(queue="sales", call_id="c2")).times_called == 1
    assert merge([first], request(number="+4799999999", call_id="c2")).times_called == 1
    done = close(first, "kari", "spoke to the customer", at("11:00"))
    assert merge([done], request(call_id="c3")).call_ids == ("c3",)


def test_anonymous_callers_never_merge():
    first = merge([], request(number=""))
    assert merge([first], request(number="", call_id="c2")).call_ids == ("c2",)


def test_a_new_call_reopens_an_unanswered_entry_with_fresh_attempts():
    entry = merge([], request(when="10:00"))
    for minute in ("10:01", "10:11", "10:21"):
        entry = record_attempt(entry, Attempt(at(minute), "no_answer", "kari"), AUTO)
    assert entry.status is Status.unanswered and next_attempt_at(entry, AUTO) is None
    again = merge([entry], request(when="12:00", call_id="c2"))
    assert again.status is Status.open and again.attempts_since_last_call == ()
    assert next_attempt_at(again, AUTO) == at("12:00")


def test_closes_itself_when_the_customer_calls_in_again_and_is_answered():
    entry = merge([], request(when="10:00"))
    closed = close_on_answered_call(entry, "support", "+4791234567", at("10:30"), "c9")
    assert closed.status is Status.closed and closed.closed_by == "pbxctl" and "c9" in closed.close_reason
    assert closed.call_ids == ("c1", "c9")
    assert close_on_answered_call(entry, "sales", "+4791234567", at("10:30"), "c9") is None
    assert close_on_answered_call(entry, "support", "+4790000000", at("10:30"), "c9") is None
    assert close_on_answered_call(entry, "support", "+4791234567", at("09:30"), "c0") is None
    busy = take(entry, "kari")
    assert close_on_answered_call(busy, "support", "+4791234567", at("10:30"), "c9") is None


def test_take_release_and_what_cannot_be_taken():
    entry = merge([], request())
    taken = take(entry, "kari")
    assert (taken.status, taken.agent) == (Status.in_progress, "kari")
    with pytest.raises(CallbackError, match="in_progress by kari"):
        take(taken, "ola")
    assert release(taken).status is Status.open
    with pytest.raises(CallbackError, match="anonymous"):
        take(merge([], request(number="")), "kari")
    closed = close(entry, "kari", "duplicate", at("10:05"))
    with pytest.raises(CallbackError, match="closed"):
        take(closed, "ola")
    with pytest.raises(CallbackError, match="already closed"):
        close(closed, "ola", "again", at("10:06"))
    with pytest.raises(CallbackError, match="say why"):
        close(entry, "kari", " ", at("10:05"))


def test_attempts_answered_or_retried_then_unanswered():
    entry = take(merge([], request(when="10:00")), "kari")
    answered = record_attempt(entry, Attempt(at("10:02"), "answered", "kari", "o1"), AUTO)
    assert answered.status is Status.answered and answered.agent == "kari"
    with pytest.raises(CallbackError):
        record_attempt(answered, Attempt(at("10:03"), "no_answer"), AUTO)
    once = record_attempt(entry, Attempt(at("10:02"), "busy", "kari"), AUTO)
    assert once.status is Status.open and next_attempt_at(once, AUTO) == at("10:12")
    twice = record_attempt(once, Attempt(at("10:12"), "not_accepted", "ola"), AUTO)
    assert next_attempt_at(twice, AUTO) == at("10:22")
    last = record_attempt(twice, Attempt(at("10:22"), "no_answer", "ola"), AUTO)
    assert last.status is Status.unanswered and len(last.attempts) == 3
    refused = record_attempt(entry, Attempt(at("10:02"), "refused"), AUTO)
    assert refused.status is Status.unanswered and refused.attempts_since_last_call == ()
    with pytest.raises(ValueError, match="unknown attempt result"):
        record_attempt(entry, Attempt(at("10:02"), "maybe"), AUTO)


def test_retries_only_while_the_hours_set_is_open():
    rules = QueueRules(automatic=True, retry_interval=1800, attempts=3, hours=office())
    entry = merge([], request(when="15:40"))
    assert next_attempt_at(entry, rules) == at("15:40")
    entry = record_attempt(entry, Attempt(at("15:45"), "no_answer"), rules)
    # 16:15 is closed: Tuesday 08:00
    assert next_attempt_at(entry, rules) == at("08:00", day=8)
    friday = merge([], CallbackRequest("support", "+4791234567", at("15:50", day=11), "ivr", "f1"))
    friday = record_attempt(friday, Attempt(at("15:55", day=11), "busy"), rules)
    assert next_attempt_at(friday, rules) == at("08:00", day=14)  # Monday
    never = QueueRules(automatic=True, hours=OpeningHours("Europe/Oslo", {}, "closed"))
    assert next_attempt_at(merge([], request()), never) is None


def test_manual_queues_and_anonymous_entries_are_never_dialled_by_pbxctl():
    assert next_attempt_at(merge([], request()), QueueRules(automatic=False)) is None
    assert next_attempt_at(merge([], request(number="")), AUTO) is None


def test_next_for_agent_is_the_longest_waiting_open_entry_of_the_agents_queues():
    a = merge([], request(number="+4791111111", when="10:05", call_id="a"))
    b = merge([], request(number="+4792222222", when="10:01", call_id="b", queue="sales"))
    c = merge([], request(number="+4793333333", when="10:03", call_id="c"))
    anonymous = merge([], request(number="", when="09:00", call_id="x"))
    taken = take(merge([], request(number="+4794444444", when="09:30", call_id="d")), "ola")
    assert next_for_agent([a, b, c, anonymous, taken], ["support"]) == c
    assert next_for_agent([a, b, c], ["support", "sales"]) == b
    assert next_for_agent([a, c], ["sales"]) is None


def test_never_more_callbacks_than_free_agents():
    due = [merge([], request(number=f"+479000000{i}", when=f"10:0{i}", call_id=f"c{i}")) for i in range(3)]
    rules = {"support": AUTO, "sales": AUTO}
    now = at("10:30")
    one = dispatch(due, rules, {"support": ["kari"]}, [], now)
    assert [(d.entry.call_ids, d.agent) for d in one] == [(("c0",), "kari")]
    # an agent free in two queues is one agent
    shared = due + [merge([], request(number="+4791230000", when="09:00", call_id="s", queue="sales"))]
    picked = dispatch(shared, rules, {"support": ["kari"], "sales": ["kari"]}, [], now)
    assert [(d.entry.queue, d.agent) for d in picked] == [("sales", "kari")]
    # agents already held by a callback in progress are not free
    assert dispatch(due, rules, {"support": ["kari", "ola"]}, ["kari"], now)[0].agent == "ola"
    assert dispatch(due, rules, {"support": ["kari"]}, ["kari"], now) == []
    two = dispatch(due, rules, {"support": ["kari", "ola"]}, [], now)
    assert [d.agent for d in two] == ["kari", "ola"] and [d.entry.call_ids for d in two] == [("c0",), ("c1",)]
    # not yet due, a manual queue, or a queue without rules: nothing
    later = record_attempt(due[0], Attempt(at("10:25"), "no_answer"), AUTO)
    assert dispatch([later], rules, {"support": ["kari"]}, [], now) == []
    assert dispatch(due, {"support": QueueRules()}, {"support": ["kari"]}, [], now) == []
    assert dispatch(due, {}, {"support": ["kari"]}, [], now) == []


@pytest.mark.parametrize("status, seconds, result", [
    ("ANSWER", 40, "answered"), ("ANSWER", 1, "not_accepted"), ("NOANSWER", 0, "no_answer"), ("BUSY", 0, "busy"),
    ("CANCEL", 0, "agent_gone"), ("CONGESTION", 0, "failed"), ("CHANUNAVAIL", 0, "failed"), ("", 0, None),
])
def test_how_dialling_ended_is_the_attempts_result(status, seconds, result):
    from pbxctl.domain.callbacks import dial_outcome

    assert dial_outcome(status, seconds) == result


def test_an_automatic_callback_counts_as_answered_only_when_accepted():
    from pbxctl.domain.callbacks import dial_outcome

    assert dial_outcome("ANSWER", 1, accepted=True) == "answered"
    assert dial_outcome("ANSWER", 60, accepted=False) == "not_accepted"   # an answering machine talks on
    assert dial_outcome("NOANSWER", 0, accepted=False) == "no_answer"
