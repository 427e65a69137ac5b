"""The FreeSWITCH controller as the service process (asyncio) sees it: the Runtime's link,
controller and supervision, kept from what the controller process (gevent) sends over
their socket pair. Reads are from the latest snapshot (at most ~0.1 s old); agent commands
go to the controller process and their answers come back.

A controller process that sends nothing for STALE_S (frozen, stopped) is a link that is
down: nothing stale is shown as live, and SLA rules are not sampled from it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Callable

import structlog

from pbxctl.domain.agent_membership import AgentCommandError
from pbxctl.domain.supervision import SupervisionError
from pbxctl.freeswitch.controller_channel import (
    AgentAnswer,
    AgentRequest,
    CallsEnded,
    Decoder,
    LinkInfo,
    Snapshot,
    encode,
)
from pbxctl.service.runtime import CommandFailed, LinkDown

log = structlog.get_logger("pbxctl.freeswitch")

STALE_S = 3.0
COMMAND_TIMEOUT_S = 15.0
ERRORS = {"AgentCommandError": AgentCommandError, "LinkDown": LinkDown, "CommandFailed": CommandFailed}


class ControllerGone(Exception):
    """The controller process closed its end: the service stops (systemd restarts it)."""


class RemoteLink:
    def __init__(self, where: str, clock: Callable[[], float] = time.time):
        self.info = LinkInfo(False, clock(), 0, where, f"ESL link to {where}: the controller process has not reported yet")
        self._clock = clock
        self.heard_at = 0.0  # monotonic time of the last message

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.heard_at < STALE_S

    @property
    def up(self) -> bool:
        return self.info.up and self.fresh

    @property
    def since(self) -> float:
        return self.info.since

    @property
    def reconnects(self) -> int:
        return self.info.reconnects

    @property
    def where(self) -> str:
        return self.info.where

    def describe(self) -> str:
        if self.heard_at and not self.fresh:
            silent = time.strftime("%H:%M:%S", time.localtime(self._clock() - (time.monotonic() - self.heard_at)))
            return f"ESL link to {self.where}: the controller process has not answered since {silent}"
        return self.info.detail


class RemoteController:
    """service.runtime.LiveController over the socket pair."""

    def __init__(self, link: RemoteLink, clock: Callable[[], float] = time.time):
        self.link = link
        self.clock = clock
        self.snapshot = Snapshot({}, {}, link.info, 0, 0)
        self._listeners: list[Callable] = []
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None

    @property
    def wanted(self):
        return self.snapshot.wanted

    @property
    def resyncs(self) -> int:
        return self.snapshot.resyncs

    @property
    def events_seen(self) -> int:
        return self.snapshot.events_seen

    def queues(self, now: float | None = None):
        return self.snapshot.views if self.link.fresh else {}

    def on_call_ended(self, listener: Callable) -> None:
        self._listeners.append(listener)

    async def agent_command(self, agent: str, action: str, queue: str | None = None, reason: str = "",
                            source: str = "cli") -> list[str]:
        if self._writer is None or not self.link.fresh:
            raise LinkDown(self.link.describe())
        request = AgentRequest(next(self._ids), agent, action, queue, reason, source)
        future = asyncio.get_running_loop().create_future()
        self._pending[request.id] = future
        self._writer.write(encode(request))
        try:
            answer: AgentAnswer = await asyncio.wait_for(future, COMMAND_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise CommandFailed(f"the FreeSWITCH controller did not answer within {COMMAND_TIMEOUT_S:.0f} s") from None
        finally:
            self._pending.pop(request.id, None)
        if answer.error:
            raise ERRORS.get(answer.error, CommandFailed)(answer.message)
        return list(answer.changes or [])

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read the controller process's messages until it closes; then ControllerGone."""
        self._writer = writer
        decoder = Decoder()
        while True:
            data = await reader.read(1 << 16)
            if not data:
                raise ControllerGone("the FreeSWITCH controller process closed its channel")
            for message in decoder.feed(data):
                self.receive(message)

    def receive(self, message: object) -> None:
        self.link.heard_at = time.monotonic()
        if isinstance(message, Snapshot):
            self.snapshot = message
            self.link.info = message.link
        elif isinstance(message, CallsEnded):
            for call in message.calls:
                for listener in self._listeners:
                    listener(call)
        elif isinstance(message, AgentAnswer):
            future = self._pending.get(message.id)
            if future is not None and not future.done():
                future.set_result(message)


class RemoteSupervision:
    """service.runtime.LiveSupervision: the live calls; barge, help and transfers are not
    done on FreeSWITCH yet, and say so."""

    def __init__(self, controller: RemoteController):
        self._controller = controller
        self.help_events: list[dict] = []

    def listing(self) -> list[dict]:
        return list(self._controller.snapshot.calls) if self._controller.link.fresh else []

    def help_requests_total(self) -> dict[str, int]:
        return {}

    async def barge(self, target: str, mode: str, from_extension: str) -> dict:
        raise SupervisionError("barge is not available on FreeSWITCH yet (pbxctl supervises Asterisk calls only)")

    async def set_mode(self, target: str, mode: str, from_extension: str | None = None) -> dict:
        raise SupervisionError("barge is not available on FreeSWITCH yet (pbxctl supervises Asterisk calls only)")

    async def transfer(self, target: str, to: str, with_return: bool = False, attended: bool = False) -> dict:
        raise SupervisionError("pbxctl transfer is not available on FreeSWITCH yet")
