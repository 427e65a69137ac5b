"""Queue strategies proven by ring order on the real PBX (issue 4, item 3).

tests/sites/queues.yaml (one queue per strategy, agents that are Local channels into the
test-only [pbxctl-test-agents], see tests/helpers/queue_calls.py) is applied to the sandbox
Asterisk with pbxctl's own apply. Callers are placed into the generated
`pbxctl-queue,<queue>,1`; the AgentCalled events say which members rang together and
when; pbxctl.domain.queue_strategy says which should have. Ring and retry times are 1-2 s.

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from pbxctl.domain.queue_strategy import plan_for

from helpers.sandbox import applied_test_site

from helpers.site_files import point_at_sandbox
from helpers.queue_calls import DB_FAMILY, Call, Lab, TimedRecorder, install_test_dialplan

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "queues.yaml"
# How far an observed round may start from its nominal time k * (ring_time + retry).
START_TOLERANCE = 0.5
# Observed round starts are Asterisk's decision time to within milliseconds; nominal
# starts drift by a few milliseconds per attempt.
JITTER = 0.05
NOMINAL_JITTER = 0.15


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def queue_site(sandbox, tmp_path_factory):
    """tests/sites/queues.yaml applied to the sandbox with the test dialplan installed.
    Afterwards the generated files that were there before are put back and reloaded."""
    site_file = tmp_path_factory.mktemp("queue_site") / "queues.yaml"
    site_file.write_text(point_at_sandbox(SITE.read_text(), sandbox))
    with applied_test_site(sandbox, site_file, install_test_dialplan, DB_FAMILY) as loaded:
        yield loaded.site


@pytest.fixture
def play(queue_site, ami_secret):
    """play(scenario, *queues): run `async scenario(lab)` on one AMI session, with every
    agent ringing (never answering) and the queues' statistics and pauses reset before
    and after. Leftover channels are hung up afterwards (tests assert they left none
    where that is the point)."""

    def player(scenario, *queues: str):
        async def main():
            async with TimedRecorder(ami_secret) as rec:
                lab = Lab(rec, queue_site)
                await lab.rings()
                for queue in queues:
                    await lab.reset(queue)
                try:
                    return await scenario(lab)
                finally:
                    await lab.hang_up_leftovers()
                    await lab.rings()
                    for queue in queues:
                        await lab.reset(queue)

        return run(main())

    return player


# -- helpers ------------------------------------------------------------------------------


async def no_answer_rounds(lab: Lab, queue: str, n: int, context: str = "pbxctl-queue") -> tuple[Call, list]:
    """A caller nobody answers: its first n rounds, then hung up; no channel may be left."""
    call = await lab.call(queue, context)
    await lab.joined(call)
    rounds = await lab.wait_rounds(call, n)
    await lab.hang_up(call)
    assert await lab.settle() == [], "channels left after the caller hung up"
    return call, rounds


def check_cadence(lab: Lab, call: Call, rounds, queue: str) -> None:
    """Each member rings for the queue's ring_time (AgentRingNoAnswer, RingTime), and
    rounds follow each other every ring_time + retry seconds."""
    q = lab.site.queues[queue]
    period = q.ring_time + q.retry
    for k, r in enumerate(rounds):
        assert abs(r.at - k * period) <= START_TOLERANCE, f"round {k + 1} started at {r.at:.2f} s, expected {k * period} s"
    complete = rounds[:-1]  # the last round was hung up while ringing
    no_answer = {e["DestChannel"]: e for e in lab.of(call, "AgentRingNoAnswer")}
    for r in complete:
        for called in r.events:
            rna = no_answer.get(called["DestChannel"])
            assert rna is not None, f"no AgentRingNoAnswer for {called['MemberName']} of round at {r.at:.2f} s"
            assert abs(int(rna["RingTime"]) - q.ring_time * 1000) <= 250, rna["RingTime"]
            assert abs(rna["_t"] - called["_t"] - q.ring_time) <= 0.3


def observed(rounds) -> list[frozenset[str]]:
    return [r.members for r in rounds]


# -- ringall family -------------------------------------------------------------------------


def test_ring_all_rings_every_member_at_once_whatever_the_priority(play):
    async def scenario(lab: Lab):
        plan = plan_for(lab.site, "q_ring_all", await lab.states("q_ring_all"), rounds=3)
        call, rounds = await no_answer_rounds(lab, "q_ring_all", 3)
        assert plan.mismatches(observed(rounds)) == []
        assert observed(rounds) == [{"a1", "a2", "a3"}] * 3  # a3 has priority 1 in the YAML
        check_cadence(lab, call, rounds, "q_ring_all")

    play(scenario, "q_ring_all")


def test_ring_all_priority_rings_the_lowest_group_with_someone_free(play):
    queue = "q_ring_all_priority"

    async def scenario(lab: Lab):
        # everyone free: priority 0 only, round after round (nobody of 1 or 2 ever rings)
        plan = plan_for(lab.site, queue, await lab.states(queue), rounds=2)
        call, rounds = await no_answer_rounds(lab, queue, 2)
        assert plan.mismatches(observed(rounds)) == [] and observed(rounds) == [{"a1", "a2"}] * 2
        check_cadence(lab, call, rounds, queue)
        # group 0 away: group 1; groups 0 and 1 away: group 2
        for away, group in ((("a1", "a2"), {"a3"}), (("a1", "a2", "a3"), {"a4"})):
            await lab.pause(queue, *away)
            plan = plan_for(lab.site, queue, await lab.states(queue), rounds=1)
            _, rounds = await no_answer_rounds(lab, queue, 1)
            assert plan.mismatches(observed(rounds)) == [] and observed(rounds) == [group]
            assert rounds[0].at <= START_TOLERANCE  # at once, not after some escalation

    play(scenario, queue)


def test_escalating_rings_the_open_groups_together(play):
    async def scenario(lab: Lab):
        members = await lab.states("q_escalating")
        call, rounds = await no_answer_rounds(lab, "q_escalating", 3)
        now = lab.join_epoch(call)
        plan = plan_for(lab.site, "q_escalating", members, rounds=3, now=now, starts=[r.at for r in rounds], jitter=JITTER)
        assert plan.mismatches(observed(rounds)) == []
        assert observed(rounds) == [{"a1", "a2"}, {"a1", "a2", "a3"}, {"a1", "a2", "a3", "a4"}]

    play(scenario, "q_escalating")


def test_escalating_opens_each_group_after_its_step(play):
    """Group 1 may ring from the first attempt more than escalation_step (2 s) after the
    caller joined, group 2 after twice that; before, nobody rings even though the
    higher groups are free. Shown with the lower groups paused, where app_queue rings
    the highest open group alone (attempts that ring nobody come every retry second).
    The caller's QUEUE_MAX_PENALTY steps (VarSet) say when each rule applied."""
    queue = "q_escalating"

    async def scenario(lab: Lab):
        q = lab.site.queues[queue]
        for away, first, steps in ((("a1", "a2"), {"a3"}, 1), (("a1", "a2", "a3"), {"a4"}, 2)):
            await lab.reset(queue)
            await lab.pause(queue, *away)
            states = await lab.states(queue)
            call = await lab.call(queue)
            await lab.joined(call)
            rounds = await lab.wait_rounds(call, 1, timeout=12)
            await lab.hang_up(call)
            assert await lab.settle() == []
            plan = plan_for(lab.site, queue, states, rounds=10, now=lab.join_epoch(call), jitter=NOMINAL_JITTER)
            candidates = [r for r in plan.rounds if r.members or r.alternative]
            if not candidates[0].boundary:
                candidates = candidates[:1]
            assert rounds[0].members == first
            assert any(c.matches(rounds[0].members) and abs(rounds[0].at - c.start) <= START_TOLERANCE for c in candidates), (rounds[0], candidates[:2])
            # QUEUE_MAX_PENALTY: 0 from the start, k at the first attempt more than k steps in
            joined_at = lab.of(call, "QueueCallerJoin")[0]["_t"]
            seen = [(e["Value"], e["_t"] - joined_at) for e in lab.rec.events
                    if e.get("Event") == "VarSet" and e.get("Channel") == call.channel and e.get("Variable") == "QUEUE_MAX_PENALTY"]
            assert [value for value, _ in seen[: steps + 1]] == [str(k) for k in range(steps + 1)], seen
            for k in range(1, steps + 1):
                at = seen[k][1]
                assert k * q.escalation_step - 0.05 <= at <= k * q.escalation_step + q.retry + 0.3, (k, at)
            assert rounds[0].at >= steps * q.escalation_step - 0.05  # nobody rang before the step

    play(scenario, queue)


