"""What mod_callcenter must be told so that its live queues, agents and tiers are the ones
in pbxctl's generated include files: pure functions from (target files, previous files,
`callcenter_config ... list` rows) to `callcenter_config` commands. No socket here.

Why commands and not `callcenter_config queue reload` alone (recorded on 1.10.12,
tests/fixtures/esl/freeswitch-1.10.12-reload.txt): `queue load` and `queue reload` keep the
callers waiting, but reload *every* agent from the XML, so a logged-in agent who was On
Break becomes the XML status (Available) and is offered a waiting call at once. Agents and
tiers are therefore changed one by one (`agent add/set/del`, `tier add/set/del`, which
leave every other agent alone); a queue is loaded or reloaded only when it is new or its
own settings changed, and then each agent's status from before is put back
(`status_commands`).

What is pbxctl's: the agents, tiers and queues named in the previous generated files (the
ones on disk before this apply). Anything else mod_callcenter has loaded is the operator's
and is never touched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pbxctl.freeswitch import wire

# Queue params that `callcenter_config queue list` shows (as columns with '_'); the others
# (announce-sound, announce-frequency) are compared between the previous and the new file.
LISTED_QUEUE_PARAMS = (
    "strategy", "moh-sound", "time-base-score", "tier-rules-apply", "tier-rule-wait-second",
    "tier-rule-wait-multiply-level", "tier-rule-no-agent-no-wait", "discard-abandoned-after",
    "abandoned-resume-allowed", "max-wait-time", "max-wait-time-with-no-agent",
    "max-wait-time-with-no-agent-time-reached",
)  # fmt: skip
# Agent attributes pbxctl writes that `agent set` can change (XML name -> set key / column).
AGENT_SETTINGS = {
    "contact": "contact",
    "max-no-answer": "max_no_answer",
    "wrap-up-time": "wrap_up_time",
    "reject-delay-time": "reject_delay_time",
    "busy-delay-time": "busy_delay_time",
    "no-answer-delay-time": "no_answer_delay_time",
}


@dataclass
class CallcenterConfig:
    """The queues, agents and tiers of pbxctl's include files."""

    queues: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> param -> value
    agents: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> attribute -> value
    tiers: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (queue, agent) -> (level, position)


def parse_config(queues_xml: str | None, agents_xml: str | None, tiers_xml: str | None) -> CallcenterConfig:
    config = CallcenterConfig()
    if queues_xml:
        for q in ET.fromstring(queues_xml).iter("queue"):
            config.queues[q.get("name", "")] = {p.get("name", ""): p.get("value", "") for p in q.iter("param")}
    if agents_xml:
        for a in ET.fromstring(agents_xml).iter("agent"):
            config.agents[a.get("name", "")] = dict(a.attrib)
    if tiers_xml:
        for t in ET.fromstring(tiers_xml).iter("tier"):
            config.tiers[(t.get("queue", ""), t.get("agent", ""))] = (t.get("level", ""), t.get("position", ""))
    return config


@dataclass
class LiveCallcenter:
    """mod_callcenter's `queue list`, `agent list` and `tier list` rows, keyed."""

    queues: dict[str, dict[str, str]]
    agents: dict[str, dict[str, str]]
    tiers: dict[tuple[str, str], dict[str, str]]

    @classmethod
    def from_rows(cls, queues: list[dict[str, str]], agents: list[dict[str, str]], tiers: list[dict[str, str]]):
        return cls(
            {r["name"]: r for r in queues},
            {r["name"]: r for r in agents},
            {(r["queue"], r["agent"]): r for r in tiers},
        )


quote = wire.cc_argument


def queue_differs(params: dict[str, str], row: dict[str, str]) -> list[str]:
    return [p for p in LISTED_QUEUE_PARAMS if p in params and row.get(p.replace("-", "_")) != params[p]]


