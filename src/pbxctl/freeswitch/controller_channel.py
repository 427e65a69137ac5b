"""What the controller process (gevent) and the service process (asyncio) say to each other
over their socket pair: the controller's state as snapshots, ended calls, agent commands and
their answers. Sans-I/O: each side frames and reads with these and does its own I/O.

Both ends are pbxctl processes started together (the pair is never a network socket), so
messages are pickled dataclasses behind a 4-byte length.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, field
from typing import Any

from pbxctl.domain.agent_membership import Wanted

_LENGTH = struct.Struct("!I")
MAX_MESSAGE = 64 << 20


@dataclass(frozen=True)
class LinkInfo:
    up: bool
    since: float
    reconnects: int
    where: str
    detail: str


@dataclass(frozen=True)
class Snapshot:
    """The controller's state as the HTTP API, metrics and SLA rules read it."""

    views: dict[str, Any]  # queue -> queue_state.QueueView
    wanted: dict[tuple[str, str], Wanted]
    link: LinkInfo
    resyncs: int
    events_seen: int
    calls: list[dict] = field(default_factory=list)  # live_calls.listing()
    at: float = 0.0


@dataclass(frozen=True)
class CallsEnded:
    calls: list[Any]  # queue_state.CallEnded


@dataclass(frozen=True)
class AgentRequest:
    id: int
    agent: str
    action: str
    queue: str | None
    reason: str
    source: str


@dataclass(frozen=True)
class AgentAnswer:
    id: int
    changes: list[str] | None = None
    error: str = ""  # AgentCommandError | LinkDown | CommandFailed
    message: str = ""


def encode(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class Decoder:
    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[object]:
        self._buf += data
        out = []
        while len(self._buf) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buf)
            if length > MAX_MESSAGE:
                raise ValueError(f"message of {length} bytes from the controller process")
            if len(self._buf) < _LENGTH.size + length:
                break
            out.append(pickle.loads(bytes(self._buf[_LENGTH.size : _LENGTH.size + length])))
            del self._buf[: _LENGTH.size + length]
        return out
