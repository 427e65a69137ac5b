"""Liveness of the gevent children of `serve freeswitch`, for the main process's systemd
watchdog: each IVR process writes a byte down its own pipe every BEAT_S from a greenlet (a
frozen or blocked hub stops writing), the controller process already sends a snapshot at
least every second over its channel. The main process pings WATCHDOG=1 only while every
child was heard within STALE_S, so systemd's WatchdogSec= catches a frozen child too.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable

import gevent
import structlog

log = structlog.get_logger("pbxctl.freeswitch")

BEAT_S = 1.0
STALE_S = 3.0  # as remote_controller.STALE_S: three missed beats


def beat_forever(fd: int, every_s: float = BEAT_S) -> None:
    """In an IVR process (gevent): one byte every `every_s` for as long as its hub runs.
    Never blocks the hub: a full pipe (a main process that does not read) drops the beat."""
    os.set_blocking(fd, False)
    while True:
        try:
            os.write(fd, b".")
        except BlockingIOError:
            pass
        except OSError:  # the main process is gone; its death signal ends this one
            return
        gevent.sleep(every_s)


class Heard:
    """In the main process: when each IVR pipe last had a beat (read by the event loop)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.at: dict[int, float] = {}

    def watch(self, loop, fd: int) -> None:
        os.set_blocking(fd, False)
        self.at[fd] = self._clock()  # a child just started gets one STALE_S to speak

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            if not data:  # the child exited: _exited() in runtime.py stops the service
                loop.remove_reader(fd)
                return
            self.at[fd] = self._clock()

        loop.add_reader(fd, readable)

    def silent(self) -> list[int]:
        now = self._clock()
        return [fd for fd, at in self.at.items() if now - at >= STALE_S]


def all_alive(ivrs: Heard, controller_fresh: Callable[[], bool]) -> Callable[[], bool]:
    """The watchdog's health check: every IVR process beat lately and the controller spoke."""

    def check() -> bool:
        return not ivrs.silent() and controller_fresh()

    return check


def close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
