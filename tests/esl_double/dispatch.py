"""mod_callcenter's choice of agents for a waiting caller, one dispatch pass, written from
mod_callcenter.c (signalwire/freeswitch, src/mod/applications/mod_callcenter/: members_callback
builds the SQL, agents_callback walks its rows). Pure: the tests run the generated include
files through it and compare with pbxctl.domain.queue_strategy.

What the source does, which this mirrors:
- Rows: the queue's tiers joined with agents whose status is Available, On Break or
  Available (On Demand) ("logged in"), ordered per strategy: longest-idle-agent `level,
  last_offered_call, position`; agent-with-least-talk-time `level, talk_time, position`;
  agent-with-fewest-calls `level, calls_answered, position`; ring-all `level, position`;
  random `level, random()`; top-down: first the rows of the last offered level with a
  higher position, then `level, position`; round-robin: the same from the queue's last
  offered agent.
- Tier rules, per row, when tier-rules-apply and the row's level > the current tier (which
  starts at 0): go on if tier-rule-no-agent-no-wait and no row of the current tier was
  seen; else if multiply-level, go on once waited >= level x wait-second; else once
  waited >= wait-second; otherwise stop the walk. Every row passed counts as seen.
- A row is offered when its tier state is Ready (or No Answer), its agent is Waiting,
  past wrap-up and ready time, and not On Break. ring-all offers every such row and goes
  on; every other strategy offers the first and stops.
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass

LOGGED_IN = ("Available", "On Break", "Available (On Demand)")


@dataclass(frozen=True)
class Tier:
    agent: str
    level: int
    position: int


@dataclass(frozen=True)
class AgentState:
    status: str = "Available"
    waiting: bool = True  # state Waiting (not Receiving / In a queue call)
    in_wrapup: bool = False
    last_offered: int = 0
    calls_answered: int = 0
    talk_time: int = 0


@dataclass(frozen=True)
class Rules:
    apply: bool
    wait_second: int
    multiply_level: bool
    no_agent_no_wait: bool


def offered(
    strategy: str,
    rules: Rules,
    tiers: list[Tier],
    agents: dict[str, AgentState],
    waited: int,
    last: Tier | None = None,
    rng: _random.Random | None = None,
) -> list[str]:
    """The agents one pass offers the caller to, in order (at most one unless ring-all).
    `last`: top-down's last offered tier for this caller, round-robin's for the queue."""
    rows = [t for t in tiers if agents[t.agent].status in LOGGED_IN]
    rows = _ordered(strategy, rows, agents, last, rng or _random.Random(0))
    tier, seen, out = 0, 0, []
    for row in rows:
        if rules.apply and row.level > tier:
            if rules.no_agent_no_wait and seen == 0:
                tier = row.level
            elif rules.multiply_level and waited >= row.level * rules.wait_second:
                tier, seen = row.level, 0
            elif not rules.multiply_level and waited >= rules.wait_second:
                tier, seen = row.level, 0
            else:
                break
        seen += 1
        state = agents[row.agent]
        if not state.waiting or state.in_wrapup or state.status == "On Break":
            continue
        out.append(row.agent)
        if strategy != "ring-all":
            break
    return out


def _ordered(strategy: str, rows: list[Tier], agents: dict[str, AgentState], last: Tier | None, rng) -> list[Tier]:
    def by(*keys):
        return sorted(rows, key=lambda t: tuple(k(t) for k in keys))

    level = lambda t: t.level  # noqa: E731
    position = lambda t: t.position  # noqa: E731
    if strategy == "longest-idle-agent":
        return by(level, lambda t: agents[t.agent].last_offered, position)
    if strategy == "agent-with-least-talk-time":
        return by(level, lambda t: agents[t.agent].talk_time, position)
    if strategy == "agent-with-fewest-calls":
        return by(level, lambda t: agents[t.agent].calls_answered, position)
    if strategy == "ring-all":
        return by(level, position)
    if strategy == "random":
        keyed = {t: rng.random() for t in rows}
        return by(level, lambda t: keyed[t])
    if strategy in ("top-down", "round-robin"):
        rest = by(level, position)
        if last is None:
            return rest
        first = [t for t in rest if t.level == last.level and t.position > last.position]
        return first + [t for t in rest if t not in first]
    raise ValueError(f"strategy {strategy!r} is not one pbxctl writes")
