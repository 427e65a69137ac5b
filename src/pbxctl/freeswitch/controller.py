"""The FreeSWITCH queue and agent controller: live state from Event Socket events, agent
login/logout/pause through `callcenter_config`, agents' wanted membership and queue call
outcomes in the database.

mod_callcenter does the ringing; this decides membership, watches and records. It runs in
the gevent controller process (freeswitch/controller_process.py) but imports no gevent: its
link is anything with `api(text) -> body`, `lists()` and a `state` (esl_link.EslLink), whose
calls block only the calling greenlet.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.domain.agent_membership import (
    Action,
    AgentCommandError,
    MemberOp,
    Wanted,
    agent_queues,
    current,
    plan_request,
    reconcile,
)
from pbxctl.books.site_view import node_name
from pbxctl.books.store import BatchWriter
from pbxctl.freeswitch import wire
from pbxctl.freeswitch.agent_events import status_events, tier_events
from pbxctl.freeswitch.callcenter_lists import CallcenterError, parse_channels, parse_table
from pbxctl.freeswitch.esl_protocol import Event
from pbxctl.freeswitch.member_actions import accepted, commands, describe, live_members, tier_of
from pbxctl.freeswitch.queue_state import LOGGED_IN, CallEnded, QueueState
from pbxctl.service.runtime import CommandFailed, LinkDown
from pbxctl.site.load import LoadedSite
from pbxctl.storage.agent_memberships import AgentMembership, save_memberships, wanted_memberships
from pbxctl.storage.queue_calls import QueueCallRecord, calls_ended_today, record_queue_calls

log = structlog.get_logger("pbxctl.freeswitch.controller")

# A login can make a status change reach queues the agent is not wanted in (mod_callcenter's
# status is per agent): a second pass logs those out again. Two passes always settle it.
RECONCILE_PASSES = 3


class CallcenterMissing(ConnectionError):
    """FreeSWITCH answers, but mod_callcenter is not loaded: nothing to control."""


class EslController:
    def __init__(self, site: Callable[[], LoadedSite], engine: Engine | None, link, clock: Callable[[], float] = time.time):
        self._site = site
        self.engine = engine
        self.link = link
        self.clock = clock
        self._loaded = loaded = site()
        self.state = QueueState(
            loaded.site.pbx.freeswitch.queue_domain,
            {name: q.service_level for name, q in loaded.site.queues.items()},
            {name: a.login for name, a in loaded.site.agents.items()},
            pause_reasons=self._reason,
        )
        self.wanted: dict[tuple[str, str], Wanted] = {}
        self.events_seen = 0
        self.resyncs = 0
        self._resyncing = False
        self._buffer: list[tuple[Event, float]] = []
        self._ended: list[CallEnded] = []
        self._listeners: list[Callable[[CallEnded], None]] = []
        self._own_statuses: dict[str, str] = {}  # agent -> status pbxctl just set (its echo is no news)
        self._agent_events: list = []  # books.assembler.AgentEvent rows for the books
        self.resync_wanted = False  # the site changed: its new queues' tiers and callers to read

    # -- set-up
    def load_wanted(self) -> None:
        if self.engine is None:
            return
        self.wanted = wanted_memberships(self.engine)

    def restore_today(self) -> int:
        if self.engine is None:
            return 0
        return self.state.restore_today(calls_ended_today(self.engine), self.clock())

    def on_call_ended(self, listener: Callable[[CallEnded], None]) -> None:
        self._listeners.append(listener)

    def queues(self, now: float | None = None):
        self._follow_site()
        return self.state.queues(self.clock() if now is None else now)

    def _follow_site(self) -> bool:
        """The site holder re-reads the file while running: new queues and service levels
        show at once; their tiers and callers with the resync this asks for (True)."""
        loaded = self._site()
        if loaded is self._loaded:
            return False
        self._loaded = loaded
        self.state.configure({name: q.service_level for name, q in loaded.site.queues.items()},
                             {name: a.login for name, a in loaded.site.agents.items()})
        self.resync_wanted = True
        return True

    # -- events
    def on_event(self, event: Event) -> None:
        self.events_seen += 1
        if self._resyncing:
            self._buffer.append((event, self.clock()))
            return
        self._apply(event, self.clock())

    def _apply(self, event: Event, now: float) -> None:
        status_change = event.get("CC-Action") == "agent-status-change"
        before = self.state.statuses() if status_change else None
        self._ended_calls(self.state.apply(event, now))
        if status_change:
            agent = event.get("CC-Agent", "")
            self._book_statuses(before, [agent], now)
            self._follow_status(agent, event.get("CC-Agent-Status", ""))

    def _book_statuses(self, before: dict[str, str], agents, now: float, reason: str | None = None) -> None:
        """Agent events for the books from status changes (before -> now in the state);
        `reason`: the pause's, when pbxctl makes it (its wanted row is not saved yet)."""
        after, tiers = self.state.statuses(), self.state.tiers()
        for agent in agents:
            old, new = before.get(agent, wire.LOGGED_OUT), after.get(agent, wire.LOGGED_OUT)
            if old != new:
                queues = [q for (q, a), state in tiers.items() if a == agent and state != wire.TIER_STANDBY]
                why = self._reason(agent) if reason is None else reason
                self._agent_events += status_events(agent, old, new, queues, now, why)

    def _ended_calls(self, ended: list[CallEnded]) -> None:
        self._ended.extend(ended)
        for call in ended:
            for listener in self._listeners:
                listener(call)

    def _follow_status(self, agent: str, status: str) -> None:
        """A status set by anyone else (fs_cli, another tool, mod_callcenter's own On Break
        after max-no-answer): pbxctl's wanted state follows, so a restart restores it."""
        if self._own_statuses.pop(agent, None) == status:
            return
        site = self._site().site
        if agent not in site.agents:
            return
        changed = []
        for queue in sorted(agent_queues(site, agent)):
            old = current(site, self.wanted, agent, queue)
            if status == wire.LOGGED_OUT:
                if site.agents[agent].login != "dynamic":
                    continue
                new = Wanted(agent, queue, False)
            elif status in LOGGED_IN:
                if not old.logged_in:
                    continue  # the status reaches only the queues the agent is in
                paused = status == wire.ON_BREAK
                new = Wanted(agent, queue, True, paused, old.reason if paused and old.paused else "")
            else:
                continue
            if new != old:
                self.wanted[(agent, queue)] = new
                changed.append(new)
        if changed:
            log.info("agent_status_followed", agent=agent, status=status)
            self._save(changed, "freeswitch")

    # -- after every (re)connect
    def resync(self, link) -> None:
        """A full snapshot (queue, agent, tier lists; the waiting members of the site's
        queues; the channels), then the wanted membership re-applied."""
        self._follow_site()
        self.resync_wanted = False
        self._resyncing = True
        self._buffer = []
        try:
            try:
                lists = link.lists()
            except CallcenterError as exc:
                raise CallcenterMissing(f"mod_callcenter is not loaded (callcenter_config answered {exc})") from None
            site = self._site().site
            names = {row.get("name", "") for row in lists["queue"]}
            members = []
            for queue in site.queues:
                name = wire.callcenter_queue(queue, site.pbx.freeswitch.queue_domain)
                if name in names:
                    members += parse_table(link.api(f"callcenter_config queue list members {name}"))
            channels = parse_channels(link.api("show channels"))
            before = self.state.statuses() if self.resyncs else None
            self._ended_calls(self.state.resync(lists, members, channels, self.clock()))
            if before is not None:  # what changed while the link was down (the first resync: unknown)
                self._book_statuses(before, sorted(set(before) | set(self.state.statuses())), self.clock())
            buffered, self._buffer = self._buffer, []
            for event, at in buffered:
                self._apply(event, at)
        finally:
            self._resyncing = False
        self.resyncs += 1
        applied = self._reconcile(lambda op: True)
        log.info("resynced", queues=len(self.state.queues(self.clock())), reapplied=len(applied),
                 missing=sorted(q for q in self._site().site.queues
                                if wire.callcenter_queue(q, self._site().site.pbx.freeswitch.queue_domain) not in names))

    def _reconcile(self, mine: Callable[[MemberOp], bool], wanted=None) -> list[str]:
        """Send what makes mod_callcenter match `wanted`; the changes made, in words.
        CommandFailed on the first command mod_callcenter refuses."""
        site = self._site().site
        wanted = self.wanted if wanted is None else wanted
        done: list[str] = []
        for _ in range(RECONCILE_PASSES):
            live = live_members(site, self.state.statuses(), self.state.tiers(), self._reason)
            ops = [op for op in reconcile(site, wanted, live) if mine(op)]
            if not ops:
                break
            for op in ops:
                self._send(site, op, wanted)
                done.append(describe(op))
        return done

    def _send(self, site, op: MemberOp, wanted) -> None:
        still_in = {q for q in agent_queues(site, op.agent) if q != op.queue and current(site, wanted, op.agent, q).logged_in}
        for text in commands(site, op, self.state.statuses(), self.state.tiers(), still_in):
            status = _status_set_by(text)
            if status is not None:
                self._own_statuses[op.agent] = status  # before sending: its event may come first
            try:
                reply = self.link.api(text)
            except (ConnectionError, OSError, TimeoutError) as exc:
                raise LinkDown(self.describe_link()) from exc
            if not accepted(reply):
                raise CommandFailed(f"{describe(op)}: mod_callcenter said {reply.strip()!r} to `{text}`")
            self._note(site, op, text, status)
        log.info("membership_applied", change=describe(op))

    def _note(self, site, op: MemberOp, text: str, status: str | None) -> None:
        """What a command changed, in the state (tier commands send no event)."""
        now = self.clock()
        if status is not None:
            before = self.state.statuses()
            self.state.set_status(op.agent, status, now)
            self._book_statuses(before, [op.agent], now, getattr(op, "reason", ""))
        elif text.startswith("callcenter_config tier "):
            level, position = tier_of(site, op.agent, op.queue)
            state = wire.TIER_STANDBY if text.endswith(wire.TIER_STANDBY) else wire.TIER_READY
            old = self.state.tiers().get((op.queue, op.agent))
            self.state.set_tier(op.queue, op.agent, level, position, state)
            status = self.state.statuses().get(op.agent, wire.LOGGED_OUT)
            self._agent_events += tier_events(op.agent, op.queue, old, state, status, now)

    # -- agent commands
    def agent_command(
        self, agent: str, action: Action, queue: str | None = None, reason: str = "", source: str = "cli"
    ) -> list[str]:
        """Carry out one request; the changes made, in words. AgentCommandError for a
        request that makes no sense, LinkDown/CommandFailed when FreeSWITCH cannot take it."""
        site = self._site().site
        changes = plan_request(site, self.wanted, agent, action, queue, reason)
        if not changes:
            return []
        inside = [q for q in agent_queues(site, agent) if current(site, self.wanted, agent, q).logged_in]
        if queue is not None and action in ("pause", "unpause", "pause_toggle") and len(inside) > 1:
            raise AgentCommandError(
                f"on FreeSWITCH an agent pauses in all its queues at once (mod_callcenter's status On Break): "
                f"leave out --queue to {action.split('_')[0]} {agent!r} in {', '.join(sorted(inside))}"
            )
        if not self.link.state.connected:
            raise LinkDown(self.describe_link())
        staged = dict(self.wanted)
        for row in changes:
            staged[(row.agent, row.queue)] = row
        # Wanted stays as it was until every command went through: after a refusal, the next
        # resync puts back what mod_callcenter took of this request.
        done = self._reconcile(lambda op: op.agent == agent, staged)
        self.wanted = staged
        self._save(changes, source)
        log.info("agent_command", agent=agent, action=action, queue=queue, reason=reason, source=source, changes=done)
        return done or [
            f"{agent}: {c.queue} {'in' if c.logged_in else 'out'}{', paused' if c.paused else ''}" for c in changes
        ]

    def _reason(self, agent: str) -> str:
        reasons = sorted({w.reason for (a, _), w in self.wanted.items() if a == agent and w.paused and w.reason})
        return ", ".join(reasons)

    def _save(self, rows: list[Wanted], source: str) -> None:
        if self.engine is None:
            return
        now = dt.datetime.now(dt.timezone.utc)
        records = [
            AgentMembership(agent=r.agent, queue=r.queue, logged_in=r.logged_in, paused=r.paused, reason=r.reason,
                            changed_at=now, source=source)
            for r in rows
        ]
        try:
            save_memberships(self.engine, records)
        except Exception as exc:  # disk full, database gone: say so, loudly
            log.error("membership_not_saved", error=str(exc), rows=[(r.agent, r.queue) for r in rows])
            raise CommandFailed(
                f"FreeSWITCH took the change but it could not be saved ({exc}); "
                "it will be undone at the next resync unless repeated"
            ) from None

    # -- the link, as the status document shows it
    def describe_link(self) -> str:
        state = self.link.state
        ep = self.link.endpoint
        at = time.strftime("%H:%M:%S", time.localtime(state.since))
        if state.connected:
            return f"ESL link to {ep.host}:{ep.port} up since {at}"
        return f"ESL link to {ep.host}:{ep.port} is down since {at} ({state.reason})"

    # -- the books' live part
    def flush(self) -> None:
        self._flush_agent_events()
        ended, self._ended = self._ended, []
        if not ended or self.engine is None:
            return
        rows = [
            QueueCallRecord(queue=c.queue, uniqueid=c.uniqueid, caller_id=c.caller_id or "",
                            joined_at=_utc(c.joined_at), ended_at=_utc(c.ended_at), outcome=c.outcome,
                            wait_seconds=float(c.wait_seconds), agent=c.agent)
            for c in ended
        ]
        try:
            record_queue_calls(self.engine, rows)
        except Exception as exc:
            self._ended[:0] = ended  # kept for the next try (a full disk may clear)
            log.error("queue_calls_not_saved", error=str(exc), pending=len(self._ended))


    def _flush_agent_events(self) -> None:
        events, self._agent_events = self._agent_events, []
        if not events or self.engine is None:
            return
        try:
            BatchWriter(self.engine, node_name(self._site().site), retries=2).write([], events, [], None)
        except Exception as exc:
            self._agent_events[:0] = events  # kept for the next try
            log.error("agent_events_not_booked", error=str(exc), pending=len(self._agent_events))


def _status_set_by(text: str) -> str | None:
    """The status a `callcenter_config agent set status NAME STATUS` command sets."""
    prefix = "callcenter_config agent set status "
    if not text.startswith(prefix):
        return None
    return text[len(prefix):].split(" ", 1)[1].strip("'")


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
