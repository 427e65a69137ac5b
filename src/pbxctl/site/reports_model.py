"""The `reports:` section of a site file: how the reports count, and which reports are
sent where, when.

    reports:
      short_abandon: 5            # abandons shorter than this (seconds) are left out of the SL
      service_level_target: 80    # percent; the page draws it against each day's SL
      schedule:
        weekly_queues:
          report: queues          # queues | agents | calls
          period: last_week       # yesterday | last_week | last_month
          at: mon 07:00           # daily | mon | mon-fri | sat,sun | 1st (of the month), then HH:MM
          hours: office           # whose timezone `at` and the report use (default: the site's only one)
          interval: day           # hour | day | week | month | total (default day)
          queues: [support]       # default every queue
          format: xlsx            # what e-mails attach: csv | xlsx (webhooks always get the JSON)
          send_to: [oncall_mail, ops_hook]   # alerts.targets (e-mail or webhook)

Cross-checks (known hours, queues, agents and targets) are in pbxctl.site.reports_checks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from pbxctl.books.report_schedule import parse_at
from pbxctl.site.model import Model
from pbxctl.site.values import Ident

def _check_at(text: str) -> str:
    parse_at(text)
    return text


class ScheduledReport(Model):
    report: Literal["queues", "agents", "calls"]
    period: Literal["yesterday", "last_week", "last_month"]
    at: Annotated[str, AfterValidator(_check_at)]
    hours: Ident | None = None
    interval: Literal["hour", "day", "week", "month", "total"] = "day"
    queues: list[Ident] = []
    agents: list[Ident] = []
    format: Literal["csv", "xlsx"] = "csv"
    send_to: Annotated[list[Ident], Field(min_length=1)]


class Reports(Model):
    short_abandon: Annotated[int, Field(ge=0, le=600)] = 5
    service_level_target: Annotated[float, Field(ge=0, le=100)] = 80.0
    schedule: dict[Ident, ScheduledReport] = {}
