"""The IVR's clock seam, shared by both backends' decision services: the system clock, or a
fixed time for tests and `serve --clock`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger("pbxctl.ivr")


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


@dataclass
class FixedClock:
    """The service behaves as if it were `at`."""

    at: dt.datetime

    def now(self) -> dt.datetime:
        return self.at


def as_if(text: str | None) -> dt.datetime | None:
    """PBXCTL_AT of a test call: local time (naive: each hours set reads it in its own zone);
    None when absent or unreadable (the call is then decided at the real time)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        log.warning("unreadable_pbxctl_at_ignored", value=text)
        return None
