"""SLA rules at run time: sample every queue the rules name from the controller's live
state every few seconds, feed the SlaWatch, deliver what it says.

"Logged in" counts members that are not unavailable (a static member whose phone is not
registered is not really there); paused members count as logged in. While the AMI link
is down nothing is sampled: stale state must not raise or clear alerts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Callable

import structlog

from pbxctl.alerts.delivery import deliver
from pbxctl.domain.sla_rules import QueueSample, SlaWatch
from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import SecretUnavailable, resolve_secret

log = structlog.get_logger("pbxctl.sla")


def sample_queue(view, at: dt.datetime, now: float) -> QueueSample:
    return QueueSample(
        queue=view.name,
        at=at,
        longest_wait=int(max((now - c.joined_at for c in view.callers), default=0.0)),
        waiting=len(view.callers),
        logged_in=sum(1 for mv in view.members if mv.state != "unavailable"),
    )


class SlaMonitor:
    def __init__(self, site: Callable[[], LoadedSite], controller, interval_s: float = 5.0, clock: Callable[[], float] | None = None):
        self._site = site
        self.controller = controller
        self.interval_s = interval_s
        self.clock = clock or controller.clock
        self._built_for: LoadedSite | None = None
        self.watch = SlaWatch([])
        self.targets: dict[str, object] = {}
        self._notify: dict[str, list[str]] = {}
        self._sending: set[asyncio.Task] = set()

    def _build(self, loaded: LoadedSite) -> None:
        """(Re)build rules and targets when the site changed; a target whose secret cannot
        be read is left out with an error, the others still work."""
        alerts = loaded.site.alerts
        if self.watch.firing():
            log.warning("sla_alerts_forgotten_on_site_change", recovery_sent=False, firing=self.watch.firing())
        self.watch = SlaWatch([r.sla_rule(loaded.hours) for r in alerts.rules])
        self._notify = {r.rule_name: list(r.notify) for r in alerts.rules}
        self.targets = {}
        for name, target in alerts.targets.items():
            try:
                self.targets[name] = target.channel(name, lambda s, what: resolve_secret(s, what, loaded.base_dir))
            except SecretUnavailable as exc:
                log.error("alert_target_unusable", target=name, error=str(exc))
        self._built_for = loaded

    def active(self) -> dict[tuple[str, str], bool]:
        firing = set(self.watch.firing())
        loaded = self._built_for
        rules = loaded.site.alerts.rules if loaded else []
        return {(r.queue, r.rule_name): (r.queue, r.rule_name) in firing for r in rules}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.tick()

    def tick(self) -> list:
        loaded = self._site()
        if loaded is not self._built_for:
            self._build(loaded)
        if not loaded.site.alerts.rules or not self.controller.link.up:
            return []
        now = self.clock()
        at = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        views = self.controller.queues(now)
        events = []
        for queue in sorted({r.queue for r in loaded.site.alerts.rules}):
            view = views.get(queue)
            if view is None:
                continue
            for event in self.watch.observe(sample_queue(view, at, now)):
                events.append(event)
                targets = [self.targets[n] for n in self._notify.get(event.rule, []) if n in self.targets]
                task = asyncio.get_running_loop().create_task(deliver(event, targets))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        return events