def queue_commands(target: CallcenterConfig, previous: CallcenterConfig, live: LiveCallcenter) -> list[str]:
    out = []
    for name, params in target.queues.items():
        if name not in live.queues:
            out.append(f"queue load {name}")
        elif queue_differs(params, live.queues[name]) or previous.queues.get(name) != params:
            out.append(f"queue reload {name}")
    for name in previous.queues:
        if name not in target.queues and name in live.queues:
            out.append(f"queue unload {name}")  # callers still waiting stay (recorded)
    return out


def member_commands(target: CallcenterConfig, previous: CallcenterConfig, live: LiveCallcenter) -> list[str]:
    """Agents and tiers, against the lists as they are after the queue commands ran."""
    out: list[str] = []
    for name, attrs in target.agents.items():
        row = live.agents.get(name)
        if row is None:
            out.append(f"agent add {name} {attrs.get('type', 'callback')}")
        for attr, key in AGENT_SETTINGS.items():
            if attr in attrs and (row is None or row.get(key) != attrs[attr]):
                out.append(f"agent set {key} {name} {attrs[attr]}")
        if row is None and "status" in attrs:
            out.append(f"agent set status {name} {quote(attrs['status'])}")
    for key in previous.tiers:
        if key not in target.tiers and key in live.tiers:
            out.append(f"tier del {key[0]} {key[1]}")
    for (queue, agent), (level, position) in target.tiers.items():
        row = live.tiers.get((queue, agent))
        if row is None:
            out.append(f"tier add {queue} {agent} {level} {position}")
            continue
        if row.get("level") != level:
            out.append(f"tier set level {queue} {agent} {level}")
        if row.get("position") != position:
            out.append(f"tier set position {queue} {agent} {position}")
    for name in previous.agents:
        if name not in target.agents and name in live.agents:
            # its tiers in queues pbxctl does not know (the operator's) go with it
            out += [f"tier del {q} {a}" for (q, a) in live.tiers if a == name and (q, a) not in previous.tiers]
            out.append(f"agent del {name}")
    return out


def status_commands(before: dict[str, str], live: LiveCallcenter) -> list[str]:
    """Put back the status each agent had before a queue load/reload reset it from the XML:
    every agent, the operator's too (the reset hit them as well)."""
    return [
        f"agent set status {name} {quote(status)}"
        for name, status in before.items()
        if name in live.agents and live.agents[name].get("status") != status
    ]


def mismatches(target: CallcenterConfig, previous: CallcenterConfig, live: LiveCallcenter) -> list[str]:
    """What mod_callcenter lists differently from the target; empty when it has it all."""
    problems = []
    for name, params in target.queues.items():
        if name not in live.queues:
            problems.append(f"queue {name} is not loaded")
        else:
            for p in queue_differs(params, live.queues[name]):
                problems.append(f"queue {name} has {p} {live.queues[name].get(p.replace('-', '_'))!r}, expected {params[p]!r}")
    for name, attrs in target.agents.items():
        row = live.agents.get(name)
        if row is None:
            problems.append(f"agent {name} is not loaded")
            continue
        for attr, key in AGENT_SETTINGS.items():
            if attr in attrs and row.get(key) != attrs[attr]:
                problems.append(f"agent {name} has {key} {row.get(key)!r}, expected {attrs[attr]!r}")
    for (queue, agent), (level, position) in target.tiers.items():
        row = live.tiers.get((queue, agent))
        if row is None:
            problems.append(f"tier {agent} in {queue} is not loaded")
        elif (row.get("level"), row.get("position")) != (level, position):
            problems.append(
                f"tier {agent} in {queue} has level {row.get('level')} position {row.get('position')}, "
                f"expected {level} {position}"
            )
    problems += [f"queue {n} is still loaded" for n in previous.queues if n not in target.queues and n in live.queues]
    problems += [f"agent {n} is still loaded" for n in previous.agents if n not in target.agents and n in live.agents]
    problems += [
        f"tier {a} in {q} is still loaded" for (q, a) in previous.tiers if (q, a) not in target.tiers and (q, a) in live.tiers
    ]
    return problems
