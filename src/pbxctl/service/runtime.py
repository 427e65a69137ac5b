"""What a running backend hands the HTTP API and the metrics: one `Runtime`, whichever PBX
is behind it. The adapter's wiring function (asterisk/runtime.py) builds it; service/
modules reach the adapter only through it.

Backend-neutral errors live here too, so the API can say whose problem a failure is
without knowing which PBX raised it.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Protocol

from pbxctl.domain.agent_membership import Wanted
from pbxctl.site import model as m
from pbxctl.site.load import LoadedSite


class LinkDown(Exception):
    """The link to the PBX is down: nothing was changed; the message says since when and why."""


class CommandFailed(Exception):
    """An agent command the PBX refused or could not take: the message says which part."""


class PbxLink(Protocol):
    """The service's one long-lived link to the PBX (AMI, ESL)."""

    @property
    def up(self) -> bool: ...

    since: float
    reconnects: int

    @property
    def where(self) -> str: ...

    def describe(self) -> str: ...


class LiveController(Protocol):
    """Live queue state, agents' wanted membership and agent commands."""

    wanted: Mapping[tuple[str, str], Wanted]
    resyncs: int
    events_seen: int

    def queues(self, now: float | None = None) -> Mapping[str, Any]: ...

    def agent_command(
        self, agent: str, action: str, queue: str | None = None, reason: str = "", source: str = "cli"
    ) -> Awaitable[list[str]]: ...

    def on_call_ended(self, listener: Callable[[Any], None]) -> None: ...


class LiveSupervision(Protocol):
    """Live calls, barge and transfers."""

    help_events: list[dict]

    def listing(self) -> list[dict]: ...

    def help_requests_total(self) -> dict[str, int]: ...

    def barge(self, target: str, mode: str, from_extension: str) -> Awaitable[dict]: ...

    def set_mode(self, target: str, mode: str, from_extension: str | None = None) -> Awaitable[dict]: ...

    def transfer(self, target: str, to: str, with_return: bool = False, attended: bool = False) -> Awaitable[dict]: ...


@dataclass(frozen=True)
class Runtime:
    site: Callable[[], LoadedSite]
    clock: Callable[[], float]
    link: PbxLink
    controller: LiveController
    supervision: LiveSupervision
    # (queue, rule) -> alerting now
    sla_alerts_active: Callable[[], Mapping[tuple[str, str], bool]]
    # member as the live queue views name it (their `interface`) -> agent of the site
    agents_by_member: Callable[[m.Site], Mapping[str, str]]
    # the books' database: /reports and /api/reports read it
    books: Engine | None = None
    # the bearer token every HTTP request must carry (None: none, on loopback only)
    api_token: str | None = None

    def link_document(self) -> dict[str, Any]:
        """The "ami" part of the status document (the key stays for the CLI's sake)."""
        link = self.link
        return {
            "up": link.up,
            "where": link.where,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(link.since)),
            "detail": link.describe(),
            "reconnects": link.reconnects,
            "resyncs": self.controller.resyncs,
            "events": self.controller.events_seen,
        }
