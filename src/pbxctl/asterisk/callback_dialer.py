"""Automatic callbacks on Asterisk, agent first: every few seconds the due entries of the
queues with `mode: automatic` are matched with free agents (pbxctl.domain.callbacks.
dispatch: never more callbacks than free agents), each taken for its agent and for the
call that will dial it (a uniqueid pbxctl gives the channel: Originate's ChannelId), and
the agent's phone is rung by AMI Originate into [pbxctl-callback-auto]; the dialplan says
the number, dials the customer, asks for the accept key, and its hangup handler records
the result (queue_log and a UserEvent: asterisk/callback_results.py).

Free means: a member the live queue state shows `available` in a queue with nobody
waiting — a callback never takes an agent a waiting caller could have had. An agent
whose phone does not answer gives the entry back (open, no attempt).

Takes whose call is gone without a result — the service or Asterisk restarted, a `*47`
whose answer never reached the phone — are given back (`release_orphans`): when the
service starts (after the books have caught up with queue_log, so a result written while
it was down counts first), after every AMI reconnect, and every half minute while any
entry is in progress. No entry is dialled before that first look.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.asterisk.ami_link import AmiLink
from pbxctl.asterisk.callback_codes import callback_variables
from pbxctl.asterisk.member_actions import agent_by_interface, agent_interface
from pbxctl.domain.callbacks import CallbackError, Dispatch, Status, dispatch, take
from pbxctl.domain.keep_place import holds_place
from pbxctl.service import callback_desk as desk
from pbxctl.service.runtime import LinkDown
from pbxctl.site.load import LoadedSite
from pbxctl.storage.callback_list import change_entry, list_entries

log = structlog.get_logger("pbxctl.callback_dialer")

TICK_SECONDS = 2.0
# Seconds the agent's phone rings for an automatic callback before it is given back.
AGENT_RING_S = 20
# How often takes are checked against the live channels while any entry is in progress.
ORPHAN_CHECK_S = 30.0
# At start, how long the dialer waits for the books' first pass over queue_log.
BOOKS_WAIT_S = 30.0


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


def orphaned(entries, live_calls: set[str], ringing: set[int], automatic: set[str]) -> list:
    """The in-progress entries no live call holds: held by a call that is gone, or — an
    automatic queue's, which only pbxctl dials — by none. Entries whose agent pbxctl is
    ringing right now are not; an entry taken by hand (no call) stays with its agent; an
    entry a keep-place placeholder holds is the placeholder keeper's (it makes a lost one
    again)."""
    out = []
    for entry in entries:
        if entry.status is not Status.in_progress or entry.id in ringing:
            continue
        if holds_place(entry):  # a keep-place placeholder holds it (asterisk/placeholders.py), not a call
            continue
        if entry.take_call is None:
            if entry.queue in automatic:
                out.append(entry)
        elif entry.take_call not in live_calls:
            out.append(entry)
    return out


class CallbackDialer:
    def __init__(self, site: Callable[[], LoadedSite], engine: Engine, controller, link: AmiLink,
                 now: Callable[[], dt.datetime] = desk.now_utc, books_ready: asyncio.Event | None = None):
        self._site = site
        self.engine = engine
        self.controller = controller
        self.link = link
        self.now = now
        self.books_ready = books_ready
        self._calls: set[asyncio.Task] = set()
        self._ringing: set[int] = set()  # entries whose agent is being rung by this process
        self._looked_at_resync = 0  # the controller's resync count at the last look for orphans
        self._last_look = 0.0

    async def run(self, interval: float = TICK_SECONDS) -> None:
        if self.books_ready is not None:
            try:
                await asyncio.wait_for(self.books_ready.wait(), BOOKS_WAIT_S)
            except asyncio.TimeoutError:
                log.warning("callback_dialer_books_not_ready", waited_s=BOOKS_WAIT_S)
        while True:
            try:
                if await self._look_for_orphans():
                    await self.tick()
            except LinkDown:
                pass  # nothing is dialled while Asterisk cannot be told
            except Exception:  # one bad tick must not stop callbacks for good
                log.exception("callback_dialer_failed")
            await asyncio.sleep(interval)

    async def _look_for_orphans(self) -> bool:
        """Gives back orphaned takes when due (see the module). True once the look after
        the link's latest (re)connect has been made: only then may the dialer dial."""
        if not self.link.up:
            return False
        resyncs = self.controller.resyncs
        now = asyncio.get_running_loop().time()
        if resyncs != self._looked_at_resync or now - self._last_look >= ORPHAN_CHECK_S:
            await self.release_orphans()
            self._looked_at_resync, self._last_look = resyncs, now
        return True

    async def release_orphans(self) -> list:
        """One look: the books' results first (a result already in queue_log is an attempt,
        not a give-back), then the in-progress entries against CoreShowChannels."""
        loaded = self._site()
        await asyncio.to_thread(desk.feed, loaded, self.engine)
        held = await asyncio.to_thread(list_entries, self.engine, (), ["in_progress"])
        if not held:
            return []
        channels = await self.link.action({"Action": "CoreShowChannels"}, as_list=True)
        live = {e.get("Uniqueid", "") for e in channels if e.get("Event") == "CoreShowChannel"}
        automatic = {q for q, r in desk.configured_rules(loaded).items() if r.automatic}
        gone = orphaned(held, live, set(self._ringing), automatic)
        for entry in gone:
            await asyncio.to_thread(desk.release_take, self.engine, entry.id, entry.take_call, self.now())
            log.info("callback_given_back", entry=entry.id, agent=entry.agent, call=entry.take_call,
                     why="no live call holds it")
        return gone

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
            call = f"pbxctl-cb-{chosen.entry.id}-{uuid.uuid4().hex[:12]}"
            try:
                entry = await asyncio.to_thread(change_entry, self.engine, chosen.entry.id,
                                                lambda e, a=chosen.agent: take(e, a, call), self.now())
            except CallbackError as exc:  # taken by hand meanwhile
                log.info("callback_not_started", entry=chosen.entry.id, why=str(exc))
                continue
            self._ringing.add(entry.id)
            task = asyncio.create_task(self._ring_agent(loaded, entry, chosen.agent, call))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            task.add_done_callback(lambda _t, e=entry.id: self._ringing.discard(e))
            started.append(Dispatch(entry, chosen.agent))
        return started

    async def _ring_agent(self, loaded: LoadedSite, entry, agent: str, call: str) -> None:
        site = loaded.site
        key = site.callbacks.queues[entry.queue].accept_key
        variables = callback_variables(loaded, entry, call, accept_key=key)
        log.info("callback_started", entry=entry.id, queue=entry.queue, number=entry.number, agent=agent, call=call)
        try:
            replies = await self.link.action({
                "Action": "Originate",
                "Channel": agent_interface(site, site.agents[agent]),
                "ChannelId": call,
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
            how = f"{final.get('Event') or final.get('Response')}: reason {final.get('Reason') or final.get('Message')}"
        except Exception as exc:  # the link went down, Asterisk refused: the entry goes back
            log.warning("callback_agent_not_rung", entry=entry.id, agent=agent, error=str(exc))
            answered, how = False, str(exc)
        if not answered:
            log.info("callback_agent_did_not_answer", entry=entry.id, agent=agent, answer=how)
            await asyncio.to_thread(desk.release_take, self.engine, entry.id, call)