# -- one member per round -----------------------------------------------------------------


def test_linear_rings_down_the_config_order_and_each_caller_starts_at_the_top(play):
    queue = "q_linear"  # members a1 (0), a4 (1), a2 (0), a3 (0)

    async def scenario(lab: Lab):
        plan = plan_for(lab.site, queue, await lab.states(queue), rounds=4)
        call, rounds = await no_answer_rounds(lab, queue, 4)
        assert plan.mismatches(observed(rounds)) == []
        assert observed(rounds) == [{"a1"}, {"a2"}, {"a3"}, {"a1"}]
        check_cadence(lab, call, rounds, queue)
        _, again = await no_answer_rounds(lab, queue, 1)
        assert observed(again) == [{"a1"}]

    play(scenario, queue)


def test_round_robin_memory_continues_where_the_last_caller_stopped(play):
    queue = "q_round_robin_memory"  # members a1 (0), a4 (1), a2 (0), a3 (0)

    async def scenario(lab: Lab):
        members = await lab.states(queue)
        call, rounds = await no_answer_rounds(lab, queue, 2)
        # QueueReset leaves the queue's remembered position alone (app_queue clear_queue)
        # and an earlier run may have moved it: the first caller's first member says
        # where it stood.
        start = next(mem.position for mem in members if mem.name in rounds[0].members)
        first = plan_for(lab.site, queue, members, rounds=2, rr_position=start)
        assert first.mismatches(observed(rounds)) == []
        check_cadence(lab, call, rounds, queue)
        second = plan_for(lab.site, queue, members, rounds=3, rr_position=first.next_rr_position)
        _, rounds2 = await no_answer_rounds(lab, queue, 3)
        assert second.mismatches(observed(rounds2)) == []
        # three p0 members in turn over both callers, the p1 member never
        sequence = [next(iter(r)) for r in observed(rounds) + observed(rounds2)]
        assert "a4" not in sequence
        assert sequence[:3] != sequence[1:4] and set(sequence[:3]) == {"a1", "a2", "a3"}
        assert sequence[3:] == sequence[:2]

    play(scenario, queue)


