"""FreeSWITCH's side of one Event Socket connection: the protocol state machine and framing.

What comes back for a command is decided here, as mod_event_socket 1.10.12 does it (the
replies are the recorded ones). What an `api` command answers and which events happen are
content, supplied by the caller: in the replay tests the recording itself, in the scenario
tests the PBX model of pbx.py. Both engines are sans-I/O: bytes in, bytes out.

Strict: a client that sends CR in a command, an unknown command, or anything FreeSWITCH
would refuse gets FreeSWITCH's refusal, and the refusal is also noted in `violations`, so a
test can assert that pbxctl never provoked one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from pbxctl.freeswitch.esl_protocol import (
    Event,
    encode_frame,
    event_frame,
    url_encode,
)

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTTING_DOWN = "The system is being shut down.\n"

ApiHandler = Callable[[str], str]


def reply(text: str, *extra: tuple[str, str]) -> bytes:
    return encode_frame([("Content-Type", "command/reply"), ("Reply-Text", text), *extra])


def api_response(body: str) -> bytes:
    data = body.encode("utf-8")
    return encode_frame([("Content-Type", "api/response"), ("Content-Length", str(len(data)))], data)


def disconnect_notice(text: str = GOODBYE, *before: tuple[str, str]) -> bytes:
    data = text.encode("utf-8")
    return encode_frame([("Content-Type", "text/disconnect-notice"), *before, ("Content-Length", str(len(data)))], data)


@dataclass
class Command:
    line: str  # the first line: "api status", "sendmsg", "connect"
    headers: dict[str, str]  # sendmsg's lines, names lower-cased
    body: bytes = b""
    crlf: bool = False


BLOCK_END = re.compile(rb"\n\r?\n")


class Commands:
    """Splits what a client sends into commands: a first line, header lines, a blank line,
    and when there is a content-length (sendmsg), that many body bytes.

    mod_event_socket's reader counts LFs and skips CRs when it looks for the blank line, so
    CRLF still ends a command, but the CR stays in the text: `auth ClueCon\r` is a wrong
    password and any other command with a CR is not found. The double does the same and
    notes every CR as a violation (the recordings show LF only)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Command]:
        self._buf += data
        out: list[Command] = []
        while True:
            match = BLOCK_END.search(self._buf)
            if match is None:
                return out
            block = self._buf[: match.start()].decode("utf-8", "replace")
            lines = block.lstrip("\r\n").split("\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                key, _, value = line.rstrip("\r").partition(": ")
                headers[key.lower()] = value
            length = int(headers.get("content-length", "0") or 0)
            if len(self._buf) < match.end() + length:
                return out
            body = self._buf[match.end() : match.end() + length]
            self._buf = self._buf[match.end() + length :]
            out.append(Command(lines[0], headers, body, crlf="\r" in block))


@dataclass
class Subscription:
    fmt: str | None = None  # 'plain' | 'json' once subscribed
    names: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)

    def add(self, fmt: str, words: list[str]) -> None:
        self.fmt = fmt  # a later `event json` switches everything already subscribed
        custom = False
        for word in words:
            if word == "CUSTOM":
                custom = True
            elif custom:
                self.subclasses.add(word)
            else:
                self.names.add(word)

    def wants(self, event: Event) -> bool:
        if self.fmt is None:
            return False
        if "ALL" in self.names:
            return True
        if event.name == "CUSTOM":
            return event.subclass in self.subclasses
        return event.name in self.names


class Connection:
    """What both sides share: commands in, replies out, CRs noted."""

    closed: bool
    violations: list[str]
    _commands: Commands

    def receive(self, data: bytes) -> bytes:
        out = b""
        for item in self._commands.feed(data):
            if self.closed:
                break
            if item.crlf:
                self.violations.append(f"CR in command {item.line!r}: Event Socket lines end in LF only")
            out += self._command(item)
        return out

    def _command(self, cmd: Command) -> bytes:
        raise NotImplementedError


class Inbound(Connection):
    """A client connected to FreeSWITCH's port 8021."""

    def __init__(self, password: str, api: ApiHandler, job_uuid: Callable[[], str]):
        self.password = password
        self._api = api
        self._job_uuid = job_uuid
        self._commands = Commands()
        self.authed = False
        self.closed = False
        self.subscription = Subscription()
        self.violations: list[str] = []

    def greeting(self) -> bytes:
        return encode_frame([("Content-Type", "auth/request")])

    def _command(self, cmd: Command) -> bytes:
        line = cmd.line
        verb, _, rest = line.partition(" ")
        if cmd.crlf and verb != "auth":  # in the password the CR just makes it wrong
            return reply("-ERR command not found")
        if not self.authed:
            if verb != "auth":
                self.violations.append(f"{line!r} before auth")
                return reply("-ERR command not found")
            if rest != self.password:
                self.closed = True
                return reply("-ERR invalid") + disconnect_notice()
            self.authed = True
            return reply("+OK accepted")
        if verb == "api":
            return api_response(self._api(rest))
        if verb == "bgapi":
            job = self._job_uuid()
            return reply(f"+OK Job-UUID: {job}", ("Job-UUID", job))
        if verb == "event" and rest.split(" ", 1)[0] in ("plain", "json"):
            fmt, _, names = rest.partition(" ")
            self.subscription.add(fmt, names.split())
            return reply(f"+OK event listener enabled {fmt}")
        if verb == "exit":
            self.closed = True
            return reply("+OK bye") + disconnect_notice()
        self.violations.append(f"unknown command {line!r}")
        return reply("-ERR command not found")

    def emit(self, event: Event) -> bytes:
        """An event happening in FreeSWITCH: framed if this connection subscribed to it."""
        if self.closed or not self.subscription.wants(event):
            return b""
        return event_frame(event, self.subscription.fmt).encode()

    def auth_timeout(self) -> bytes:
        """What FreeSWITCH sends ~25 s after a connection that never authenticated."""
        self.closed = True
        return disconnect_notice()

    def shutdown(self) -> bytes:
        self.closed = True
        return disconnect_notice(SHUTTING_DOWN)


