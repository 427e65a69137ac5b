"""Which members a queue rings, together or one at a time, round after round, while nobody
answers: a small pure-Python reference of each site strategy as pbxctl runs it on
Asterisk's app_queue (render/asterisk.py maps it: ENGINE_STRATEGY, escalation_steps;
asterisk/member_actions.py: penalty_for). The end-to-end tests compare what the sandbox Asterisk rings
(AgentCalled events) with it; no PBX is needed here.

How app_queue rings, which this module mirrors (apps/app_queue.c):

- A caller at the head of the queue makes *attempts* (try_calling): each gives every
  member a *metric* (calc_metric), rings the member(s) with the lowest metric that can
  be rung (ring_one), waits up to the queue's `timeout` (the site's `ring_time`) for an
  answer, and after a failed attempt waits `retry` seconds before the next one. An
  attempt that finds nobody to ring ends at once (wait_for_answer), so the next one
  comes `retry` seconds later. One attempt is one `Round` here.
- Total queue time (Queue()'s timeout, the site's `max_wait`): the caller expires
  max_wait whole seconds after joining; no attempt starts after that, a ring in
  progress is cut short, and the caller leaves with QUEUESTATUS=TIMEOUT.
- A member that cannot be rung (paused, on a call, in wrap-up: can_ring_entry) is
  skipped and the next lowest metric is tried in the same attempt. (So is the next
  member, or the next penalty group for ringall, when every phone rung rejects the
  call as busy; not modelled here: members either ring until the timeout or cannot be
  rung.)
- Penalties (the site's priorities as they ring, see ring_priority) add penalty * 1,000,000 to the
  metric: a higher priority group is rung only when nobody of a lower one can be.
- `ringall` rings every member sharing the lowest metric at once; every other strategy
  rings exactly one member per attempt.
- Metrics per strategy: ringall = penalty only; leastrecent = 0 for a member who never
  took a call, else 1,000,000 - seconds since their last call ended; fewestcalls = calls
  taken; random = a random number below 1,000; wrandom = a random number below
  (1 + penalty) * 1,000 and *no* penalty grouping (the penalty is only a weight);
  linear = position in the queue's config, starting each caller from the first member
  and going on after the member rung last; rrmemory = the same, but the position where
  the next attempt starts is remembered by the queue across callers.
- A ring without an answer changes no member's statistics: leastrecent and fewestcalls
  ring the *same* member again in the next attempt. Only a call that was answered and
  ended updates calls taken and the last call time (update_queue).
- Wrap-up: a member whose last call ended less than the wrap-up time ago (whole seconds)
  is not rung (can_ring_entry); the agent's own wrap-up (agents.X.wrapup) replaces the
  queue's. Here `wrapup: 0` on an agent means no wrap-up, as the site model says;
  app_queue (get_wrapuptime) takes a member wrap-up of 0 as unset and applies the
  queue's instead: a known difference, see the xfail test in
  tests/test_queue_strategies_asterisk.py.
- `retry: 0` is taken as no pause here; app_queue replaces a retry of 0 by 5 s.
- Escalation rules (queuerules.conf penaltychange) are looked at before each attempt:
  a rule for T seconds applies once the caller has waited more than T whole seconds.
  `escalating` here means what the site model promises: after k steps groups 0..k ring
  together (each rule raises the lower penalties to its maximum, the `r` field).
  app_queue applies that raise only to a caller that has QUEUE_RAISE_PENALTY set; the
  generated dialplan sets only QUEUE_MAX_PENALTY, so on the PBX a newly opened group
  rings only while every lower group is away: a known difference, see the xfail test in
  tests/test_queue_strategies_asterisk.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from pbxctl.site import model as m

PENALTY_WEIGHT = 1_000_000

# Strategies whose choice in an attempt is fixed by the members' state (no dice).
_DETERMINISTIC = {
    m.Strategy.round_robin,
    m.Strategy.ring_all,
    m.Strategy.ring_all_priority,
    m.Strategy.escalating,
    m.Strategy.fewest_calls,
    m.Strategy.linear,
    m.Strategy.round_robin_memory,
}
_RING_ALL = {m.Strategy.ring_all, m.Strategy.ring_all_priority, m.Strategy.escalating}


@dataclass(frozen=True)
class MemberState:
    """A queue member as the strategy sees it when the caller joins.

    `position` is the order in the queue's configuration (0 first; pbxctl writes members
    in the order of the site's `members` list). `last_call_end` is on the same clock as
    the `now` given to ring_plan (seconds; app_queue keeps whole seconds). `available`
    is False while the member is paused, logged out or on a call. `wrapup` is the agent's
    own wrap-up, None for the queue's.
    """

    name: str
    priority: int = 0
    position: int = 0
    calls: int = 0
    last_call_end: float | None = None
    available: bool = True
    wrapup: int | None = None


@dataclass(frozen=True)
class Round:
    """One attempt: `members` ring together when `together`, else exactly one of them
    rings (a strategy that rings one member per attempt: several names are the
    candidates of a random draw or of a tie app_queue breaks by its own member order).

    `start` is the time after the caller joined (nominal, or the observed start when
    given). `max_priority` is the highest priority group allowed to ring (escalating;
    None: all). `alternative` is what the PBX may ring instead when the round starts on
    a whole-second boundary that decides an escalation step or the end of a wrap-up
    (app_queue counts whole seconds): None when the round is clear-cut.
    """

    index: int
    start: float
    members: frozenset[str]
    together: bool
    max_priority: int | None = None
    alternative: frozenset[str] | None = None

    @property
    def boundary(self) -> bool:
        return self.alternative is not None

    def matches(self, rung: Iterable[str]) -> bool:
        rung = frozenset(rung)
        return any(self._fits(rung, option) for option in (self.members, self.alternative) if option is not None)

    def _fits(self, rung: frozenset[str], option: frozenset[str]) -> bool:
        if self.together or not option:
            return rung == option
        return len(rung) == 1 and rung <= option


@dataclass(frozen=True)
class RingPlan:
    """The expected rounds while nobody answers.

    `group_opens` (escalating): priority -> seconds after joining from which that group
    rings with the lower ones. `repeats_choice`: an attempt's choice among tied members,
    once made, is made again while nothing changes (leastrecent, fewestcalls: app_queue
    breaks ties by its member order, which is fixed but not the config order).
    `fixed_order`: False for random strategies, where only membership of each round's
    group can be checked. `next_rr_position`: round_robin_memory's remembered position
    after these rounds (the next caller starts there). `expires_at`: with a max_wait,
    when (s after joining) the caller's time is up: no round starts from then on, and
    the caller leaves at the next check (at the latest when the ring or retry pause
    running then ends).
    """

    strategy: m.Strategy
    rounds: tuple[Round, ...]
    group_opens: dict[int, float] = field(default_factory=dict)
    repeats_choice: bool = False
    fixed_order: bool = True
    next_rr_position: int = 0
    expires_at: float | None = None

    def mismatches(self, observed: Sequence[Iterable[str]]) -> list[str]:
        """What differs between these rounds and the rounds a PBX rang (one set of
        member names per round, in order; an empty set for an attempt that rang nobody);
        empty when they agree."""
        problems: list[str] = []
        observed = [frozenset(r) for r in observed]
        for exp, got in zip(self.rounds, observed):
            if not exp.matches(got):
                want = sorted(exp.members) if exp.together else f"one of {sorted(exp.members)}"
                if exp.alternative is not None:
                    want = f"{want} (or {sorted(exp.alternative)})"
                problems.append(f"round {exp.index + 1} (t={exp.start:g} s): expected {want}, rang {sorted(got)}")
        if len(observed) != len(self.rounds):
            problems.append(f"{len(observed)} rounds rang, {len(self.rounds)} expected")
        if self.repeats_choice:
            for i in range(1, min(len(observed), len(self.rounds))):
                same_choice = self.rounds[i].members == self.rounds[i - 1].members and not self.rounds[i].together
                if same_choice and observed[i] != observed[i - 1]:
                    problems.append(f"round {i + 1}: rang {sorted(observed[i])}, not the member chosen before ({sorted(observed[i - 1])})")
        return problems


def effective_wrapup(member: MemberState, queue_wrapup: int) -> int:
    """The agent's own wrap-up if it has one (0 included), else the queue's. (app_queue's
    get_wrapuptime falls back to the queue's for 0 as well.)"""
    return queue_wrapup if member.wrapup is None else member.wrapup


def in_wrapup(member: MemberState, at: float, queue_wrapup: int) -> bool:
    """can_ring_entry: `(now - lastcall) < wrapuptime`, on whole seconds."""
    wrapup = effective_wrapup(member, queue_wrapup)
    if not wrapup or member.last_call_end is None:
        return False
    return math.floor(at) - math.floor(member.last_call_end) < wrapup


def ring_plan(
    strategy: m.Strategy | str,
    members: Sequence[MemberState],
    *,
    ring_time: int,
    retry: int,
    rounds: int,
    escalation_step: int | None = None,
    wrapup: int = 0,
    now: float = 0.0,
    rr_position: int = 0,
    starts: Sequence[float] | None = None,
    jitter: float = 0.0,
    max_wait: int | None = None,
) -> RingPlan:
    """The first `rounds` attempts for a caller who joins at `now` while nobody answers
    (fewer when `max_wait` ends the caller's time first).

    A round starts nominally ring_time + retry seconds after the one before, retry
    seconds after one that rang nobody; or at `starts[k]` when given (observed starts).
    A round whose answer would change within `jitter` seconds of its start (an
    escalation step or the end of a wrap-up on a whole-second boundary) gets the other
    answer as its `alternative`. `rr_position` is round_robin_memory's remembered
    position (0 after a reload). Availability is taken as constant over the rounds,
    except wrap-up, which ends on time.
    """
    strategy = m.Strategy(strategy)
    if strategy is m.Strategy.least_talk_time:
        raise ValueError("least_talk_time has no app_queue strategy (FreeSWITCH only)")
    if strategy is m.Strategy.escalating and not escalation_step:
        raise ValueError("escalating needs escalation_step")
    names = [mem.name for mem in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names repeat: {names}")
    if starts is not None and len(starts) < rounds:
        raise ValueError(f"{rounds} rounds but {len(starts)} start times")
    ordered = sorted(members, key=lambda mem: mem.position)
    # Queue(...,timeout): expire = time(NULL) at join + max_wait, checked as time(NULL) >= expire.
    expires = None if max_wait is None else math.floor(now) + max_wait - now
    opens: dict[int, float] = {}
    if strategy is m.Strategy.escalating:
        top = max((mem.priority for mem in members), default=0)
        opens = {k: float(k * escalation_step) for k in range(top + 1)}

    result: list[Round] = []
    # linear: each caller from the first member; rrmemory: the queue's remembered position
    position = 0 if strategy is m.Strategy.linear else rr_position
    start = 0.0
    for index in range(rounds):
        if starts is not None:
            start = float(starts[index])
        if expires is not None and start >= expires:
            break
        members_at, together, max_priority, chosen = _attempt(strategy, ordered, now, start, wrapup, opens, position)
        alternative = None
        for shifted in (start - jitter, start + jitter) if jitter else ():
            other = _attempt(strategy, ordered, now, shifted, wrapup, opens, position)[0]
            if other != members_at:
                alternative = other
        result.append(Round(index, start, members_at, together, max_priority, alternative))
        if chosen is not None and strategy in (m.Strategy.linear, m.Strategy.round_robin_memory):
            position = _next_position(ordered, position, chosen)
        start += (ring_time if members_at else 0) + retry
    return RingPlan(
        strategy=strategy,
        rounds=tuple(result),
        group_opens=opens,
        repeats_choice=strategy in (m.Strategy.round_robin, m.Strategy.fewest_calls),
        fixed_order=strategy in _DETERMINISTIC,
        next_rr_position=position if strategy is m.Strategy.round_robin_memory else rr_position,
        expires_at=expires,
    )


def _attempt(
    strategy: m.Strategy,
    ordered: Sequence[MemberState],
    now: float,
    start: float,
    wrapup: int,
    opens: dict[int, float],
    position: int,
) -> tuple[frozenset[str], bool, int | None, str | None]:
    """One try_calling: (members, together, max priority, the member rung if only one)."""
    at = now + start
    max_priority = None
    if strategy is m.Strategy.escalating:
        # queue_exec, before each attempt: `while (rule && time(NULL) - joined > rule.time)
        # apply(rule)`, on whole seconds (joined = time(NULL) at join).
        waited = math.floor(at) - math.floor(now)
        max_priority = max(k for k, t in opens.items() if k == 0 or waited > t)
    ringable = [mem for mem in ordered if mem.available and not in_wrapup(mem, at, wrapup)]
    if max_priority is not None:
        ringable = [mem for mem in ringable if mem.priority <= max_priority]
    if not ringable:
        return frozenset(), strategy in _RING_ALL, max_priority, None
    if strategy in _RING_ALL:
        if strategy is m.Strategy.ring_all:
            group = ringable  # every penalty is 0 (ring_priority)
        elif strategy is m.Strategy.escalating:
            # Intended: every open group rings together (each rule raises the lower
            # penalties to its maximum: the `r` field of penaltychange).
            group = ringable
        else:
            low = min(mem.priority for mem in ringable)
            group = [mem for mem in ringable if mem.priority == low]
        return frozenset(mem.name for mem in group), True, max_priority, None
    if strategy is m.Strategy.weighted_random:
        # wrandom: metric = random % ((1 + penalty) * 1000): anyone may win; a lower
        # priority number only makes it likelier.
        return frozenset(mem.name for mem in ringable), False, None, None
    if strategy is m.Strategy.random:
        low = min(mem.priority for mem in ringable)
        return frozenset(mem.name for mem in ringable if mem.priority == low), False, None, None
    if strategy is m.Strategy.fewest_calls:
        metric = {mem.name: mem.calls + mem.priority * PENALTY_WEIGHT for mem in ringable}
    elif strategy is m.Strategy.round_robin:
        metric = {mem.name: _least_recent(mem, at) + mem.priority * PENALTY_WEIGHT for mem in ringable}
    else:  # linear, round_robin_memory: positions from `position` on, then wrap around
        metric = {mem.name: _cyclic(mem.position, position) + mem.priority * PENALTY_WEIGHT for mem in ringable}
    best = min(metric.values())
    chosen = frozenset(name for name, value in metric.items() if value == best)
    return chosen, False, None, next(iter(chosen)) if len(chosen) == 1 else None


def _least_recent(member: MemberState, at: float) -> int:
    if member.last_call_end is None:
        return 0
    return PENALTY_WEIGHT - (math.floor(at) - math.floor(member.last_call_end))


def _cyclic(pos: int, start: int) -> int:
    """calc_metric for linear/rrmemory: positions from `start` on first, then the rest."""
    return pos if pos >= start else 1000 + pos


def _next_position(ordered: Sequence[MemberState], start: int, rung: str) -> int:
    """store_next_lin / store_next_rr after an attempt that rang `rung`: the position of
    the best-metric member not rung in it (every member counts, available or not, except
    those app_queue already failed to ring in this attempt, which are the ones ranked
    before `rung`); if none, start over."""
    metric = {mem.name: _cyclic(mem.position, start) + mem.priority * PENALTY_WEIGHT for mem in ordered}
    rung_metric = metric[rung]
    rest = [mem for mem in ordered if mem.name != rung and not (metric[mem.name] < rung_metric)]
    if rest:
        best = min(rest, key=lambda mem: metric[mem.name])
        return best.position
    return 0


def ring_priority(queue: m.Queue, member: m.Member) -> int:
    """The priority group a member rings in: ring_all rings every logged-in member at
    once, so priorities do not apply there. Adapters map it (Asterisk: the penalty)."""
    return 0 if queue.strategy is m.Strategy.ring_all else member.priority


def members_of(
    site: m.Site,
    queue_name: str,
    *,
    calls: dict[str, int] | None = None,
    last_call_end: dict[str, float] | None = None,
    unavailable: Iterable[str] = (),
) -> list[MemberState]:
    """The static members of a site's queue as MemberState (name = the agent's key),
    with the priority they ring at (ring_priority: 0 for ring_all) as priority."""
    queue = site.queues[queue_name]
    calls = calls or {}
    last_call_end = last_call_end or {}
    unavailable = set(unavailable)
    states = []
    for position, mem in enumerate(mem for mem in queue.members if site.agents[mem.agent].login == "static"):
        agent = site.agents[mem.agent]
        states.append(
            MemberState(
                name=mem.agent,
                priority=ring_priority(queue, mem),
                position=position,
                calls=calls.get(mem.agent, 0),
                last_call_end=last_call_end.get(mem.agent),
                available=mem.agent not in unavailable,
                wrapup=agent.wrapup,
            )
        )
    return states


def plan_for(site: m.Site, queue_name: str, members: Sequence[MemberState], *, rounds: int, **options) -> RingPlan:
    """ring_plan with the queue's own strategy, ring time, retry, escalation step,
    wrap-up and max_wait; `options` are ring_plan's (now, rr_position, starts, jitter)."""
    queue = site.queues[queue_name]
    return ring_plan(
        queue.strategy,
        members,
        ring_time=queue.ring_time,
        retry=queue.retry,
        rounds=rounds,
        escalation_step=queue.escalation_step,
        wrapup=queue.wrapup,
        max_wait=queue.max_wait,
        **options,
    )
