"""Strategies by tier level and position: the generated mod_callcenter files (tiers, levels,
positions, tier rules), run through mod_callcenter's own ordering (esl_double/dispatch.py,
from mod_callcenter.c), offer a waiting caller to the agents pbxctl's pure reference
(pbxctl.domain.queue_strategy, the one the Asterisk tests use) says ring — priority groups
and escalating included. Where mod_callcenter cannot do what the reference says, the test
names the difference (and README says it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from esl_double.dispatch import AgentState, Rules, Tier, offered
from pbxctl.apply.callcenter_sync import parse_config
from pbxctl.domain.queue_strategy import members_of, plan_for
from pbxctl.render.freeswitch import AGENTS_PATH, QUEUES_PATH, TIERS_PATH, generate_freeswitch
from pbxctl.site.load import LoadedSite, load_site

# Four agents in three priority groups: a, b (0), c (1), d (2). Positions follow the list.
MEMBERS = "[{agent: a, priority: 0}, {agent: b, priority: 0}, {agent: c, priority: 1}, {agent: d, priority: 2}]"
STEP = 20


def site(tmp_path: Path, strategy: str, extra: str = "") -> LoadedSite:
    path = tmp_path / f"{strategy}.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            site: t
            numbering: {{country_code: "47"}}
            pbx: {{backend: freeswitch}}
            agents:
              a: {{name: A, extension: "101"}}
              b: {{name: B, extension: "102"}}
              c: {{name: C, extension: "103"}}
              d: {{name: D, extension: "104"}}
            queues:
              q: {{strategy: {strategy}, members: {MEMBERS}, ring_time: 10, retry: 2{extra}}}
            """
        ),
        encoding="utf-8",
    )
    return load_site(path)


class Generated:
    """The queue as mod_callcenter loads it from the generated include files."""

    def __init__(self, loaded: LoadedSite):
        files = generate_freeswitch(loaded)
        config = parse_config(files[QUEUES_PATH], files[AGENTS_PATH], files[TIERS_PATH])
        (params,) = config.queues.values()
        self.strategy = params["strategy"]
        self.rules = Rules(
            params["tier-rules-apply"] == "true",
            int(params["tier-rule-wait-second"]),
            params["tier-rule-wait-multiply-level"] == "true",
            params["tier-rule-no-agent-no-wait"] == "true",
        )
        self.tiers = [Tier(agent, int(level), int(pos)) for (_, agent), (level, pos) in config.tiers.items()]

    def offer(self, waited: int = 0, out: frozenset[str] = frozenset(), **states: AgentState) -> list[str]:
        agents = {t.agent: states.get(t.agent, AgentState("Logged Out" if t.agent in out else "Available")) for t in self.tiers}
        return offered(self.strategy, self.rules, self.tiers, agents, waited)


def reference(loaded: LoadedSite, at: float = 0.0, out: frozenset[str] = frozenset(), **kw):
    """The reference's attempt starting `at` seconds after the caller joined."""
    members = members_of(loaded.site, "q", unavailable=out, **kw)
    return plan_for(loaded.site, "q", members, rounds=1, starts=[at]).rounds[0]


ONE_AT_A_TIME = ["round_robin", "fewest_calls", "random", "linear", "round_robin_memory"]
NOBODY_IN_0 = frozenset("ab")


@pytest.mark.parametrize("strategy", ONE_AT_A_TIME)
def test_one_agent_at_a_time_from_the_lowest_group_with_someone_free(tmp_path, strategy):
    loaded = site(tmp_path, strategy)
    fs = Generated(loaded)
    assert fs.rules.apply is False  # level order alone does it
    for out in (frozenset(), frozenset("a"), NOBODY_IN_0, frozenset("abc"), frozenset("abcd")):
        ref = reference(loaded, out=out)
        got = fs.offer(out=out)
        if not ref.members:
            assert got == [], (strategy, out)
            continue
        assert len(got) == 1 and got[0] in ref.members, (strategy, sorted(out), got, sorted(ref.members))


def test_least_talk_time_follows_mod_callcenters_order(tmp_path):
    # No app_queue strategy to compare with: the documented order, level then talk time.
    fs = Generated(site(tmp_path, "least_talk_time"))
    assert fs.strategy == "agent-with-least-talk-time" and not fs.rules.apply
    talk = {"a": AgentState(talk_time=300), "b": AgentState(talk_time=100), "c": AgentState(talk_time=0)}
    assert fs.offer(**talk) == ["b"]  # group 0 first, even though c talked less
    assert fs.offer(out=NOBODY_IN_0, **{"c": AgentState(talk_time=0)}) == ["c"]


def test_round_robin_and_fewest_calls_pick_as_the_reference(tmp_path):
    loaded = site(tmp_path, "fewest_calls")
    fs = Generated(loaded)
    calls = {"a": 5, "b": 2}
    ref = reference(loaded, calls=calls)
    assert ref.members == {"b"}
    assert fs.offer(a=AgentState(calls_answered=5), b=AgentState(calls_answered=2)) == ["b"]
    loaded = site(tmp_path, "round_robin")
    fs = Generated(loaded)
    # a's last call ended longer ago: both pick a (mod_callcenter by last offer time)
    ref = reference(loaded, last_call_end={"a": -100.0, "b": -10.0})
    assert ref.members == {"a"}
    assert fs.offer(a=AgentState(last_offered=100), b=AgentState(last_offered=190)) == ["a"]


