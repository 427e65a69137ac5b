"""A short-lived AMI session for commands (apply, reload, checks).

It connects, logs in, does its work and leaves, failing with a clear message instead of
hanging or retrying forever (panoramisk's Manager reconnects in a loop after a refused
login, which suits a long-running service, not a command). The long-running controller
uses panoramisk.
"""

from __future__ import annotations

import asyncio
import itertools

from pbxctl.asterisk.ami_protocol import encode_action, parse_message


class AmiError(Exception):
    pass


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str, timeout: float = 10.0):
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def __aenter__(self) -> "AmiClient":
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
            banner = await asyncio.wait_for(self._reader.readline(), self.timeout)
        except asyncio.TimeoutError:
            raise AmiError(f"no answer from Asterisk AMI at {self.where} within {self.timeout:.0f} s") from None
        except OSError as exc:
            raise AmiError(f"cannot reach Asterisk AMI at {self.where}: {exc.strerror or exc}") from None
        if not banner.startswith(b"Asterisk Call Manager"):
            await self.close()
            raise AmiError(f"{self.where} does not speak AMI (greeting {banner[:40]!r})")
        reply = (await self.action({"Action": "Login", "Username": self.username, "Secret": self._secret, "Events": "off"}))[0]
        if reply.get("Response") != "Success":
            await self.close()
            raise AmiError(
                f"AMI login as {self.username!r} at {self.where} refused: {reply.get('Message', 'no reason given')}"
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None and not self._writer.is_closing():
            try:
                await self.action({"Action": "Logoff"})
            except AmiError:
                pass
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = None

    async def _read_message(self) -> dict[str, str]:
        if self._reader is None:
            raise AmiError("not connected")
        try:
            block = await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), self.timeout)
        except asyncio.TimeoutError:
            raise AmiError(f"Asterisk AMI at {self.where} stopped answering ({self.timeout:.0f} s)") from None
        except (asyncio.IncompleteReadError, OSError):
            raise AmiError(f"Asterisk AMI at {self.where} closed the connection") from None
        return parse_message(block)

    async def action(self, fields: dict[str, str]) -> list[dict[str, str]]:
        """Send an action; return its response and, for list actions, the events up to
        the list's completion event."""
        if self._writer is None:
            raise AmiError("not connected")
        action_id = f"pbxctl-{next(self._ids)}"
        self._writer.write(encode_action({**fields, "ActionID": action_id}))
        await self._writer.drain()
        messages: list[dict[str, str]] = []
        listing = False
        while True:
            msg = await self._read_message()
            if msg.get("ActionID") != action_id:
                continue  # an unrelated event
            messages.append(msg)
            if len(messages) == 1:
                if msg.get("Response") == "Error" and msg.get("Message") == "Permission denied":
                    from pbxctl.doctor.ami_privileges import permission_denied

                    raise AmiError(permission_denied(self.username, fields.get("Action", "?")))
                listing = msg.get("EventList") == "start" or "will follow" in msg.get("Message", "")
                if not listing or msg.get("Response") not in ("Success", None):
                    return messages
            elif msg.get("EventList") == "Complete" or msg.get("Event", "").endswith("Complete"):
                return messages

    async def command(self, command: str) -> str:
        reply = (await self.action({"Action": "Command", "Command": command}))[0]
        if reply.get("Response") != "Success":
            raise AmiError(f"Asterisk refused {command!r}: {reply.get('Message', reply)}")
        return reply.get("Output", "")


def client_for(site, base_dir) -> AmiClient:
    from pbxctl.site.secrets import resolve_secret

    ami = site.pbx.asterisk.ami
    secret = resolve_secret(ami.secret, "pbx.asterisk.ami.secret", base_dir)
    return AmiClient(ami.host, ami.port, ami.username, secret)
