"""The controller's one long-lived AMI connection, on panoramisk.

panoramisk parses the stream, matches responses to actions and dispatches events; this
module owns the life of the link around it:

- login refused, connection refused or lost: log it, wait (backoff 1 s doubling to 30 s),
  try again, forever; a link that came up starts the backoff afresh, so an Asterisk
  restarted twice within a minute is reconnected to as fast the second time;
- keep-alive: a Ping every `keepalive_s`; no Pong within `keepalive_timeout_s` means the
  link is half-open (a NAT or firewall dropped it, Asterisk hangs) and it is closed and
  rebuilt. panoramisk's own pinger sends Pings but never checks that they are answered,
  so it is switched off;
- after every (re)connect, `on_ready` runs (the controller resyncs its state there) before
  the link counts as up;
- actions while the link is down fail at once with LinkDown, never hang.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, MutableMapping

import structlog

from pbxctl.doctor.ami_privileges import permission_denied
from pbxctl.asterisk.panoramisk_glue import LinkManager, connect_protocol, fail_pending
from pbxctl.service.runtime import LinkDown

__all__ = ["ActionFailed", "AmiEndpoint", "AmiLink", "LinkDown"]

log = structlog.get_logger("pbxctl.ami")
# Asterisk answers a Login within milliseconds; a connection it accepted while restarting
# may never see its Login answered (Asterisk 22 in the fault suite: 10 s of silence, then
# the timeout). Giving up soon and connecting again brings the link back seconds earlier.
LOGIN_TIMEOUT_S = 3.0


class ActionFailed(Exception):
    """Asterisk did not answer an action in time."""


@dataclass(frozen=True)
class AmiEndpoint:
    host: str
    port: int
    username: str
    secret: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class AmiLink:
    def __init__(
        self,
        endpoint: AmiEndpoint,
        on_event: Callable[[object], None],
        on_ready: Callable[["AmiLink"], Awaitable[None]],
        keepalive_s: float = 5.0,
        keepalive_timeout_s: float = 5.0,
        action_timeout_s: float = 10.0,
        backoff: tuple[float, float] = (1.0, 30.0),
        on_state: Callable[[bool], None] | None = None,
    ):
        self.endpoint = endpoint
        self._on_event = on_event
        self._on_ready = on_ready
        self.keepalive_s = keepalive_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.action_timeout_s = action_timeout_s
        self.backoff = backoff
        self._on_state = on_state
        self._manager: LinkManager | None = None
        self._up = False
        self._stopping = False
        self.since = time.time()
        self.last_error = "not connected yet"
        self.reconnects = 0
        self._came_up = False
        self._ready_waiters: list[asyncio.Future] = []

    # -- state
    @property
    def up(self) -> bool:
        return self._up

    @property
    def where(self) -> str:
        return self.endpoint.where

    def _set_up(self, up: bool, error: str = "") -> None:
        if up != self._up:
            self._up = up
            self.since = time.time()
            if self._on_state:
                self._on_state(up)
        if error:
            self.last_error = error
        if up:
            for waiter in self._ready_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._ready_waiters.clear()

    def describe(self) -> str:
        if self._up:
            return f"AMI link to {self.endpoint.where} up since {time.strftime('%H:%M:%S', time.localtime(self.since))}"
        return (
            f"AMI link to {self.endpoint.where} is down since "
            f"{time.strftime('%H:%M:%S', time.localtime(self.since))} ({self.last_error})"
        )

    async def wait_up(self, timeout: float) -> None:
        if self._up:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._ready_waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)

    # -- actions
    async def action(self, action: dict, as_list: bool = False, timeout: float | None = None):
        """Send one action; the Response (or the list up to its ...Complete event)."""
        if not self._up or self._manager is None:
            raise LinkDown(self.describe())
        return await self._send(self._manager, action, as_list, timeout)

    async def action_during_ready(self, action: dict, as_list: bool = False, timeout: float | None = None):
        """For `on_ready` only: the link is logged in but does not count as up yet."""
        if self._manager is None:
            raise LinkDown(self.describe())
        return await self._send(self._manager, action, as_list, timeout)

    async def _send(self, manager: LinkManager, action: dict, as_list: bool, timeout):
        # as_list is always explicit: panoramisk guesses from the reply text otherwise, and
        # takes QueueAdd's "Added interface to queue" for the start of a list.
        future = manager.send_action(dict(action), as_list=as_list)
        try:
            # shield: a timed-out wait must not cancel the future panoramisk still fills in.
            reply = await asyncio.wait_for(asyncio.shield(future), timeout or self.action_timeout_s)
        except asyncio.TimeoutError:
            raise ActionFailed(
                f"Asterisk did not answer {action.get('Action')} within {timeout or self.action_timeout_s:.0f} s"
            ) from None
        if isinstance(reply, MutableMapping) and reply.get("Response") == "Error" and reply.get("Message") == "Permission denied":
            # Whoever reports this answer (an agent command, a barge) names the missing privilege.
            reply["Message"] = permission_denied(self.endpoint.username, str(action.get("Action")))
            log.warning("ami_permission_denied", action=action.get("Action"), problem=reply["Message"])
        return reply

    # -- life
    def stop(self) -> None:
        self._stopping = True
        if self._manager is not None:
            self._manager.close()

    async def run(self) -> None:
        delay = self.backoff[0]
        while not self._stopping:
            self._came_up = False
            try:
                await self._session()
            except asyncio.CancelledError:
                self._close()
                raise
            except Exception as exc:  # every failure of a session ends in a reconnect
                if self._came_up:
                    delay = self.backoff[0]  # the drop ends a link that worked: no backoff owed
                self._set_up(False, str(exc) or type(exc).__name__)
                log.warning("ami_link_down", where=self.endpoint.where, error=self.last_error, retry_in_s=round(delay, 1))
            finally:
                self._close()
            if self._stopping:
                break
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.backoff[1])
            self.reconnects += 1

    def _close(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            fail_pending(manager, LinkDown(f"AMI link to {self.endpoint.where} lost"))
            manager.close()
        self._set_up(False)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()
        manager = LinkManager(
            lost,
            lambda message: self._on_event(message),
            loop=loop,
            host=self.endpoint.host,
            port=self.endpoint.port,
            events="on",
            ping_delay=0,
        )
        try:
            await asyncio.wait_for(connect_protocol(manager, self.endpoint.host, self.endpoint.port), self.action_timeout_s)
        except asyncio.TimeoutError:
            raise ConnectionError(f"no answer from {self.endpoint.where}") from None
        except OSError as exc:
            raise ConnectionError(f"cannot connect to {self.endpoint.where}: {exc.strerror or exc}") from None
        self._manager = manager
        reply = await self._send(
            manager,
            {"Action": "Login", "Username": self.endpoint.username, "Secret": self.endpoint.secret, "Events": "on"},
            False,
            min(LOGIN_TIMEOUT_S, self.action_timeout_s),
        )
        if not _succeeded(reply):
            message = reply.get("Message", "no reason given") if isinstance(reply, Mapping) else reply
            raise PermissionError(f"login as {self.endpoint.username!r} at {self.endpoint.where} refused: {message}")
        log.info("ami_login", where=self.endpoint.where, reconnects=self.reconnects)
        await self._on_ready(self)
        self._set_up(True)
        self._came_up = True
        log.info("ami_link_up", where=self.endpoint.where)
        await self._keepalive(manager, lost)

    async def _keepalive(self, manager: LinkManager, lost: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(lost.wait(), self.keepalive_s)
                raise ConnectionError(f"connection to {self.endpoint.where} lost")
            except asyncio.TimeoutError:
                pass
            try:
                reply = await self._send(manager, {"Action": "Ping"}, False, self.keepalive_timeout_s)
            except ActionFailed:
                raise ConnectionError(
                    f"no Pong from {self.endpoint.where} within {self.keepalive_timeout_s:.0f} s (half-open link)"
                ) from None
            if lost.is_set():
                raise ConnectionError(f"connection to {self.endpoint.where} lost")
            if not _succeeded(reply):
                raise ConnectionError(f"Ping answered {dict(reply)}")


def _succeeded(reply) -> bool:
    """A single AMI response saying Success (a list or anything else is not one)."""
    return isinstance(reply, Mapping) and reply.get("Response") == "Success"
