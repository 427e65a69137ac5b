"""The inbound double on a TCP port (threads, blocking sockets): FreeSWITCH's port 8021 for
a client under test. `drop()` closes every connection (FreeSWITCH restarted), `freeze()`
stops answering while keeping the sockets open (a half-open link), `emit()` is an event
happening in FreeSWITCH."""

from __future__ import annotations

import socket
import threading
from typing import Callable

from pbxctl.freeswitch.esl_protocol import Event

from .engine import Inbound


class InboundServer:
    def __init__(self, password: str, api: Callable[[str], str]):
        self.password = password
        self.api = api
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.frozen = False
        self.conns: list[tuple[socket.socket, Inbound]] = []
        self.commands: list[str] = []
        self.lock = threading.RLock()  # an api command may emit events (agent set status)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            engine = Inbound(self.password, self.api, job_uuid=lambda: "00000000-0000-0000-0000-000000000000")
            with self.lock:
                self.conns.append((conn, engine))
            conn.sendall(engine.greeting())
            threading.Thread(target=self._serve, args=(conn, engine), daemon=True).start()

    def _serve(self, conn: socket.socket, engine: Inbound) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self.frozen:
                continue
            self.commands += [line for line in data.decode().split("\n\n") if line]
            try:
                with self.lock:
                    self._deferred = []
                    conn.sendall(engine.receive(data))
                    # events a command caused come after its reply (recorded: agent set status)
                    deferred, self._deferred = self._deferred, None
                    for event in deferred:
                        self.emit(event)
            except OSError:
                return
            if engine.closed:
                conn.close()
                return

    _deferred: list[Event] | None = None

    def emit(self, event: Event) -> None:
        with self.lock:
            if self._deferred is not None:
                self._deferred.append(event)
                return
            for conn, engine in self.conns:
                try:
                    conn.sendall(engine.emit(event))
                except OSError:
                    pass

    def drop(self) -> None:
        with self.lock:
            for conn, _ in self.conns:
                conn.close()
            self.conns.clear()

    def freeze(self, frozen: bool = True) -> None:
        self.frozen = frozen

    def close(self) -> None:
        self.sock.close()
        self.drop()
