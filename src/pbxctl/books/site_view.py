"""What the books take from the site when it is known: which agent a logged member is,
the wrap-up in force for a queue's agent (stock app_queue logs neither), and the
thresholds the quarter-hour sums are counted with."""

from __future__ import annotations

import socket
from typing import Mapping

from pbxctl.books.assembler import AgentNames, WrapupTable
from pbxctl.books.quarter_sums import Thresholds
from pbxctl.site import model as m


def node_name(site: m.Site | None, given: str | None = None) -> str:
    if given:
        return given
    if site is not None and site.storage.node:
        return site.storage.node
    return socket.gethostname().split(".")[0] or "pbx"


def agent_of(site: m.Site, interfaces: Mapping[str, str]) -> AgentNames:
    """queue_log names members by membername (the agent's display name, which pbxctl
    gives app_queue), by interface (ADDMEMBER/REMOVEMEMBER), or by whatever the operator
    configured: the first two map to the agent key, anything else stays as logged.
    `interfaces` (member interface -> agent) comes from the PBX adapter: the books do not
    know how a backend names its members."""
    names: dict[str, str] = {}
    for key, agent in site.agents.items():
        names.setdefault(agent.name, key)
    for interface, key in interfaces.items():
        names.setdefault(interface, key)
    for key in site.agents:
        names.setdefault(key, key)
    return AgentNames(names)


def wrapup_of(site: m.Site) -> WrapupTable:
    """The agent's own wrap-up counts only for a static membership (AMI QueueAdd takes no
    wrap-up: a logged-in dynamic agent gets the queue's)."""
    return WrapupTable(
        {name: int(q.wrapup) for name, q in site.queues.items()},
        {name: int(a.wrapup) for name, a in site.agents.items() if a.login == "static" and a.wrapup is not None},
    )


def thresholds_of(site: m.Site) -> Thresholds:
    """Each queue's service level and reports.short_abandon, as a queue report asks for them."""
    return Thresholds({name: int(q.service_level) for name, q in site.queues.items()}, int(site.reports.short_abandon))


def static_members(site: m.Site) -> dict[str, list[str]]:
    """agent -> the queues it is a static member of (`login: static`: written into
    app_queue's config, so it logs no ADDMEMBER). Asterisk only: on FreeSWITCH the
    controller books every agent's status changes (freeswitch/agent_events.py)."""
    found: dict[str, list[str]] = {}
    if site.pbx.backend != "asterisk":
        return found
    for queue_name, queue in site.queues.items():
        for member in queue.members:
            agent = site.agents.get(member.agent)
            if agent is not None and agent.login == "static":
                found.setdefault(member.agent, []).append(queue_name)
    return found
