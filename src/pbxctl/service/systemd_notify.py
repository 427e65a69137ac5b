"""systemd's service notification protocol (sd_notify(3)), spoken directly.

The protocol is one datagram per message on the AF_UNIX socket named by NOTIFY_SOCKET
(`@` at the start means the abstract namespace), so no libsystemd binding is needed.
Outside systemd (no NOTIFY_SOCKET) every call is a no-op.

The watchdog pings come from a task on the event loop itself, never from a thread: a
loop that is blocked or frozen stops pinging, systemd's `WatchdogSec=` runs out, and the
service is killed and restarted (`Restart=on-failure`). Calls that were waiting for a
decision of the frozen service take their fallback from the dialplan, as they do when
it is down.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("pbxctl.systemd")

STATE_SEND_TIMEOUT_S = 1.0


def socket_address(value: str) -> str | bytes:
    """NOTIFY_SOCKET as an address for sendto(): `@name` is the abstract socket `\\0name`."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class SystemdNotifier:
    """Sends READY=1, WATCHDOG=1, STOPPING=1, STATUS=... to systemd when it asked for them."""

    def __init__(self, notify_socket: str | None):
        self.address = socket_address(notify_socket) if notify_socket else None
        self._sock: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "SystemdNotifier":
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """One message of `KEY=value` lines; True when it was handed to the socket.

        A state change (READY, STOPPING) waits up to a second for room in the socket's
        queue; a watchdog ping never waits: the event loop must not stall in sendto(),
        and a lost ping is replaced by the next one."""
        if self.address is None:
            return False
        ping = fields == ("WATCHDOG=1",)
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(0.0 if ping else STATE_SEND_TIMEOUT_S)
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if not self._failed:  # say it once, not every ping
                log.warning("systemd_notify_failed", notify_socket=str(self.address), message=fields[0], error=str(exc))
                self._failed = True
            return False
        self._failed = False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of WatchdogSec= (systemd passes it as
    WATCHDOG_USEC), as sd_watchdog_enabled(3) advises; None when no watchdog is set for
    this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None


async def ping_watchdog(notifier: SystemdNotifier, interval_s: float,
                        healthy: Callable[[], bool] | None = None) -> None:
    """Ping systemd every `interval_s` for as long as this event loop runs its tasks and
    `healthy()` (the service's other processes answering) holds."""
    held = False
    while True:
        if healthy is None or healthy():
            if held:
                log.info("watchdog_pings_resumed")
            held = False
            notifier.notify("WATCHDOG=1")
        elif not held:
            log.warning("watchdog_pings_held_a_process_is_silent")
            held = True
        await asyncio.sleep(interval_s)