def test_round_robin_rings_the_longest_idle_member_and_stays_on_it(play):
    """leastrecent: a member who never took a call first, then whoever's last call ended
    longest ago. Nobody answering changes nothing: the same member rings every round
    (round_robin does not rotate on no answer); only when that member is away does the
    next longest idle ring."""
    queue = "q_round_robin"  # a1, a2, a3 priority 0; a4 priority 1

    async def scenario(lab: Lab):
        for agent in ("a1", "a2", "a3", "a4"):
            await lab.answers(agent, 0.2)
        taken = []
        for _ in range(3):
            plan = plan_for(lab.site, queue, await lab.states(queue), rounds=1, now=time.time())
            call = await lab.call(queue)
            agent = await lab.answered_by(call)
            assert plan.rounds[0].matches({agent}), (plan.rounds[0], agent)
            taken.append(agent)
            assert await lab.settle() == []
            await lab.wait_idle(queue)
            # app_queue keeps last-call times in whole seconds: the next call ends in a later one
            await asyncio.sleep(math.ceil(time.time()) - time.time() + 0.05)
        assert sorted(taken) == ["a1", "a2", "a3"]  # each of group 0 once; a4 never
        await lab.rings()
        members = await lab.states(queue)
        assert {mem.name: mem.calls for mem in members} == {"a1": 1, "a2": 1, "a3": 1, "a4": 0}
        plan = plan_for(lab.site, queue, members, rounds=2, now=time.time())
        call, rounds = await no_answer_rounds(lab, queue, 2)
        assert plan.mismatches(observed(rounds)) == []
        assert observed(rounds) == [{taken[0]}] * 2  # longest idle, again and again
        check_cadence(lab, call, rounds, queue)
        await lab.pause(queue, taken[0])
        plan = plan_for(lab.site, queue, await lab.states(queue), rounds=1, now=time.time())
        _, rounds = await no_answer_rounds(lab, queue, 1)
        assert plan.mismatches(observed(rounds)) == [] and observed(rounds) == [{taken[1]}]

    play(scenario, queue)


