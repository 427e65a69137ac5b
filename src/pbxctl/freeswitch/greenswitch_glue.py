"""greenswitch 0.0.19's outbound session, reading frames with pbxctl's esl_protocol.

Why not greenswitch as is (checked in the installed 0.0.19 and its issue tracker):
- `ESLEvent.parse_data` URL-decodes the whole header block before splitting it into lines,
  so a value holding %0A (the connect reply's own `Reply-Text: %2BOK%0A`) or ': ' is torn
  apart; pbxctl decodes value by value.
- `send()` waits for the reply without a time limit (EvoluxBR/greenswitch#34: a call stuck
  for good after a hang-up with linger); pbxctl's service must be time-boxed.
- `send()` appends two LFs after a sendmsg body, which FreeSWITCH would read as the start of
  another command.
- `OutboundESLServer` polls accept() every 100 ms and connects without a time limit.

So this module keeps greenswitch's session machinery (its reader/processor greenlets, the
reply queue, event handlers, linger and disconnect handling) and replaces exactly two
methods: `receive_events` (framing) and `send` (bytes, with a time limit). It relies on
greenswitch internals (`_commands_sent`, `_esl_event_queue`, `_lingering`, `_run`), which is
why pyproject pins greenswitch to 0.0.19; tests/test_greenswitch_glue.py fails if they change.
"""

from __future__ import annotations

import socket

import gevent
import gevent.event
import gevent.server
import gevent.socket as socket_module
from greenswitch.esl import InboundESL, NotConnectedError, OutboundSession, OutboundSessionHasGoneAway

from pbxctl.freeswitch.esl_protocol import Event, Frame, FrameReader, ProtocolError, channel_data, command, event_of

READ_SIZE = 65536


class GlueEvent:
    """What greenswitch's handlers expect (`.headers`, `.data`), built from our parse."""

    def __init__(self, frame: Frame, event: Event | None = None):
        self.frame = frame
        self.event = event
        self.headers: dict[str, str] = event.index if event is not None else dict(frame.headers)
        self.data = frame.get("Reply-Text") if frame.content_type == "command/reply" else frame.body.decode("utf-8", "replace")


class PbxctlFraming:
    """The two replaced methods (and helpers), for outbound and inbound sessions alike."""

    def receive_events(self) -> None:
        reader = FrameReader()
        while self._run:
            try:
                data = self.sock.recv(READ_SIZE)
            except OSError:
                data = b""
            if not data:
                self._gone()
                break
            try:
                frames = reader.feed(data)
            except ProtocolError:
                self._gone()
                break
            for frame in frames:
                self._dispatch(frame)

    def _gone(self) -> None:
        self._run = False
        self.connected = False
        for pending in self._commands_sent:
            pending.set_exception(OutboundSessionHasGoneAway())
        self._commands_sent.clear()
        # DISCONNECT handlers run here, not through the event queue: the processor greenlet
        # stops once _run is false and could miss a queued notice.
        gone = GlueEvent(Frame([("Content-Type", "text/disconnect-notice")]))
        for handler in list(self.event_handlers.get("DISCONNECT", [])):
            self._safe_exec_handler(handler, gone)

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.content_type
        if kind == "auth/request":
            self._auth_request_event.set()
        elif kind in ("command/reply", "api/response"):
            event = GlueEvent(frame, channel_data(frame) if frame.get("Event-Name") == "CHANNEL_DATA" else None)
            if self._commands_sent:
                self._commands_sent.pop(0).set(event)
        elif kind == "text/disconnect-notice":
            if frame.get("Content-Disposition") == "linger":
                self._lingering = True
            else:
                self.connected = False
            self._esl_event_queue.put(GlueEvent(frame))
        elif kind.startswith("text/event-"):
            self._esl_event_queue.put(GlueEvent(frame, event_of(frame)))

    def send_bytes(self, data: bytes, timeout: float) -> GlueEvent:
        """One command; its reply, or gevent.Timeout / OutboundSessionHasGoneAway."""
        if not self.connected:
            raise NotConnectedError()
        result = gevent.event.AsyncResult()
        self._commands_sent.append(result)
        self.sock.sendall(data)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            raise TimeoutError(f"no reply within {timeout:.2f} s to {data[:40]!r}") from None

    def close(self) -> None:
        """Let go of the channel: FreeSWITCH's socket app returns and the dialplan goes on."""
        self._run = False
        self.connected = False
        if getattr(self, "sock", None) is None:
            return  # the connection was refused: nothing was opened
        try:
            # shutdown first: greenswitch's makefile() holds the descriptor open past close()
            self.sock.shutdown(2)
        except OSError:
            pass
        self.sock_file.close()
        self.sock.close()


class Session(PbxctlFraming, OutboundSession):
    """One outbound socket connection from FreeSWITCH."""


class InboundSession(PbxctlFraming, InboundESL):
    """One connection to FreeSWITCH's port 8021, opened with a time limit on every step
    (greenswitch's own connect() waits for the greeting and the auth reply for ever)."""

    def open(self, timeout: float) -> None:
        self.sock = socket_module.create_connection((self.host, self.port), timeout=timeout)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock_file = self.sock.makefile("rb")
        self.connected = True
        self.start_event_handlers()
        if not self._auth_request_event.wait(timeout):
            raise TimeoutError(f"no auth/request from {self.host}:{self.port} within {timeout} s")
        reply = self.send_bytes(command(f"auth {self.password}"), timeout)
        if reply.data != "+OK accepted":
            raise PermissionError(f"FreeSWITCH refused the ESL password ({reply.data})")


def serve(handle_session, host: str, port: int, reuse_port: bool = False) -> gevent.server.StreamServer:
    """An accepting server (gevent's, no polling) that hands each connection to
    `handle_session(Session)` in its own greenlet. `reuse_port`: several processes listen
    on the same port and the kernel spreads the connections over them."""

    def on_connection(sock, address):
        # request/reply traffic of small frames: without this, Nagle and delayed ACKs add
        # ~40 ms to a command sent right after another (sched_cancel, sched_transfer, ...)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(address, sock)
        try:
            handle_session(session)
        finally:
            session.close()

    listener = socket_module.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, port))
        listener.listen(1024)
    except OSError:
        listener.close()
        raise
    server = gevent.server.StreamServer(listener, on_connection)
    server.start()
    return server
