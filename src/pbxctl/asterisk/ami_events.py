"""An AMI connection that records every event: for following what the real Asterisk does
with a call (`pbxctl ivr test --call`, end-to-end tests)."""

from __future__ import annotations

import asyncio
import time

from pbxctl.asterisk.ami_protocol import encode_action, parse_message


class EventTimeout(TimeoutError):
    """The awaited AMI event did not come in time; the message lists the last ones seen."""


class EventRecorder:
    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 5038, username: str = "pbxctl"):
        self.secret, self.host, self.port, self.username = secret, host, port, username
        self.events: list[dict[str, str]] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "EventRecorder":
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        await self._reader.readline()
        self._writer.write(encode_action({"Action": "Login", "Username": self.username, "Secret": self.secret, "Events": "on"}))
        await self._writer.drain()
        self._task = asyncio.create_task(self._pump())
        await self.wait_for(lambda e: e.get("Response") == "Success", timeout=5)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
        self._writer.close()

    async def _pump(self) -> None:
        while True:
            block = await self._reader.readuntil(b"\r\n\r\n")
            self.events.append(parse_message(block))

    async def send(self, fields: dict[str, str]) -> None:
        self._writer.write(encode_action(fields))
        await self._writer.drain()

    async def wait_for(self, predicate, timeout: float = 15.0, start: int = 0) -> dict[str, str]:
        """The first event from index `start` on that matches."""
        deadline = time.monotonic() + timeout
        seen = start
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            await asyncio.sleep(0.05)
        names = [e.get("Event") or e.get("Response") for e in self.events[-40:]]
        raise EventTimeout(f"no matching AMI event within {timeout} s; last events: {names}")
