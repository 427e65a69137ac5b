"""The pure-Python reference of queue strategies (pbxctl.domain.queue_strategy): which
members ring, together or one by one, round after round, when nobody answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxctl.domain.queue_strategy import (
    MemberState,
    Round,
    effective_wrapup,
    in_wrapup,
    members_of,
    plan_for,
    ring_plan,
)
from pbxctl.site import model as m
from pbxctl.site.load import load_site

SITES = Path(__file__).parent / "sites"


def team(*specs: tuple[str, int]) -> list[MemberState]:
    """Members in config order: (name, priority) each."""
    return [MemberState(name, priority, position) for position, (name, priority) in enumerate(specs)]


def names(plan) -> list[frozenset[str]]:
    return [r.members for r in plan.rounds]


def plan(strategy, members, rounds=4, **kw):
    kw.setdefault("ring_time", 2)
    kw.setdefault("retry", 1)
    return ring_plan(strategy, members, rounds=rounds, **kw)


# -- ring_all, ring_all_priority, escalating ------------------------------------------


def test_ring_all_rings_everyone_every_round_whatever_their_priority():
    p = plan("ring_all", team(("a", 0), ("b", 0), ("c", 1)), rounds=3)
    assert names(p) == [frozenset("abc")] * 3
    assert all(r.together for r in p.rounds)
    assert [r.start for r in p.rounds] == [0, 3, 6]


def test_ring_all_priority_rings_the_lowest_group_with_someone_free():
    members = team(("a", 0), ("b", 0), ("c", 1), ("d", 2))
    assert names(plan("ring_all_priority", members, rounds=2)) == [frozenset("ab")] * 2
    paused_a = [mem if mem.name != "a" else MemberState("a", 0, 0, available=False) for mem in members]
    assert names(plan("ring_all_priority", paused_a, rounds=1)) == [frozenset("b")]
    nobody_in_0 = [MemberState(x.name, x.priority, x.position, available=x.priority > 0) for x in members]
    assert names(plan("ring_all_priority", nobody_in_0, rounds=1)) == [frozenset("c")]


def test_escalating_widens_one_group_per_step_all_ringing_together():
    members = team(("a", 0), ("b", 0), ("c", 1), ("d", 2))
    p = plan("escalating", members, rounds=4, escalation_step=2, ring_time=2, retry=1)
    assert p.group_opens == {0: 0.0, 1: 2.0, 2: 4.0}
    # rounds at 0, 3, 6, 9 s: group 1 opens at 2 s (first seen at 3), group 2 at 4 s (at 6)
    assert names(p) == [frozenset("ab"), frozenset("abc"), frozenset("abcd"), frozenset("abcd")]
    assert [r.max_priority for r in p.rounds] == [0, 1, 2, 2]
    assert not any(r.boundary for r in p.rounds)


def test_escalating_counts_whole_seconds_from_the_join():
    """app_queue applies a rule once `time(NULL) - joined > rule time`, both whole
    seconds: a round starting 3 s after the join has waited 3 (not more than a 3 s
    step); one starting 3.6 s after a join at x.5 has waited 4."""
    members = team(("a", 0), ("b", 1))
    nominal = plan("escalating", members, rounds=3, escalation_step=3, ring_time=2, retry=1, now=100.5)
    assert [(r.start, r.max_priority) for r in nominal.rounds] == [(0, 0), (3, 0), (6, 1)]
    late = plan("escalating", members, rounds=3, escalation_step=3, ring_time=2, retry=1, now=100.5, starts=[0, 3.6, 6.6])
    assert [(r.start, r.max_priority) for r in late.rounds] == [(0, 0), (3.6, 1), (6.6, 1)]
    assert names(late) == [{"a"}, {"a", "b"}, {"a", "b"}]


def test_a_round_near_a_whole_second_boundary_has_an_alternative():
    members = team(("a", 0), ("b", 1))
    p = plan("escalating", members, rounds=2, escalation_step=3, ring_time=2, retry=1, now=100.0, starts=[0, 3.98], jitter=0.05)
    assert p.rounds[0].alternative is None
    assert p.rounds[1].members == {"a"} and p.rounds[1].alternative == {"a", "b"}
    assert p.rounds[1].boundary
    assert p.mismatches([{"a"}, {"a", "b"}]) == [] and p.mismatches([{"a"}, {"a"}]) == []
    assert p.mismatches([{"a"}, {"b"}]) == ["round 2 (t=3.98 s): expected ['a'] (or ['a', 'b']), rang ['b']"]


def test_observed_start_times_replace_the_nominal_ones():
    members = [MemberState("a", 0, 0, calls=1, last_call_end=100.0), MemberState("b", 0, 1)]
    nominal = plan("ring_all", members, rounds=2, wrapup=3, ring_time=1, retry=1, now=100.5)
    assert names(nominal) == [{"b"}, {"b"}]  # rounds at 100.5 and 102.5: 2 < 3
    late = plan("ring_all", members, rounds=2, wrapup=3, ring_time=1, retry=1, now=100.5, starts=[0.0, 2.6])
    assert names(late) == [{"b"}, {"a", "b"}]  # 103.1: 3 s after, back
    with pytest.raises(ValueError, match="start times"):
        plan("ring_all", members, rounds=3, starts=[0.0])


def test_an_attempt_that_rings_nobody_is_followed_by_the_next_after_retry():
    """wait_for_answer returns at once when nobody could be rung: with group 0 away, an
    escalating caller is tried every `retry` seconds until group 1 opens."""
    members = [MemberState("a", 0, 0, available=False), MemberState("b", 1, 1)]
    p = plan("escalating", members, rounds=5, escalation_step=2, ring_time=2, retry=1, now=100.0)
    assert [(r.start, sorted(r.members)) for r in p.rounds] == [(0, []), (1, []), (2, []), (3, ["b"]), (6, ["b"])]


def test_max_wait_ends_the_rounds():
    members = team(("a", 0), ("b", 0))
    p = plan("ring_all", members, rounds=10, ring_time=2, retry=1, max_wait=5, now=100.0)
    assert [r.start for r in p.rounds] == [0, 3] and p.expires_at == 5
    # expiry counts whole seconds from the join: joined at 100.7, the time is up at 105.0
    late = plan("ring_all", members, rounds=10, ring_time=2, retry=1, max_wait=6, now=100.7)
    assert [r.start for r in late.rounds] == [0, 3] and late.expires_at == pytest.approx(5.3)
    assert plan("ring_all", members, rounds=3, ring_time=2, retry=1).expires_at is None


def test_escalating_needs_a_step():
    with pytest.raises(ValueError, match="escalation_step"):
        plan("escalating", team(("a", 0)))


# -- one member per round ---------------------------------------------------------------


def test_linear_goes_down_the_config_order_per_caller_and_skips_higher_priorities():
    members = team(("a", 0), ("d", 1), ("b", 0), ("c", 0))
    p = plan("linear", members, rounds=5)
    assert names(p) == [{"a"}, {"b"}, {"c"}, {"a"}, {"b"}]
    assert not any(r.together for r in p.rounds)
    # a new caller starts from the top again, whatever the queue did before
    assert names(plan("linear", members, rounds=1, rr_position=2)) == [{"a"}]


def test_linear_skips_an_unavailable_member_and_keeps_its_turn_order():
    members = [MemberState("a", 0, 0), MemberState("b", 0, 1, available=False), MemberState("c", 0, 2)]
    assert names(plan("linear", members, rounds=4)) == [{"a"}, {"c"}, {"a"}, {"c"}]


def test_linear_falls_back_to_the_higher_priority_when_the_lower_group_is_away():
    members = [MemberState("a", 0, 0, available=False), MemberState("d", 1, 1), MemberState("b", 0, 2, available=False)]
    assert names(plan("linear", members, rounds=2)) == [{"d"}, {"d"}]


def test_round_robin_memory_continues_where_the_queue_left_off():
    members = team(("a", 0), ("d", 1), ("b", 0), ("c", 0))
    first = plan("round_robin_memory", members, rounds=2)
    assert names(first) == [{"a"}, {"b"}]
    assert first.next_rr_position == 3  # c's position: the next caller starts at c
    second = plan("round_robin_memory", members, rounds=3, rr_position=first.next_rr_position)
    assert names(second) == [{"c"}, {"a"}, {"b"}]
    assert second.next_rr_position == 3


def test_round_robin_is_the_longest_idle_member_again_and_again_when_nobody_answers():
    now = 1000.0
    members = [
        MemberState("a", 0, 0, calls=1, last_call_end=now - 30),
        MemberState("b", 0, 1, calls=1, last_call_end=now - 90),  # idle longest
        MemberState("c", 0, 2, calls=1, last_call_end=now - 10),
        MemberState("d", 1, 3),  # never called, but priority 1
    ]
    p = plan("round_robin", members, rounds=3, now=now)
    assert names(p) == [{"b"}] * 3
    assert p.repeats_choice


def test_round_robin_prefers_a_member_who_never_took_a_call():
    now = 1000.0
    members = [MemberState("a", 0, 0, calls=3, last_call_end=now - 500), MemberState("b", 0, 1)]
    assert names(plan("round_robin", members, rounds=1, now=now)) == [{"b"}]


def test_round_robin_ties_are_candidates_not_an_order():
    p = plan("round_robin", team(("a", 0), ("b", 0), ("c", 1)), rounds=2)
    assert names(p) == [{"a", "b"}] * 2
    assert not p.rounds[0].together
    assert p.mismatches([{"b"}, {"b"}]) == []
    assert p.mismatches([{"a"}, {"b"}]) == ["round 2: rang ['b'], not the member chosen before (['a'])"]


def test_round_robin_member_who_just_hung_up_ties_with_the_next_group():
    """leastrecent's metric of a member whose call ended this very second is 1,000,000,
    the same as a never-called member one priority up: app_queue may ring either."""
    now = 1000.0
    members = [MemberState("a", 0, 0, calls=1, last_call_end=now), MemberState("d", 1, 1)]
    assert names(plan("round_robin", members, rounds=1, now=now)) == [{"a", "d"}]


def test_fewest_calls_rings_the_member_with_fewest_calls_of_the_lowest_group():
    members = [
        MemberState("a", 0, 0, calls=2),
        MemberState("b", 0, 1, calls=1),
        MemberState("c", 0, 2, calls=3),
        MemberState("d", 1, 3, calls=0),
    ]
    p = plan("fewest_calls", members, rounds=2)
    assert names(p) == [{"b"}, {"b"}]
    without_b = [x if x.name != "b" else MemberState("b", 0, 1, calls=1, available=False) for x in members]
    assert names(plan("fewest_calls", without_b, rounds=1)) == [{"a"}]


def test_random_draws_from_the_lowest_group_only():
    p = plan("random", team(("a", 0), ("b", 0), ("c", 1)), rounds=3)
    assert names(p) == [{"a", "b"}] * 3
    assert not p.fixed_order and not p.repeats_choice
    assert p.mismatches([{"b"}, {"a"}, {"b"}]) == []
    assert p.mismatches([{"c"}, {"a", "b"}, {"a"}]) == [
        "round 1 (t=0 s): expected one of ['a', 'b'], rang ['c']",
        "round 2 (t=3 s): expected one of ['a', 'b'], rang ['a', 'b']",
    ]
    assert p.mismatches([{"a"}]) == ["1 rounds rang, 3 expected"]


def test_weighted_random_may_ring_any_priority():
    p = plan("weighted_random", team(("a", 0), ("b", 0), ("c", 1)), rounds=2)
    assert names(p) == [{"a", "b", "c"}] * 2
    assert not p.fixed_order


# -- wrap-up ----------------------------------------------------------------------------


def test_wrapup_keeps_a_member_out_until_it_has_passed():
    now = 100.0
    members = [MemberState("a", 0, 0, calls=1, last_call_end=now), MemberState("b", 0, 1)]
    p = plan("ring_all", members, rounds=3, wrapup=4, ring_time=1, retry=1, now=now)
    # rounds at +0, +2 (a still in wrap-up: 2 < 4), +4 (4 s after: back)
    assert names(p) == [{"b"}, {"b"}, {"a", "b"}]


def test_an_agents_own_wrapup_replaces_the_queues_even_when_it_is_zero():
    assert effective_wrapup(MemberState("a", wrapup=1), 3) == 1
    assert effective_wrapup(MemberState("a", wrapup=0), 3) == 0
    assert effective_wrapup(MemberState("a"), 3) == 3
    p = plan("ring_all", [MemberState("a", 0, 0, calls=1, last_call_end=100.0, wrapup=0)], rounds=1, wrapup=3, now=100.5)
    assert names(p) == [{"a"}]
    member = MemberState("a", last_call_end=10.9, wrapup=2)
    assert in_wrapup(member, 11.0, 0)  # whole seconds: 11 - 10 = 1 < 2
    assert not in_wrapup(member, 12.0, 0)


def test_nobody_to_ring_is_an_empty_round():
    p = plan("linear", [MemberState("a", available=False)], rounds=1)
    assert p.rounds == (Round(0, 0.0, frozenset(), False, None, None),)
    assert p.mismatches([set()]) == []
    assert plan("ring_all", [MemberState("a", available=False)], rounds=1).rounds[0].members == frozenset()


# -- from a site ----------------------------------------------------------------------


def test_members_and_plan_from_the_test_site():
    site = load_site(SITES / "queues.yaml").site
    members = members_of(site, "q_ring_all")
    # ring_all: pbxctl writes penalty 0 for everyone (penalty_for), whatever the priority
    assert [(x.name, x.priority, x.position) for x in members] == [("a1", 0, 0), ("a2", 0, 1), ("a3", 0, 2)]
    assert names(plan_for(site, "q_ring_all", members, rounds=1)) == [{"a1", "a2", "a3"}]
    wrap = members_of(site, "q_wrapup", last_call_end={"a6": 50.0}, unavailable=["a2"])
    assert [(x.name, x.wrapup, x.last_call_end, x.available) for x in wrap] == [
        ("a1", None, None, True), ("a2", None, None, False), ("a6", 1, 50.0, True)
    ]
    esc = plan_for(site, "q_escalating", members_of(site, "q_escalating"), rounds=3)
    assert names(esc) == [{"a1", "a2"}, {"a1", "a2", "a3"}, {"a1", "a2", "a3", "a4"}]


def test_least_talk_time_has_no_asterisk_reference():
    with pytest.raises(ValueError, match="FreeSWITCH"):
        plan(m.Strategy.least_talk_time, team(("a", 0)))


def test_every_asterisk_strategy_has_a_plan():
    from pbxctl.render.asterisk import ENGINE_STRATEGY

    for strategy in ENGINE_STRATEGY:
        p = plan(strategy, team(("a", 0), ("b", 1)), rounds=2, escalation_step=2)
        assert len(p.rounds) == 2 and all(r.members for r in p.rounds), strategy