def test_linear_starts_each_caller_at_the_first_position(tmp_path):
    loaded = site(tmp_path, "linear")
    fs = Generated(loaded)
    assert [(t.agent, t.level, t.position) for t in fs.tiers] == [("a", 0, 1), ("b", 0, 2), ("c", 1, 3), ("d", 2, 4)]
    assert fs.offer() == ["a"] and reference(loaded).members == {"a"}
    # top-down goes on from the caller's last offered tier, within its level
    agents = {t.agent: AgentState() for t in fs.tiers}
    assert offered(fs.strategy, fs.rules, fs.tiers, agents, 0, last=fs.tiers[0]) == ["b"]


def test_ring_all_offers_everyone_at_once(tmp_path):
    loaded = site(tmp_path, "ring_all")
    fs = Generated(loaded)
    assert {t.level for t in fs.tiers} == {0}  # priorities do not apply (validation warns)
    for out in (frozenset(), frozenset("ac")):
        assert set(fs.offer(out=out)) == reference(loaded, out=out).members


def test_ring_all_priority_offers_the_lowest_group_with_someone_logged_in(tmp_path):
    loaded = site(tmp_path, "ring_all_priority")
    fs = Generated(loaded)
    for out in (frozenset(), frozenset("a"), NOBODY_IN_0, frozenset("abc")):
        assert set(fs.offer(out=out)) == reference(loaded, out=out).members, sorted(out)
    # for a whole day of waiting
    assert set(fs.offer(waited=86399)) == {"a", "b"}


def test_ring_all_priority_known_difference_busy_agents_hold_their_group(tmp_path):
    # The reference rings group 1 when group 0 is busy or paused; mod_callcenter counts a
    # busy or On Break agent as logged in, so group 0 holds the caller (README).
    loaded = site(tmp_path, "ring_all_priority")
    fs = Generated(loaded)
    assert reference(loaded, out=NOBODY_IN_0).members == {"c"}
    busy = {"a": AgentState(waiting=False), "b": AgentState(status="On Break")}
    assert fs.offer(**busy) == []


@pytest.mark.parametrize("waited", [0, STEP // 2, STEP + STEP // 2, 2 * STEP + STEP // 2, 10 * STEP])
def test_escalating_opens_priority_p_after_p_steps(tmp_path, waited):
    loaded = site(tmp_path, "escalating", f", escalation_step: {STEP}")
    fs = Generated(loaded)
    assert fs.rules == Rules(True, STEP, True, False)
    assert {t.agent: t.level for t in fs.tiers} == {"a": 0, "b": 0, "c": 1, "d": 2}
    ref = reference(loaded, at=waited)
    assert set(fs.offer(waited=waited)) == ref.members, (waited, sorted(ref.members))


def test_escalating_boundary_and_empty_groups(tmp_path):
    loaded = site(tmp_path, "escalating", f", escalation_step: {STEP}")
    fs = Generated(loaded)
    # mod_callcenter opens at waited >= L x step; app_queue (the reference) at > L x step
    assert set(fs.offer(waited=STEP)) == {"a", "b", "c"}
    assert reference(loaded, at=STEP).members == {"a", "b"}
    # a group with nobody logged in does not open the next one early (no-agent-no-wait off)
    assert fs.offer(waited=STEP // 2, out=NOBODY_IN_0) == [] == sorted(reference(loaded, at=STEP // 2, out=NOBODY_IN_0).members)
    assert fs.offer(waited=STEP + 1, out=NOBODY_IN_0) == ["c"]


def test_escalating_with_priority_plus_one_levels_had_the_offset(tmp_path):
    # Why level = priority: with the old level = priority + 1 (and no-agent-no-wait on, to
    # let level 1 ring at all), priority 1 opened only after two steps.
    fs = Generated(site(tmp_path, "escalating", f", escalation_step: {STEP}"))
    old = [Tier(t.agent, t.level + 1, t.position) for t in fs.tiers]
    agents = {t.agent: AgentState() for t in old}
    old_rules = Rules(True, STEP, True, True)
    assert set(offered("ring-all", old_rules, old, agents, STEP + 1)) == {"a", "b"}
    assert set(offered("ring-all", old_rules, old, agents, 2 * STEP)) == {"a", "b", "c"}
    assert set(fs.offer(waited=STEP + 1)) == {"a", "b", "c"}


def test_position_is_the_member_order(tmp_path):
    loaded = site(tmp_path, "linear")
    fs = Generated(loaded)
    ref_positions = {mem.name: mem.position for mem in members_of(loaded.site, "q")}
    assert {t.agent: t.position - 1 for t in fs.tiers} == ref_positions
