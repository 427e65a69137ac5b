"""A short-lived inbound Event Socket client for commands (apply, checks): connect, auth,
`api` one command at a time, exit. Plain blocking sockets and esl_protocol's framing: no
gevent, so the CLI can use it in any process.

Facts it relies on (tests/fixtures/esl/, FreeSWITCH 1.10.12): the greeting is auth/request;
a wrong password answers `-ERR invalid`, then a disconnect notice and a close; `api` answers
one api/response whose body carries any error (`-ERR ...`); events are never sent to a
connection that did not subscribe, so every frame after a command is its reply.
"""

from __future__ import annotations

import socket

from pbxctl.freeswitch.esl_protocol import Frame, FrameReader, ProtocolError, command


class EslError(Exception):
    """The Event Socket could not be reached or used; the message says why and where."""


class EslClient:
    def __init__(self, host: str, port: int, password: str, timeout: float = 10.0):
        self.where = f"FreeSWITCH Event Socket {host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise EslError(f"{self.where}: cannot connect ({exc.strerror or exc})") from None
        self._reader = FrameReader()
        self._frames: list[Frame] = []
        try:
            greeting = self._next()
            if greeting.content_type != "auth/request":
                raise EslError(f"{self.where}: expected auth/request, got {greeting.content_type!r}")
            reply = self._send(f"auth {password}")
            if reply.get("Reply-Text") != "+OK accepted":
                raise EslError(
                    f"{self.where} refused the password (pbx.freeswitch.esl.password): {reply.get('Reply-Text')}"
                )
        except EslError:
            self.close()
            raise

    def api(self, text: str) -> str:
        """The body of `api TEXT` (errors are in the body: the caller decides)."""
        reply = self._send(f"api {text}")
        if reply.content_type != "api/response":
            raise EslError(f"{self.where}: `api {text}` answered {reply.content_type!r}")
        return reply.body.decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self._sock.sendall(command("exit"))
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> "EslClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, text: str) -> Frame:
        try:
            self._sock.sendall(command(text))
        except OSError as exc:
            raise EslError(f"{self.where}: connection lost sending {text.split()[0]!r} ({exc})") from None
        frame = self._next()
        if frame.content_type == "text/disconnect-notice":
            raise EslError(f"{self.where} closed the connection: {frame.body.decode('utf-8', 'replace').strip()}")
        return frame

    def _next(self) -> Frame:
        while not self._frames:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                raise EslError(f"{self.where}: no reply in time") from None
            except OSError as exc:
                raise EslError(f"{self.where}: connection lost ({exc})") from None
            if not data:
                raise EslError(f"{self.where} closed the connection")
            try:
                self._frames += self._reader.feed(data)
            except ProtocolError as exc:
                raise EslError(f"{self.where}: not Event Socket framing ({exc})") from None
        return self._frames.pop(0)
