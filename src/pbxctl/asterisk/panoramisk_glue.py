"""Every use of panoramisk's internals, in one place (tested against panoramisk 1.4; the
pin in pyproject.toml and tests/test_panoramisk_glue.py guard it).

pbxctl uses panoramisk's AMI framing (AMIProtocol, Message) and its FastAGI Request, but
not its Manager's life cycle: ami_link.py owns reconnects and keep-alive. That needs two
things panoramisk offers no public way to do:

- `connect_protocol`: the AMIProtocol of a connection pbxctl opened itself, wired to a
  Manager the way Manager.connection_made wires it, without its pinger and retry loop;
- `agi_request`: a FastAGI Request for a session pbxctl accepted itself (panoramisk's
  Application reads the AGI environment in a way that spins forever when the peer closes
  early). 1.4 never reads `Request.app` on the paths pbxctl uses; later versions do in
  send_command's error path, which is why the pin is tight.

`replay_ami` feeds recorded AMI bytes through the same framing, for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable, Iterable

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.fast_agi import Request
from panoramisk.message import Message

TESTED_VERSION = "1.4"
ENCODING = "utf8"

# panoramisk logs its own bookkeeping at INFO (the banner's "protocol version: '11.0.0'",
# actions queued while disconnected): that is not the service's to print. Its warnings are.
LOGGER = logging.getLogger("pbxctl.panoramisk")
LOGGER.setLevel(logging.WARNING)


class _ManagedProtocol(AMIProtocol):
    """AMIProtocol already wired to its Manager when the first byte arrives."""

    def __init__(self, manager: Manager):
        self._manager = manager

    def connection_made(self, transport):
        super().connection_made(transport)
        manager = self._manager
        # What Manager.connection_made does, minus its pinger and retry loop.
        self.factory = manager
        self.queue = deque()
        self.log = LOGGER
        self.config = manager.config
        self.encoding = manager.encoding = ENCODING
        manager.protocol = self
        manager.responses = self.responses
        manager._connected = True

    def connection_lost(self, exc):
        # An action in flight (the Login while Asterisk restarts) fails now, not after the
        # link's action timeout: panoramisk's close() would file it away, unanswered, to be
        # sent again by its own reconnect loop, which LinkManager does not run.
        config = self._manager.config
        fail_pending(self._manager, ConnectionError(f"connection to {config.get('host')}:{config.get('port')} lost"))
        super().connection_lost(exc)


class LinkManager(Manager):
    """panoramisk's Manager minus its own reconnect loop and pinger: ami_link.AmiLink decides."""

    def __init__(self, lost: asyncio.Event, on_event: Callable[[object], None], **config):
        super().__init__(**config)
        self._lost = lost
        self._deliver = on_event

    def dispatch(self, event):
        # Every event goes to the controller: no per-event pattern matching (panoramisk's
        # dispatch runs a regex per registered pattern and checks for coroutines).
        self._deliver(event)

    def connection_lost(self, exc):  # AMIProtocol calls it
        self._connected = False
        self._lost.set()


async def connect_protocol(manager: Manager, host: str, port: int) -> AMIProtocol:
    """Open an AMI connection for `manager` (which must not connect by itself)."""
    loop = asyncio.get_running_loop()
    manager.log = LOGGER
    _transport, protocol = await loop.create_connection(lambda: _ManagedProtocol(manager), host, port)
    return protocol


def fail_pending(manager: Manager, error: Exception) -> None:
    """Whoever waits for an answer on this manager's connection learns now that none will come."""
    if manager.protocol is None:
        return
    for pending in list(manager.protocol.responses.values()):
        if not pending.future.done():
            pending.future.set_exception(error)
            pending.future.exception()  # retrieved: nobody may be waiting any more


def agi_request(headers: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request:
    """A FastAGI Request over an accepted connection whose environment is already read."""
    return Request(app=None, headers=headers, reader=reader, writer=writer)


class _Recorder(AMIProtocol):
    """The framing alone: every message it parses is kept, none is dispatched."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def handle_message(self, message: Message) -> None:
        self.messages.append(message)


def replay_ami(chunks: Iterable[bytes]) -> list[Message]:
    """Recorded AMI traffic (bytes as they came off the socket) parsed by panoramisk's
    framing exactly as the service parses it: every message, events and responses, in order."""
    protocol = _Recorder()
    protocol.connection_made(transport=None)
    protocol.log = LOGGER
    protocol.encoding = ENCODING
    messages = protocol.messages
    for chunk in chunks:
        protocol.data_received(chunk)
    return messages


def replay_bytes(data: bytes, chunk_size: int = 64 * 1024) -> list[Message]:
    """`replay_ami` of one recording, cut into socket-sized reads at message boundaries
    (panoramisk decodes each read on its own: a multi-byte character cut in two would be
    dropped, which is not what the recording is there to test)."""
    return replay_ami(_on_boundaries(data, chunk_size))


def _on_boundaries(data: bytes, size: int) -> Iterable[bytes]:
    start = 0
    while start < len(data):
        end = data.find(b"\r\n\r\n", start + size)
        end = len(data) if end < 0 else end + 4
        yield data[start:end]
        start = end