def test_fewest_calls_rings_whoever_took_fewest_and_stays_on_them(play):
    queue = "q_fewest_calls"  # a1, a2, a3 priority 0; a4 priority 1

    async def take(lab: Lab, agent: str) -> None:
        """`agent` takes one call: the others of the queue paused meanwhile."""
        others = [mem.name for mem in await lab.states(queue) if mem.name != agent]
        await lab.pause(queue, *others)
        await lab.answers(agent, 0.2)
        call = await lab.call(queue)
        assert await lab.answered_by(call) == agent
        await lab.rings(agent)
        assert await lab.settle() == []
        await lab.pause(queue, *others, paused=False)
        await lab.wait_idle(queue)

    async def scenario(lab: Lab):
        for agent in ("a1", "a1", "a2"):
            await take(lab, agent)
        members = await lab.states(queue)
        assert {mem.name: mem.calls for mem in members} == {"a1": 2, "a2": 1, "a3": 0, "a4": 0}
        plan = plan_for(lab.site, queue, members, rounds=2)
        call, rounds = await no_answer_rounds(lab, queue, 2)
        assert plan.mismatches(observed(rounds)) == [] and observed(rounds) == [{"a3"}] * 2
        check_cadence(lab, call, rounds, queue)
        await lab.pause(queue, "a3")
        plan = plan_for(lab.site, queue, await lab.states(queue), rounds=1)
        _, rounds = await no_answer_rounds(lab, queue, 1)
        assert plan.mismatches(observed(rounds)) == [] and observed(rounds) == [{"a2"}]

    play(scenario, queue)


@pytest.mark.parametrize("queue", ["q_random", "q_weighted_random"])
def test_random_rings_one_member_of_the_right_group_per_round(play, queue):
    """random: one member of the lowest priority group with someone free, drawn again
    each round. weighted_random (wrandom): one member of any group: the priority only
    weighs the draw. The order is not fixed: each round's membership is checked."""

    async def scenario(lab: Lab):
        plan = plan_for(lab.site, queue, await lab.states(queue), rounds=3)
        assert not plan.fixed_order
        call, rounds = await no_answer_rounds(lab, queue, 3)
        assert plan.mismatches(observed(rounds)) == []
        assert all(len(r) == 1 for r in observed(rounds))
        check_cadence(lab, call, rounds, queue)

    play(scenario, queue)


# -- time limits, empty queues, wrap-up ---------------------------------------------------


def test_max_wait_gives_the_caller_to_the_overflow_queue(play):
    """q_overflow: max_wait 5 s, ring 2 s, retry 1 s, overflow queue:q_next. The caller
    is rung twice (0 and 3 s), leaves with TIMEOUT at 5 s and joins q_next, whose member
    rings at once."""

    async def scenario(lab: Lab):
        q = lab.site.queues["q_overflow"]
        states = await lab.states("q_overflow")
        call = await lab.call("q_overflow")
        joined = await lab.joined(call)
        left = await lab.left(call, queue="q_overflow", timeout=q.max_wait + 3)
        nxt = await lab.joined_queue(call, "q_next")
        next_rounds = await lab.wait_rounds(call, 1, queue="q_next")
        await lab.hang_up(call)
        assert await lab.settle() == []
        rounds = lab.rounds(call, "q_overflow")
        plan = plan_for(lab.site, "q_overflow", states, rounds=10, now=lab.join_epoch(call, "q_overflow"))
        assert plan.mismatches(observed(rounds)) == [] and observed(rounds) == [{"a1", "a2"}] * 2
        waited = left["_t"] - joined["_t"]
        # the caller's time is up max_wait whole seconds after joining (plan.expires_at, in
        # (max_wait - 1, max_wait]); it leaves at the next check: when the ring running then,
        # cut to end by then in whole seconds, or the retry pause ends
        assert plan.expires_at is not None and q.max_wait - 1 < plan.expires_at <= q.max_wait
        assert plan.expires_at - 0.05 <= waited <= plan.expires_at + max(1, q.retry) + 0.2, (waited, plan.expires_at)
        back = [e for e in lab.rec.events if e.get("Event") == "Newexten" and e.get("Channel") == call.channel and e.get("Context") == "pbxctl-queue-exit"]
        assert back and back[0]["AppData"].endswith("gave the call back: TIMEOUT"), back[:1]
        assert nxt["_t"] - left["_t"] < 0.5
        assert observed(next_rounds) == [{"a5"}] and next_rounds[0].at < 0.5

    play(scenario, "q_overflow", "q_next")


def test_join_empty_false_sends_the_caller_to_when_empty_at_once(play):
    """q_empty (join_empty: false): with every member paused the caller does not join;
    QUEUESTATUS JOINEMPTY sends it to when_empty (transfer:901). A queue that may be
    joined empty (q_wrapup, join_empty default true) takes the caller in."""

    async def scenario(lab: Lab):
        await lab.pause("q_empty", "a1", "a2")
        call = await lab.call("q_empty")
        exit_event = await lab.exited(call)
        assert (exit_event["Number"], exit_event["QueueStatus"]) == ("901", "JOINEMPTY")
        assert exit_event["_t"] - call.placed_at < 1.0
        assert lab.of(call, "QueueCallerJoin") == [] and lab.of(call, "AgentCalled") == []
        assert await lab.settle() == []

        await lab.pause("q_wrapup", "a1", "a2", "a6")
        other = await lab.call("q_wrapup")
        await lab.joined(other)
        await asyncio.sleep(1.2)
        assert lab.of(other, "AgentCalled") == []
        await lab.hang_up(other)
        assert await lab.settle() == []

    play(scenario, "q_empty", "q_wrapup")