class Outbound(Connection):
    """FreeSWITCH's side of `socket HOST:PORT async full`: one channel, connected to the
    service. `execute` is called for every sendmsg execute (the scenario runs the app);
    channel variables follow the channel's own events, as FreeSWITCH's do."""

    def __init__(self, channel_data: list[tuple[str, str]], api: ApiHandler, execute: Callable[[str, str, bool], None]):
        self.channel_data = list(channel_data)
        self.variables = {k.removeprefix("variable_"): v for k, v in channel_data if k.startswith("variable_")}
        self._api = api
        self._execute = execute
        self._commands = Commands()
        self.connected = False
        self.myevents = False
        self.lingering = False
        self.closed = False
        self.violations: list[str] = []
        self._queued: list[tuple[str, str, bool]] = []

    @property
    def uuid(self) -> str:
        return self.variables.get("uuid", "")

    def _command(self, cmd: Command) -> bytes:
        line = cmd.line
        verb, _, rest = line.partition(" ")
        if cmd.crlf:
            return reply("-ERR command not found")
        if not self.connected:
            if line != "connect":
                # FreeSWITCH waits for `connect`; nothing recorded says what it does with
                # anything else, so the double refuses and notes it.
                self.violations.append(f"{line!r} before connect")
                return reply("-ERR command not found")
            self.connected = True
            return self._connect_reply()
        if line == "myevents":
            self.myevents = True
            return reply("+OK Events Enabled")
        if line == "linger":
            self.lingering = True
            return reply("+OK will linger")
        if verb == "getvar":
            return reply(self.variables.get(rest, ""))
        if verb == "api":
            return api_response(self._api(rest))
        if verb == "sendmsg":
            return self._sendmsg(cmd)
        if line == "exit":
            self.closed = True
            return reply("+OK bye") + disconnect_notice()
        self.violations.append(f"unknown command {line!r}")
        return reply("-ERR command not found")

    def _connect_reply(self) -> bytes:
        tail = [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"), ("Socket-Mode", "async"), ("Control", "full")]
        return encode_frame([(k, url_encode(v)) for k, v in self.channel_data + tail])

    def _sendmsg(self, cmd: Command) -> bytes:
        fields = cmd.headers
        if fields.get("call-command") != "execute" or "execute-app-name" not in fields:
            self.violations.append(f"sendmsg without call-command execute: {fields}")
            return reply("-ERR command not found")
        arg = cmd.body.decode("utf-8") if cmd.body else fields.get("execute-app-arg", "")
        lock = fields.get("event-lock") == "true"
        # async mode: +OK at once; the channel runs the queued apps in order afterwards
        self._queued.append((fields["execute-app-name"], arg, lock))
        return reply("+OK")

    def run_pending(self) -> None:
        """Run the apps sendmsg queued, in order (the channel thread, after the +OKs)."""
        while self._queued:
            self._execute(*self._queued.pop(0))

    def emit(self, event: Event) -> bytes:
        for key, value in event.headers:
            if key.startswith("variable_"):
                self.variables[key.removeprefix("variable_")] = value
        if self.closed or not self.myevents:
            return b""
        return event_frame(event, "plain").encode()

    def hangup_notice(self, channel_name: str) -> bytes:
        """At hang-up with `linger` (no time): FreeSWITCH keeps the socket open after this."""
        if not self.lingering:
            self.closed = True
            return disconnect_notice(GOODBYE, ("Controlled-Session-UUID", self.uuid), ("Content-Disposition", "disconnect"))
        return encode_frame([
            ("Content-Type", "text/disconnect-notice"),
            ("Controlled-Session-UUID", self.uuid),
            ("Content-Disposition", "linger"),
            ("Channel-Name", channel_name),
            ("Linger-Time", "-1"),
            ("Content-Length", "0"),
        ])

    def never_connected(self) -> bytes:
        """~25 s after accepting, a service that never sent `connect` gets this and a close;
        the channel stays parked in the socket app (the recordings show nothing more)."""
        self.closed = True
        return disconnect_notice(GOODBYE, ("Controlled-Session-UUID", self.uuid), ("Content-Disposition", "disconnect"))
