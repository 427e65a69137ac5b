"""The scheduled reports of `reports.schedule`, sent from inside the service.

Every `every` seconds the scheduler looks at the site as it is now (so an edited schedule
takes effect without a restart). A job seen for the first time is only scheduled; when
its time comes, the report for its period (yesterday, last week, last month, in the
job's timezone) is built from the books and sent: e-mail targets get the CSV/XLSX
attached, webhook targets the JSON. A run missed while the service was down (or found
more than an hour late) is not sent later (the next one is); `pbxctl report` makes any
period by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.engine import Engine

from pbxctl.alerts.delivery import DeliveryResult
from pbxctl.alerts.report_delivery import deliver_report
from pbxctl.books.report_formats import to_csv, to_xlsx
from pbxctl.books.report_request import ReportRequest, build_document, report_timezone
from pbxctl.books.report_schedule import next_run
from pbxctl.books.report_window import ReportError, period_window
from pbxctl.site.secrets import SecretUnavailable, resolve_secret

log = structlog.get_logger("pbxctl.reports")
# A run found this late (the service was stopped or stalled) is skipped, not sent late.
MISSED_AFTER = dt.timedelta(hours=1)


def summary(doc: dict) -> str:
    w = doc["window"]
    lines = [f"{doc['report']} report, {w['from']} to {w['to']} ({w['timezone']})", ""]
    if doc["report"] == "queues":
        for r in doc["totals"]:
            lines.append(f"{r['queue']}: offered {r['offered']}, answered {r['answered']}, abandoned {r['abandoned']}, "
                         f"service level {r['service_level_pct'] if r['service_level_pct'] is not None else '-'}%")
    elif doc["report"] == "agents":
        for r in doc["rows"]:
            lines.append(f"{r['agent']}: answered {r['answered']} of {r['rung']} rung, avg handling {r['avg_handling']} s")
    else:
        lines.append(f"{len(doc['calls'])} calls")
    return "\n".join(lines) + "\n\n-- \nsent by pbxctl\n"


class ReportScheduler:
    def __init__(self, site_of: Callable[[], object], engine: Engine,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> None:
        self.site_of, self.engine, self.clock = site_of, engine, clock
        self._due: dict[str, tuple[object, dt.datetime]] = {}

    def next_due(self, name: str) -> dt.datetime | None:
        entry = self._due.get(name)
        return entry[1] if entry else None

    async def run_due(self, now: dt.datetime) -> dict[str, list[DeliveryResult]]:
        loaded = self.site_of()
        site = loaded.site
        sent: dict[str, list[DeliveryResult]] = {}
        for name, job in site.reports.schedule.items():
            tz = report_timezone(site, job.hours)
            known = self._due.get(name)
            if known is None or known[0] != job:
                self._due[name] = (job, next_run(job.at, tz, now))
                continue
            if now < known[1]:
                continue
            self._due[name] = (job, next_run(job.at, tz, now))
            if now - known[1] > MISSED_AFTER:
                log.warning("report_missed", job=name, due=known[1].isoformat())
                continue
            sent[name] = await self.send(loaded, name, job, known[1])
        for gone in set(self._due) - set(site.reports.schedule):
            del self._due[gone]
        return sent

    async def send(self, loaded, name: str, job, due: dt.datetime) -> list[DeliveryResult]:
        site = loaded.site
        tz = report_timezone(site, job.hours)
        window = period_window(job.period, due.astimezone(ZoneInfo(tz)).date(), tz, job.interval)
        last_day = (window.end - dt.timedelta(days=1)).date()
        req = ReportRequest(job.report, window.start.date().isoformat(), last_day.isoformat(), job.interval,
                            list(job.queues), list(job.agents), job.hours)
        try:
            doc = await asyncio.to_thread(build_document, self.engine, site, req)
        except ReportError as exc:
            log.warning("report_failed", job=name, error=str(exc))
            return []
        data = to_csv(doc).encode() if job.format == "csv" else to_xlsx(doc)
        filename = f"{site.site}-{job.report}-{req.start}-{req.end}.{job.format}"
        subject = f"[pbxctl] {site.site}: {job.report} report {req.start} to {req.end}"
        targets = []
        for target_name in job.send_to:
            try:
                targets.append(site.alerts.targets[target_name].channel(
                    target_name, lambda s, what: resolve_secret(s, what, loaded.base_dir)))
            except SecretUnavailable as exc:
                log.warning("report_delivery_failed", job=name, target=target_name, error=str(exc))
        log.info("report_due", job=name, report=job.report, start=req.start, end=req.end,
                 targets=[t.label() for t in targets])
        return await deliver_report(name, doc, (filename, data, job.format), subject, summary(doc), targets, due)

    async def run(self, every: float = 20.0) -> None:
        while True:
            try:
                await self.run_due(self.clock())
            except Exception:  # a broken job must not stop the others, nor the service
                log.exception("report_scheduler_failed")
            await asyncio.sleep(every)