def test_exit_when_empty_leaves_after_the_ring_in_progress(play):
    """q_empty (exit_when_empty: true): the caller is being rung when every member
    pauses; the ring runs out (2 s), then the caller leaves with LEAVEEMPTY for
    when_empty (transfer:901) instead of waiting for the next round."""

    async def scenario(lab: Lab):
        call = await lab.call("q_empty")
        joined = await lab.joined(call)
        first = await lab.wait_rounds(call, 1)
        assert observed(first) == [{"a1", "a2"}]
        await asyncio.sleep(0.5)
        await lab.pause("q_empty", "a1", "a2")
        exit_event = await lab.exited(call)
        left = lab.of(call, "QueueCallerLeave")
        assert (exit_event["Number"], exit_event["QueueStatus"]) == ("901", "LEAVEEMPTY")
        assert abs(left[0]["_t"] - joined["_t"] - lab.site.queues["q_empty"].ring_time) <= 0.4
        assert len(lab.rounds(call)) == 1
        assert await lab.settle() == []

    play(scenario, "q_empty")


def test_wrapup_keeps_an_agent_out_of_the_next_call(play):
    """q_wrapup (ring_all, wrapup 3 s; a6 has its own wrap-up of 1 s). a1 takes a call,
    then a6 takes one; the next caller is rung without a1 until 3 whole seconds after
    a1's call ended and without a6 for 1 second after its own."""
    queue = "q_wrapup"

    async def scenario(lab: Lab):
        await lab.answers("a1")
        first = await lab.call(queue)
        assert await lab.answered_by(first) == "a1"
        await lab.rings("a1")
        assert await lab.settle() == []
        await lab.wait_idle(queue)

        await lab.answers("a6")
        states = await lab.states(queue)
        second = await lab.call(queue)
        assert await lab.answered_by(second) == "a6"
        await lab.rings("a6")
        rung = lab.rounds(second)[0]
        plan = plan_for(lab.site, queue, states, rounds=1, now=lab.join_epoch(second), jitter=JITTER)
        assert plan.mismatches([rung.members]) == [] and "a1" not in rung.members
        assert await lab.settle() == []
        await lab.wait_idle(queue)

        states = await lab.states(queue)
        assert {mem.name: mem.calls for mem in states} == {"a1": 1, "a2": 0, "a6": 1}
        call, rounds = await no_answer_rounds(lab, queue, 3)
        plan = plan_for(lab.site, queue, states, rounds=3, now=lab.join_epoch(call), starts=[r.at for r in rounds], jitter=JITTER)
        assert plan.mismatches(observed(rounds)) == []
        assert "a1" not in rounds[0].members and "a1" in rounds[2].members
        assert "a6" in rounds[1].members  # its own 1 s wrap-up, not the queue's 3 s

    play(scenario, queue)


@pytest.mark.xfail(
    strict=True,
    reason="agents.X.wrapup: 0 should override the queue's wrap-up (README), but pbxctl writes the "
    "member's wrap-up 0 (`,no,0`) and app_queue's get_wrapuptime treats 0 as unset: the queue's "
    "3 s apply to the agent anyway",
)
def test_an_agents_zero_wrapup_overrides_the_queues(play):
    queue = "q_wrapup_zero"  # wrapup 3; a7 has wrapup: 0 of its own

    async def scenario(lab: Lab):
        await lab.answers("a7")
        first = await lab.call(queue)
        assert await lab.answered_by(first) == "a7"
        await lab.rings("a7")
        assert await lab.settle() == []
        await lab.wait_idle(queue)
        states = await lab.states(queue)
        call, rounds = await no_answer_rounds(lab, queue, 1)
        plan = plan_for(lab.site, queue, states, rounds=1, now=lab.join_epoch(call), starts=[r.at for r in rounds], jitter=JITTER)
        assert plan.mismatches(observed(rounds)) == []
        assert observed(rounds) == [{"a5", "a7"}]

    play(scenario, queue)
