"""The queue and agent controller: live state from AMI events, agent login/logout/pause,
and the books (queue call outcomes, agents' wanted membership) in the database.

Asterisk's app_queue does the ringing; this decides membership, watches and records.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk.ami_link import ActionFailed, AmiLink, LinkDown
from pbxctl.asterisk.member_actions import accepted, agent_of, ami_action, describe, live_member, live_members
from pbxctl.asterisk.queue_state import CallEnded, QueueState
from pbxctl.asterisk.supervision_control import SupervisionControl
from pbxctl.domain.agent_membership import Action, LiveMember, Wanted, plan_request, reconcile
from pbxctl.service.runtime import CommandFailed
from pbxctl.site.load import LoadedSite
from pbxctl.storage.agent_memberships import AgentMembership, save_memberships, wanted_memberships
from pbxctl.storage.failure import failure_kind
from pbxctl.storage.queue_calls import QueueCallRecord, calls_ended_today, record_queue_calls

log = structlog.get_logger("pbxctl.controller")

MEMBER_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause"})


class QueueController:
    """Fed by its AmiLink: the link calls `on_event` for every event and `on_ready` after
    every (re)connect. `supervision`, when given, follows the same event stream."""

    def __init__(
        self,
        site: Callable[[], LoadedSite],
        engine: Engine,
        link: AmiLink,
        supervision: SupervisionControl | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._site = site
        self.engine = engine
        self.clock = clock
        queues = self._site().site.queues
        # QueueParams carries no wrap-up time: the state needs the site's to show wrap-up.
        self.state = QueueState(
            {name: q.service_level for name, q in queues.items()}, wrapup={name: q.wrapup for name, q in queues.items()}
        )
        self.link = link
        self.supervision = supervision
        self.wanted: dict[tuple[str, str], Wanted] = {}
        self._commands = asyncio.Lock()
        self._resyncing = False
        self._buffer: list = []
        self._ended: list[CallEnded] = []
        self._listeners: list[Callable[[CallEnded], None]] = []
        self.events_seen = 0
        self.resyncs = 0

    # -- set-up
    def load_wanted(self) -> None:
        self.wanted = wanted_memberships(self.engine)

    def on_call_ended(self, listener: Callable[[CallEnded], None]) -> None:
        self._listeners.append(listener)

    def restore_today(self) -> int:
        """Today's counters from the books (calls that ended before this process started)."""
        return self.state.restore_today(calls_ended_today(self.engine), self.clock())

    async def run(self) -> None:
        await asyncio.to_thread(self.load_wanted)
        restored = await asyncio.to_thread(self.restore_today)
        log.info("books_read", wanted=len(self.wanted), calls_today=restored)
        await asyncio.gather(self.link.run(), self._flush_forever())

    def stop(self) -> None:
        self.link.stop()

    def queues(self, now: float | None = None):
        """The live queue views (QueueState.queues)."""
        return self.state.queues(now)

    # -- events
    def on_event(self, message) -> None:
        self.events_seen += 1
        if self._resyncing:
            self._buffer.append((message, self.clock()))
            return
        self._apply(message, self.clock())

    def _apply(self, message, now: float) -> None:
        if self.supervision is not None:
            try:
                self.supervision.apply(message, now)
            except Exception:  # one odd event must not stop the queue books
                log.exception("live_calls_failed", event=message.get("Event"))
        ended = self.state.apply(message, now)
        if ended:
            self._ended_calls(ended)
        if message.get("Event") in MEMBER_EVENTS:
            self._follow_member_event(message)

    def _ended_calls(self, ended) -> None:
        if not ended:
            return
        self._ended.extend(ended)
        for call in ended:
            for listener in self._listeners:
                listener(call)

    def _follow_member_event(self, message) -> None:
        """Membership changed by anyone (a desk-phone code, the Asterisk CLI, another tool):
        pbxctl's wanted state follows, so a restart restores what agents last had."""
        loaded = self._site()
        agent = agent_of(loaded.site, message.get("Interface") or message.get("Location", ""))
        queue = message.get("Queue", "")
        if agent is None or queue not in loaded.site.queues:
            return
        old = self.wanted.get((agent, queue))
        event = message.get("Event")
        if event == "QueueMemberRemoved":
            if loaded.site.agents[agent].login != "dynamic":
                return
            new = Wanted(agent, queue, False)
        else:
            paused = message.get("Paused", "0") == "1"
            reason = message.get("PausedReason", "") if paused else ""
            new = Wanted(agent, queue, True, paused, reason)
        if new != old:
            self.wanted[(agent, queue)] = new
            asyncio.get_running_loop().create_task(self._save([new], "asterisk"))

    async def on_ready(self, link: AmiLink) -> None:
        """After every (re)connect: a full snapshot, then what pbxctl wants re-applied."""
        self._resyncing = True
        self._buffer = []
        try:
            status = await link.action_during_ready({"Action": "QueueStatus"}, as_list=True)
            channels = await link.action_during_ready({"Action": "CoreShowChannels"}, as_list=True)
            # Callers who left while we were not watching end here, outcome as far as known.
            self._ended_calls(self.state.resync(list(status), list(channels), self.clock()))
            if self.supervision is not None:
                self.supervision.resync(list(channels), self.clock())
            buffered, self._buffer = self._buffer, []
            for message, at in buffered:
                self._apply(message, at)
        finally:
            self._resyncing = False
        self.resyncs += 1
        site = self._site().site
        ops = reconcile(site, self.wanted, live_members(site, list(status)))
        for op in ops:
            reply = await link.action_during_ready(ami_action(site, op))
            if accepted(op, reply):
                log.info("membership_reapplied", change=describe(site, op))
            else:
                log.error("membership_reapply_failed", change=describe(site, op), answer=reply.get("Message", ""))
        log.info("resynced", queues=len(self.state.queues()), reapplied=len(ops))

    # -- agent commands
    async def agent_command(
        self, agent: str, action: Action, queue: str | None = None, reason: str = "", source: str = "cli"
    ) -> list[str]:
        """Carry out one request; the changes made, in words. AgentCommandError for a
        request that makes no sense, LinkDown/CommandFailed when Asterisk cannot take it."""
        async with self._commands:
            loaded = self._site()
            changes = plan_request(loaded.site, self.wanted, agent, action, queue, reason)
            if not changes:
                return []
            if not self.link.up:
                raise LinkDown(self.link.describe())
            live = {view.name: _live_members(loaded, view) for view in self.state.queues().values()}
            before = {(r.agent, r.queue): self.wanted.get((r.agent, r.queue)) for r in changes}
            staged = dict(self.wanted)
            for row in changes:
                staged[(row.agent, row.queue)] = row
            ops = [op for op in reconcile(loaded.site, staged, live) if op.agent == agent]
            # Wanted first: the member events our own actions cause then match it and are
            # not taken for someone else's change.
            self.wanted = staged
            done: list[str] = []
            failure = None
            for op in ops:
                try:
                    reply = await self.link.action(ami_action(loaded.site, op))
                except (LinkDown, ActionFailed) as exc:
                    failure = f"{describe(loaded.site, op)}: {exc}"
                    break
                if not accepted(op, reply):
                    failure = f"{describe(loaded.site, op)}: Asterisk said {reply.get('Message', 'error')!r}"
                    break
                done.append((op, describe(loaded.site, op)))
            if failure is not None:
                # Keep what Asterisk took, forget the rest.
                taken = {op.queue for op, _ in done}
                for key, old in before.items():
                    if key[1] not in taken:
                        if old is None:
                            self.wanted.pop(key, None)
                        else:
                            self.wanted[key] = old
                kept = [c for c in changes if c.queue in taken]
                if kept:
                    await self._save(kept, source)
                raise CommandFailed(_partial([d for _, d in done], failure))
            await self._save(changes, source)
            log.info("agent_command", agent=agent, action=action, queue=queue, reason=reason, source=source,
                     changes=[d for _, d in done])
            return [d for _, d in done] or [
                f"{agent}: {c.queue} {'in' if c.logged_in else 'out'}{', paused' if c.paused else ''}" for c in changes
            ]

    async def _save(self, rows: list[Wanted], source: str) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        records = [
            AgentMembership(
                agent=r.agent, queue=r.queue, logged_in=r.logged_in, paused=r.paused, reason=r.reason,
                changed_at=now, source=source,
            )
            for r in rows
        ]
        try:
            await asyncio.to_thread(save_memberships, self.engine, records)
        except Exception as exc:  # disk full, database gone: say so, loudly
            log.error("membership_not_saved", fault=failure_kind(exc), error=str(exc), rows=[(r.agent, r.queue) for r in rows])
            raise CommandFailed(
                f"Asterisk took the change but it could not be saved ({exc}); "
                "it will be undone at the next resync unless repeated"
            ) from None

    # -- the books
    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.flush()

    async def flush(self) -> None:
        ended, self._ended = self._ended, []
        if not ended:
            return
        rows = [
            QueueCallRecord(
                queue=c.queue, uniqueid=c.uniqueid, caller_id=c.caller_id or "",
                joined_at=_utc(c.joined_at), ended_at=_utc(c.ended_at), outcome=c.outcome,
                wait_seconds=float(c.wait_seconds), agent=c.agent,
            )
            for c in ended
        ]
        try:
            await asyncio.to_thread(record_queue_calls, self.engine, rows)
        except Exception as exc:
            # Keep them for the next try rather than lose them (a full disk may clear).
            self._ended[:0] = ended
            log.error("queue_calls_not_saved", fault=failure_kind(exc), error=str(exc), pending=len(self._ended))


def _live_members(loaded: LoadedSite, view) -> dict[str, LiveMember]:
    """agent -> member of one queue view (members that are no agent's left out)."""
    live = {}
    for mv in view.members:
        member = live_member(loaded.site, mv.interface, mv.membership, mv.paused, mv.pause_reason or "")
        if member is not None:
            live[member.agent] = member
    return live


def _partial(done: list[str], failure: str) -> str:
    if not done:
        return f"not changed: {failure}"
    return f"partly done ({'; '.join(done)}), then failed: {failure}"


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
