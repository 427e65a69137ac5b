"""Automatic callbacks on Asterisk, agent first: every few seconds the due entries of the
queues with `mode: automatic` are matched with free agents (pbxctl.domain.callbacks.
dispatch: never more callbacks than free agents), each taken for its agent, and the
agent's phone is rung by AMI Originate into [pbxctl-callback-auto]; the dialplan says the
number, dials the customer, asks for the accept key, and its hangup handler reports the
result through the `callback` AGI script (asterisk/callback_codes.py).

Free means: a member the live queue state shows `available` in a queue with nobody
waiting — a callback never takes an agent a waiting caller could have had. An agent
whose phone does not answer gives the entry back (open, no attempt).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.asterisk.ami_link import AmiLink
from pbxctl.asterisk.callback_codes import callback_variables
from pbxctl.asterisk.member_actions import agent_by_interface, agent_interface
from pbxctl.domain.callbacks import CallbackError, Dispatch, Status, dispatch, take
from pbxctl.service import callback_desk as desk
from pbxctl.service.runtime import LinkDown
from pbxctl.site.load import LoadedSite
from pbxctl.storage.callback_list import change_entry, list_entries

log = structlog.get_logger("pbxctl.callback_dialer")

TICK_SECONDS = 2.0
# Seconds the agent's phone rings for an automatic callback before it is given back.
AGENT_RING_S = 20


def free_agents(loaded: LoadedSite, views, queues) -> dict[str, list[str]]:
    """Per queue, its available agents (longest since their last call first); none for a
    queue with callers waiting."""
    by_interface = agent_by_interface(loaded.site)
    out = {}
    for name in queues:
        view = views.get(name)
        if view is None or any(c.position > 0 for c in view.callers):  # position 0: already with an agent
            continue
        members = sorted((m for m in view.members if m.state == "available" and m.interface in by_interface),
                         key=lambda m: m.last_call)
        out[name] = [by_interface[m.interface] for m in members]
    return out


class CallbackDialer:
    def __init__(self, site: Callable[[], LoadedSite], engine: Engine, controller, link: AmiLink,
                 now: Callable[[], dt.datetime] = desk.now_utc):
        self._site = site
        self.engine = engine
        self.controller = controller
        self.link = link
        self.now = now
        self._calls: set[asyncio.Task] = set()

    async def run(self, interval: float = TICK_SECONDS) -> None:
        await asyncio.to_thread(self.give_back_unfinished)
        while True:
            try:
                await self.tick()
            except LinkDown:
                pass  # nothing is dialled while Asterisk cannot be told
            except Exception:  # one bad tick must not stop callbacks for good
                log.exception("callback_dialer_failed")
            await asyncio.sleep(interval)

    def give_back_unfinished(self) -> None:
        """Automatic callbacks a previous run left in progress (the service stopped while one
        rang) go back on the list: their attempt is reported by the dialplan if the call
        still ends, and is recorded on the open entry then."""
        rules = {q for q, r in desk.configured_rules(self._site()).items() if r.automatic}
        for entry in list_entries(self.engine, rules, ["in_progress"]) if rules else []:
            desk.release_entry(self.engine, entry.id, self.now())
            log.info("callback_given_back", entry=entry.id, agent=entry.agent, why="in progress when the service started")

    async def tick(self) -> list[Dispatch]:
        loaded = self._site()
        rules = {q: r for q, r in desk.configured_rules(loaded).items() if r.automatic}
        if not rules or not self.link.up:
            return []
        entries = await asyncio.to_thread(list_entries, self.engine, list(rules), ["open", "in_progress"])
        held = {e.agent for e in entries if e.status is Status.in_progress and e.agent}
        free = free_agents(loaded, self.controller.queues(), rules)
        started = []
        for chosen in dispatch([e for e in entries if e.status is Status.open], rules, free, held, self.now()):
            try:
                entry = await asyncio.to_thread(change_entry, self.engine, chosen.entry.id,
                                                lambda e, a=chosen.agent: take(e, a), self.now())
            except CallbackError as exc:  # taken by hand meanwhile
                log.info("callback_not_started", entry=chosen.entry.id, why=str(exc))
                continue
            task = asyncio.create_task(self._ring_agent(loaded, entry, chosen.agent))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            started.append(Dispatch(entry, chosen.agent))
        return started

    async def _ring_agent(self, loaded: LoadedSite, entry, agent: str) -> None:
        site = loaded.site
        key = site.callbacks.queues[entry.queue].accept_key
        variables = callback_variables(loaded, entry, accept_key=key)
        log.info("callback_started", entry=entry.id, queue=entry.queue, number=entry.number, agent=agent)
        try:
            replies = await self.link.action({
                "Action": "Originate",
                "Channel": agent_interface(site, site.agents[agent]),
                "Context": wire.CONTEXTS.callback_auto,
                "Exten": "s",
                "Priority": "1",
                "Timeout": str(AGENT_RING_S * 1000),
                "CallerID": f"Callback <{variables[wire.CALLBACK_DIGITS]}>",
                "Variable": [f"{name}={value}" for name, value in variables.items()],
                "Async": "true",
            }, as_list=True, timeout=AGENT_RING_S + 15)
            final = replies[-1] if isinstance(replies, list) else replies
            answered = final.get("Event") == "OriginateResponse" and final.get("Response") == "Success"
        except Exception as exc:  # the link went down, Asterisk refused: the entry goes back
            log.warning("callback_agent_not_rung", entry=entry.id, agent=agent, error=str(exc))
            answered = False
        if not answered:
            log.info("callback_agent_did_not_answer", entry=entry.id, agent=agent)
            await asyncio.to_thread(desk.release_entry, self.engine, entry.id)
