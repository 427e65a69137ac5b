"""Barge, mode switching, help requests, transfers and three-way merges, carried out over
AMI for the live calls the controller follows. Decisions come from domain/supervision.py;
the dialplan ([pbxctl-barge], [pbxctl-xfer-return], [pbxctl-conference-room]: wire.CONTEXTS)
does the media.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

import structlog

from pbxctl.asterisk import wire
from pbxctl.asterisk.ami_link import ActionFailed, AmiLink, LinkDown
from pbxctl.asterisk.live_calls import HelpRequested, LiveCall, LiveCalls, ThreeWayJoined
from pbxctl.asterisk.member_actions import agent_by_caller, agent_by_interface, supervisor_device, supervisor_of
from pbxctl.asterisk.wire import CONTEXTS, EVENTS
from pbxctl.domain.supervision import (
    SupervisionError,
    check_mode,
    check_supervisor_extension,
    check_transfer_target,
    room_name,
)
from pbxctl.site.load import LoadedSite
from pbxctl.site.supervision_model import BARGE_MODES
from pbxctl.site.secrets import SecretUnavailable, resolve_secret

log = structlog.get_logger("pbxctl.supervision")

# OriginateResponse Reason: Asterisk's control frame numbers.
ORIGINATE_REASONS = {"0": "could not be dialled", "1": "hung up", "3": "did not answer", "5": "is busy", "8": "is congested"}


# The agent notice: MF digit 1 (700 + 900 Hz), played in-band towards the agent's phone.
NOTICE_DIGIT = "1"
NOTICE_MS = 300


@dataclass
class PendingConference:
    call_id: str
    third_party: str


class SupervisionControl:
    def __init__(self, site: Callable[[], LoadedSite], link: AmiLink, clock: Callable[[], float] = time.time):
        self._site = site
        self.link = link
        self.clock = clock
        self.calls = LiveCalls(lambda: agent_by_interface(self._site().site),
                               lambda channel: supervisor_of(self._site().site, channel))
        self._rooms: dict[str, PendingConference] = {}
        self.help_events: list[dict] = []

    # -- the event stream (the controller feeds it: QueueController(supervision=...))
    def apply(self, message, now: float) -> None:
        for news in self.calls.apply(message, now):
            if isinstance(news, HelpRequested):
                self._help_requested(news)
            elif isinstance(news, ThreeWayJoined):
                asyncio.get_running_loop().create_task(self._log_three_way(news))
        if message.get("Event") == "UserEvent" and message.get("UserEvent") == EVENTS.barge:
            self._notice(message.get("Target", ""), message.get("Mode", ""))

    def _notice(self, agent_channel: str, mode: str) -> None:
        """A supervisor joined or switched mode: the agent hears it, if configured so."""
        if mode not in BARGE_MODES or not agent_channel:
            return
        notice = self._site().site.supervision.notify_agent.for_mode(mode)
        if notice == "none":
            return
        asyncio.get_running_loop().create_task(self._play_notice(agent_channel, 2 if notice == "double" else 1))

    async def _play_notice(self, agent_channel: str, beeps: int) -> None:
        for i in range(beeps):
            if i:
                await asyncio.sleep(NOTICE_MS * 2 / 1000)
            try:
                reply = await self.link.action({"Action": "PlayMF", "Channel": agent_channel, "Digit": NOTICE_DIGIT,
                                                "Duration": str(NOTICE_MS)})
            except (LinkDown, ActionFailed) as exc:
                log.warning("agent_notice_failed", channel=agent_channel, error=str(exc))
                return
            if reply.get("Response") != "Success":
                log.warning("agent_notice_failed", channel=agent_channel, answer=reply.get("Message", ""))
                return

    def resync(self, channels: list, now: float) -> None:
        self.calls.resync(channels, now)

    def listing(self) -> list[dict]:
        return self.calls.listing(self.clock())

    def help_requests_total(self) -> dict[str, int]:
        """queue -> help requests since the service started."""
        return dict(self.calls.help_total)

    # -- helpers
    def _member_name(self, call: LiveCall) -> str:
        """The agent as queue_log names members: the member name pbxctl gives app_queue."""
        agents = self._site().site.agents
        return agents[call.agent].name if call.agent in agents else call.agent_interface

    def _caller_id(self, label: str, call: LiveCall) -> str:
        """What the supervisor's phone shows: the label, the agent's name and extension."""
        agents = self._site().site.agents
        extension = agents[call.agent].extension if call.agent in agents else ""
        return f'"{label} {call.agent or ""}" <{extension}>'

    def _call(self, target: str) -> LiveCall:
        call = self.calls.find(target)
        if call is None:
            site = self._site().site
            if target in site.agents:
                raise SupervisionError(f"agent {target!r} has no call now")
            raise SupervisionError(f"no live call {target!r} (give an agent's name or a call id from `pbxctl calls`)")
        return call

    async def _act(self, action: dict, as_list: bool = False, timeout: float | None = None):
        try:
            return await self.link.action(action, as_list=as_list, timeout=timeout)
        except ActionFailed as exc:
            raise SupervisionError(f"Asterisk could not take {action['Action']}: {exc}") from None

    async def _ok(self, action: dict, what: str) -> None:
        reply = await self._act(action)
        if reply.get("Response") != "Success":
            raise SupervisionError(f"{what}: Asterisk said {reply.get('Message', 'error')!r}")

    # -- barge
    async def barge(self, target: str, mode: str, from_extension: str) -> dict:
        """Ring the supervisor; on answer the dialplan joins the call in `mode`. Returns when
        the supervisor answered (or raises why not)."""
        loaded = self._site()
        site = loaded.site
        check_mode(mode)
        supervisor = check_supervisor_extension(site, from_extension)
        call = self._call(target)
        ring = site.supervision.ring_time
        replies = await self._act(
            {
                "Action": "Originate",
                "Channel": supervisor_device(site, supervisor),
                "Context": CONTEXTS.barge,
                "Exten": mode,
                "Priority": "1",
                "Timeout": str(ring * 1000),
                "CallerID": self._caller_id("pbxctl barge", call),
                "Variable": [
                    f"{wire.BARGE_TARGET}={call.agent_channel}",
                    f"{wire.BARGE_AGENT}={call.agent or ''}",
                    f"{wire.BARGE_SUPERVISOR}={supervisor}",
                ],
                "Async": "true",
            },
            as_list=True,
            timeout=ring + 15,
        )
        final = replies[-1] if isinstance(replies, list) else replies
        if final.get("Response") != "Success" or final.get("Event") != "OriginateResponse":
            why = ORIGINATE_REASONS.get(final.get("Reason", ""), final.get("Message", "failed"))
            log.info("barge_not_joined", supervisor=supervisor, call=call.call_id, why=why)
            raise SupervisionError(f"supervisor {supervisor}'s phone ({from_extension}) {why}; not joined")
        log.info("barge_joined", supervisor=supervisor, call=call.call_id, agent=call.agent, mode=mode)
        return {"call": call.call_id, "agent": call.agent, "supervisor": supervisor, "mode": mode,
                "channel": final.get("Channel", "")}

    async def set_mode(self, target: str, mode: str, from_extension: str | None = None) -> dict:
        site = self._site().site
        check_mode(mode)
        call = self._call(target)
        sessions = list(call.listeners.values())
        if from_extension:
            supervisor = check_supervisor_extension(site, from_extension)
            sessions = [s for s in sessions if s.supervisor == supervisor]
        if not sessions:
            raise SupervisionError(f"nobody is listening in on call {call.call_id} ({call.agent}) to switch")
        if len(sessions) > 1:
            names = ", ".join(sorted({s.supervisor for s in sessions}))
            raise SupervisionError(f"several supervisors listen in ({names}): say whose with --from")
        session = sessions[0]
        # A Redirect ends the supervisor's ChanSpy and starts it again in the new mode.
        await self._ok({"Action": "Redirect", "Channel": session.channel, "Context": CONTEXTS.barge,
                        "Exten": mode, "Priority": "1"}, f"switching {session.supervisor} to {mode}")
        log.info("barge_mode_set", supervisor=session.supervisor, call=call.call_id, mode=mode)
        return {"call": call.call_id, "agent": call.agent, "supervisor": session.supervisor, "mode": mode}

    # -- help
    def _help_requested(self, help: HelpRequested) -> None:
        call = help.call
        event = {"call": call.call_id, "agent": call.agent, "queue": call.queue, "at": help.at}
        self.help_events.append(event)
        del self.help_events[:-100]
        log.warning("help_requested", **event)
        ring = self._site().site.supervision.help.ring
        if ring:
            asyncio.get_running_loop().create_task(self._ring_for_help(call))

    async def _ring_for_help(self, call: LiveCall) -> None:
        site = self._site().site
        help = site.supervision.help
        devices = "&".join(supervisor_device(site, name) for name in help.ring)
        try:
            await self._act(
                {
                    "Action": "Originate",
                    "Channel": f"Local/s@{CONTEXTS.help_ring}/n",
                    "Context": CONTEXTS.barge,
                    "Exten": "whisper",
                    "Priority": "1",
                    "Timeout": str(help.ring_time * 1000),
                    "CallerID": self._caller_id("help", call),
                    "Variable": [
                        f"{wire.HELP_DEVICES}={devices}",
                        f"{wire.HELP_RING}={help.ring_time}",
                        f"{wire.BARGE_TARGET}={call.agent_channel}",
                        f"{wire.BARGE_AGENT}={call.agent or ''}",
                        f"{wire.BARGE_SUPERVISOR}={wire.HELP_SESSION}",
                    ],
                    "Async": "true",
                },
                as_list=True,
                timeout=help.ring_time + 15,
            )
        except (SupervisionError, LinkDown) as exc:
            log.error("help_ring_failed", call=call.call_id, error=str(exc))

    async def _log_three_way(self, news: ThreeWayJoined) -> None:
        """The same queue_log line as [pbxctl-conference-room] writes for *71 calls."""
        call = news.call
        log.info("three_way", call=call.call_id, agent=call.agent, third_party=news.third_party, via="attended_transfer")
        try:
            reply = await self.link.action({"Action": "QueueLog", "Queue": call.queue or "NONE", "Event": wire.QUEUE_LOG_CONFERENCE,
                                            "Uniqueid": call.call_id, "Interface": self._member_name(call),
                                            "Message": news.third_party})
        except (LinkDown, ActionFailed) as exc:
            log.error("three_way_not_logged", call=call.call_id, error=str(exc))
            return
        if reply.get("Response") != "Success":
            log.error("three_way_not_logged", call=call.call_id, answer=reply.get("Message", ""))

    # -- transfers
    async def transfer(self, target: str, to: str, with_return: bool = False, attended: bool = False) -> dict:
        site = self._site().site
        to = check_transfer_target(to)
        call = self._call(target)
        if attended and with_return:
            raise SupervisionError("choose --attended or --with-return, not both")
        if attended:
            # The agent's own leg dials the target (Asterisk's attended transfer); the agent
            # completes it by hanging up, or makes it three-way with the in-call code.
            await self._ok({"Action": "Atxfer", "Channel": call.agent_channel, "Exten": to,
                            "Context": site.pbx.asterisk.internal_context}, "attended transfer")
            call.state, kind = "transferring", "attended"
        elif with_return:
            await self._ok({"Action": "Setvar", "Channel": call.caller_channel, "Variable": wire.XFER_BACK,
                            "Value": call.agent_interface}, "transfer with return")
            await self._ok({"Action": "Redirect", "Channel": call.caller_channel, "Context": CONTEXTS.xfer_return,
                            "Exten": to, "Priority": "1"}, "transfer with return")
            kind = "with_return"
        else:
            # Asterisk's own blind transfer of the agent's peer, as `##` does: app_queue
            # logs BLINDTRANSFER and ends the agent's talk there (a Redirect of the caller
            # would leave the talk running until the caller hangs up, and log no transfer).
            await self._ok({"Action": "BlindTransfer", "Channel": call.agent_channel, "Context": CONTEXTS.extension,
                            "Exten": to}, "blind transfer")
            kind = "blind"
        log.info("transfer", call=call.call_id, agent=call.agent, to=to, kind=kind)
        return {"call": call.call_id, "agent": call.agent, "to": to, "kind": kind}

    # -- three-way from a desk phone's second line
    def conference_room(self, caller: str, channel: str, number: str) -> tuple[str, str]:
        """(result, room) for [pbxctl-conference-dial]: the agent behind this second line
        and that agent's live call."""
        site = self._site().site
        agent = agent_by_caller(site, caller, channel)
        if agent is None:
            return "not_an_agent", ""
        call = self.calls.by_agent(agent)
        if call is None or not number.isdigit():
            return "no_call", ""
        room = room_name(call.call_id)
        self._rooms[room] = PendingConference(call.call_id, number)
        return "ok", room

    async def conference_merge(self, room: str) -> dict[str, str]:
        """The third party reached the room: move the caller and the agent's first line in."""
        pending = self._rooms.get(room)
        if pending is None:
            raise SupervisionError(f"no three-way call is being set up for room {room}")
        call = self.calls.calls.get(pending.call_id)
        if call is None:
            raise SupervisionError(f"the call behind room {room} has ended")
        await self._ok(
            {"Action": "Redirect", "Channel": call.caller_channel, "Context": CONTEXTS.conference_room,
             "Exten": f"{wire.ROOM_PREFIXES.caller}{room}", "Priority": "1", "ExtraChannel": call.agent_channel,
             "ExtraContext": CONTEXTS.conference_room, "ExtraExten": f"{wire.ROOM_PREFIXES.agent}{room}",
             "ExtraPriority": "1"},
            "moving the call into the conference",
        )
        del self._rooms[room]
        log.info("three_way", call=call.call_id, agent=call.agent, third_party=pending.third_party, room=room)
        return {
            wire.CONF_QUEUE: call.queue or "NONE",
            wire.CONF_CALLID: call.call_id,
            wire.CONF_AGENT: self._member_name(call),
            wire.CONF_THIRD: pending.third_party,
        }

    # -- PINs
    def supervisor_pin(self, name: str) -> str | None:
        loaded = self._site()
        sup = loaded.site.supervisors[name]
        if sup.pin is None:
            return None
        try:
            return resolve_secret(sup.pin, f"supervisors.{name}.pin", loaded.base_dir)
        except SecretUnavailable as exc:
            # Never let a missing PIN open the door: an impossible PIN refuses every try.
            log.error("supervisor_pin_unavailable", supervisor=name, error=str(exc))
            return "\x00unavailable"
