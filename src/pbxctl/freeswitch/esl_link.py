"""The long-lived inbound Event Socket link of the FreeSWITCH controller (gevent).

greenswitch 0.0.19 has neither a reconnect nor a re-subscribe, and a half-open TCP link
looks to it like a quiet FreeSWITCH. This link adds:
- a keep-alive: `api status` every `keepalive_s`; no reply within `keepalive_timeout_s`
  and the link is rebuilt;
- reconnect with backoff (`backoff_s` doubling up to `max_backoff_s`) after any drop:
  refused, wrong password, disconnect notice (`exit`, shutdown, auth timeout), half-open;
- the subscription sent again on every new connection, while handlers are registered once
  on the link (never on a greenswitch session), so a reconnect never duplicates them;
- a resync hook run after every (re)connect, before events are handed on: the caller
  rebuilds its state from `callcenter_config` lists (`lists()`), since events missed
  while the link was down are gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import gevent
import gevent.event
import structlog
from greenswitch.esl import NotConnectedError, OutboundSessionHasGoneAway

from pbxctl.freeswitch.callcenter_lists import parse_table
from pbxctl.freeswitch.esl_protocol import Event, command
from pbxctl.freeswitch.greenswitch_glue import GlueEvent, InboundSession

log = structlog.get_logger("pbxctl.freeswitch.esl_link")

# What the controller follows: mod_callcenter's story and the channels it needs.
EVENTS = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE DTMF BACKGROUND_JOB CUSTOM callcenter::info"


@dataclass
class EslEndpoint:
    host: str
    port: int
    password: str


@dataclass
class LinkState:
    connected: bool = False
    since: float = field(default_factory=time.time)
    reason: str = "not connected yet"
    reconnects: int = 0


class EslLink:
    def __init__(
        self,
        endpoint: EslEndpoint,
        on_event: Callable[[Event], None],
        resync: Callable[["EslLink"], None] | None = None,
        events: str = EVENTS,
        keepalive_s: float = 5.0,
        keepalive_timeout_s: float = 5.0,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        command_timeout_s: float = 5.0,
    ):
        self.endpoint = endpoint
        self._on_event = on_event
        self._resync = resync
        self.events = events
        self.keepalive_s = keepalive_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.command_timeout_s = command_timeout_s
        self.state = LinkState()
        self._session: InboundSession | None = None
        self._dropped = gevent.event.Event()
        self._stopping = False

    # --- commands -------------------------------------------------------------------------

    def api(self, text: str) -> str:
        session = self._session
        if session is None or not self.state.connected:
            raise ConnectionError(f"ESL link to {self.endpoint.host}:{self.endpoint.port} is down: {self.state.reason}")
        return session.send_bytes(command(f"api {text}"), self.command_timeout_s).data or ""

    def lists(self) -> dict[str, list[dict[str, str]]]:
        """mod_callcenter's queues, agents and tiers as it has them now."""
        return {what: parse_table(self.api(f"callcenter_config {what} list")) for what in ("queue", "agent", "tier")}

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, and keep connecting, until stop()."""
        delay = self.backoff_s
        while not self._stopping:
            try:
                self._connect()
                delay = self.backoff_s
                self._serve()
            except (OSError, TimeoutError, PermissionError, gevent.Timeout, ConnectionError, NotConnectedError,
                    OutboundSessionHasGoneAway) as exc:
                self._down(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a broken resync must not end the link
                log.exception("esl_link_error")
                self._down(f"error: {exc}")
            if self._stopping:
                break
            gevent.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)
            self.state.reconnects += 1

    def stop(self) -> None:
        self._stopping = True
        self._dropped.set()
        if self._session is not None:
            self._session.close()

    def _connect(self) -> None:
        ep = self.endpoint
        session = InboundSession(ep.host, ep.port, ep.password)
        self._dropped.clear()
        session.register_handle("*", self._event)
        session.register_handle("DISCONNECT", self._disconnect)
        self._session = session
        session.open(self.command_timeout_s)
        reply = session.send_bytes(command(f"event plain {self.events}"), self.command_timeout_s)
        if not (reply.data or "").startswith("+OK"):
            raise ConnectionError(f"subscription refused: {reply.data}")
        self.state = LinkState(True, time.time(), "connected", self.state.reconnects)
        log.info("esl_link_up", host=ep.host, port=ep.port, reconnects=self.state.reconnects)
        if self._resync is not None:
            self._resync(self)

    def _serve(self) -> None:
        while not self._stopping:
            if self._dropped.wait(self.keepalive_s):
                raise ConnectionError(self._drop_reason)
            try:
                self._session.send_bytes(command("api status"), self.keepalive_timeout_s)
            except TimeoutError:
                raise TimeoutError(f"no reply to the keep-alive within {self.keepalive_timeout_s} s (half-open link?)") from None

    def _down(self, reason: str) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.state.connected or self.state.reason != reason:
            log.warning("esl_link_down", reason=reason)
        self.state = LinkState(False, time.time(), reason, self.state.reconnects)

    def _event(self, event: GlueEvent) -> None:
        if event.event is not None:
            self._on_event(event.event)

    _drop_reason = "connection closed"

    def _disconnect(self, event: GlueEvent) -> None:
        body = event.frame.body.decode("utf-8", "replace").strip()
        self._drop_reason = f"disconnect notice: {body}" if body else "connection closed by FreeSWITCH"
        self._dropped.set()
