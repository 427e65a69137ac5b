"""Cross-checks for `reports.schedule`: the hours set, queues, agents and targets it names."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbxctl.site.checks import Checker


def check_reports(checker: "Checker") -> None:
    site = checker.site
    targets = site.alerts.targets
    zones = sorted({h.timezone for h in site.hours.values()})
    for name, job in site.reports.schedule.items():
        base = ("reports", "schedule", name)
        if job.hours is not None and job.hours not in site.hours:
            checker.error((*base, "hours"), f"unknown hours {job.hours!r}{checker._known('hours')}")
        if job.hours is None and len(zones) > 1:
            checker.error((*base, "hours"), f"the site's hours sets have different timezones ({', '.join(zones)}): "
                                            "say whose with 'hours'")
        for i, queue in enumerate(job.queues):
            if queue not in site.queues:
                checker.error((*base, "queues", i), f"unknown queue {queue!r}{checker._known('queues')}")
        for i, agent in enumerate(job.agents):
            if agent not in site.agents:
                checker.error((*base, "agents", i), f"unknown agent {agent!r}{checker._known('agents')}")
        for i, target in enumerate(job.send_to):
            if target not in targets:
                known = f" (known: {', '.join(sorted(targets))})" if targets else " (no alerts.targets are defined)"
                checker.error((*base, "send_to", i), f"unknown alert target {target!r}{known}")
            elif targets[target].command is not None:
                checker.error((*base, "send_to", i), f"target {target!r} is a command; reports go to e-mail "
                                                     "(attached) or webhook (JSON) targets")
