"""`reports:` in the site file: validated with FILE:LINE messages; the service's scheduler
sends each report when due, by e-mail (CSV/XLSX attached, through a real local SMTP
conversation with aiosmtpd) and by webhook (JSON, to a local HTTP server)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import io
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from books_day import write_books
from pbxctl.books.report_request import ReportRequest, build_document
from pbxctl.books.report_schedule import next_run
from pbxctl.service.report_scheduler import ReportScheduler
from pbxctl.site.load import load_site
from test_alert_delivery import hook_server, smtp_sink  # noqa: F401  (fixtures)

PBXCTL = Path(sys.executable).with_name("pbxctl")
SITE = Path(__file__).parent / "sites" / "books.yaml"
OSLO = ZoneInfo("Europe/Oslo")


def oslo(day: int, hhmm: str, month: int = 11) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(2026, month, day, h, m, tzinfo=OSLO)


def test_next_run_in_the_sites_timezone():
    tuesday = oslo(10, "12:00")
    assert next_run("mon 07:00", "Europe/Oslo", tuesday) == oslo(16, "07:00")
    assert next_run("daily 07:00", "Europe/Oslo", tuesday) == oslo(11, "07:00")
    assert next_run("mon-fri 12:00", "Europe/Oslo", tuesday) == oslo(11, "12:00")  # strictly after
    assert next_run("1st 06:30", "Europe/Oslo", tuesday) == oslo(1, "06:30", month=12)
    assert next_run("sat,sun 09:00", "Europe/Oslo", tuesday) == oslo(14, "09:00")
    # 02:30 does not exist on 2027-03-28 in Oslo: it runs at 03:30 summer time
    spring = next_run("sun 02:30", "Europe/Oslo", dt.datetime(2027, 3, 27, 12, tzinfo=OSLO))
    assert spring.astimezone(dt.timezone.utc) == dt.datetime(2027, 3, 28, 1, 30, tzinfo=dt.timezone.utc)


def site_with(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "books.yaml"
    path.write_text(SITE.read_text() + extra)
    return path


SCHEDULE = """
alerts:
  targets:
    lead_mail: {{email: {{to: [lead@example.com], host: 127.0.0.1, port: {smtp}, sender: pbxctl@example.com}}, timeout: 5}}
    ops_hook: {{webhook: {{url: "{hook}"}}, timeout: 5}}
    sms: {{command: [/bin/true]}}
reports:
  short_abandon: 5
  service_level_target: 85
  schedule:
    daily_queues:
      report: queues
      period: yesterday
      at: daily 07:00
      hours: office
      format: csv
      send_to: [lead_mail, ops_hook]
    weekly_agents:
      report: agents
      period: last_week
      at: mon 07:00
      format: xlsx
      send_to: [lead_mail]
"""


def test_schedule_validates_with_file_and_line(tmp_path):
    good = site_with(tmp_path, SCHEDULE.format(smtp=2525, hook="http://127.0.0.1:1/hook"))
    done = subprocess.run([str(PBXCTL), "validate", str(good)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shape = good_text = SCHEDULE.format(smtp=2525, hook="http://127.0.0.1:1/hook")
    shape = shape.replace("at: mon 07:00", "at: monday 7am").replace("period: last_week", "period: last_fortnight")
    text = validate(site_with(tmp_path, shape))
    at, period = line_of(tmp_path, "at: monday 7am"), line_of(tmp_path, "period: last_fortnight")
    assert f"books.yaml:{at} reports.schedule.weekly_agents.at: " in text and "is not a time like 'mon 07:00'" in text
    assert f"books.yaml:{period} reports.schedule.weekly_agents.period: " in text
    refs = good_text.replace("send_to: [lead_mail, ops_hook]", "send_to: [lead_mail, pager, sms]")
    refs = refs.replace("hours: office", "hours: night").replace("[lead_mail]\n", "[lead_mail]\n      queues: [billing]\n")
    text = validate(site_with(tmp_path, refs))
    hours, send_to = line_of(tmp_path, "hours: night"), line_of(tmp_path, "pager, sms")
    assert f"books.yaml:{hours} reports.schedule.daily_queues.hours: unknown hours 'night' (known: office)" in text
    assert (f"books.yaml:{send_to} reports.schedule.daily_queues.send_to[1]: unknown alert target 'pager' "
            "(known: lead_mail, ops_hook, sms)") in text
    assert f"books.yaml:{send_to} reports.schedule.daily_queues.send_to[2]: target 'sms' is a command" in text
    assert "reports.schedule.weekly_agents.queues[0]: unknown queue 'billing' (known: sales, support)" in text


def line_of(tmp_path: Path, needle: str) -> int:
    lines = (tmp_path / "books.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def validate(site: Path) -> str:
    done = subprocess.run([str(PBXCTL), "validate", str(site)], capture_output=True, text=True)
    assert done.returncode == 1, done.stdout
    return done.stderr


def test_scheduler_sends_when_due(tmp_path, smtp_sink, hook_server):
    hook = hook_server()
    site_file = site_with(tmp_path, SCHEDULE.format(smtp=smtp_sink.port, hook=hook.url))
    engine = write_books(f"sqlite:///{tmp_path / 'books.db'}")
    loaded = load_site(site_file)
    scheduler = ReportScheduler(lambda: loaded, engine)

    async def run():
        first = await scheduler.run_due(oslo(11, "06:59"))            # first look: only scheduled
        early = await scheduler.run_due(oslo(11, "06:59"))
        due = await scheduler.run_due(oslo(11, "07:00"))
        again = await scheduler.run_due(oslo(11, "07:01"))             # sent once, next is tomorrow
        assert scheduler.next_due("daily_queues") == oslo(12, "07:00")
        # Monday: the weekly job is due; the daily one was due on the 12th, days ago: skipped
        monday = await scheduler.run_due(oslo(16, "07:00"))
        return first, early, due, again, monday

    first, early, due, again, monday = asyncio.run(asyncio.wait_for(run(), 60))
    assert first == {} and early == {} and again == {}
    assert [r.ok for r in due["daily_queues"]] == [True, True], due
    assert set(monday) == {"weekly_agents"} and all(r.ok for r in monday["weekly_agents"])
    assert scheduler.next_due("daily_queues") == oslo(17, "07:00")

    expected = build_document(engine, loaded.site, ReportRequest("queues", "2026-11-10", "2026-11-10", hours="office"))
    msg = email.message_from_bytes(smtp_sink.envelopes[0].original_content, policy=email.policy.default)
    assert msg["Subject"] == "[pbxctl] books_lab: queues report 2026-11-10 to 2026-11-10"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "books_lab-queues-2026-11-10-2026-11-10.csv"
    csv_lines = attachment.get_content().splitlines()
    header = csv_lines[0].split(",")
    support = next(line.split(",") for line in csv_lines if line.startswith("total,support,"))
    assert int(support[header.index("offered")]) == next(r for r in expected["totals"] if r["queue"] == "support")["offered"]
    assert "support: offered 6, answered 2" in msg.get_body(("plain",)).get_content()

    path, headers, body = hook.requests[0]
    sent = json.loads(body)
    assert sent["job"] == "daily_queues" and sent["report"] == expected
    assert sent["report"]["service_level_target_pct"] == 85

    weekly = email.message_from_bytes(smtp_sink.envelopes[-1].original_content, policy=email.policy.default)
    [xlsx] = list(weekly.iter_attachments())
    assert xlsx.get_filename() == "books_lab-agents-2026-11-09-2026-11-15.xlsx"
    rows = list(load_workbook(io.BytesIO(xlsx.get_content()))["agents"].iter_rows(values_only=True))
    alice = next(r for r in rows if r[0] == "alice")
    assert alice[rows[0].index("answered")] == 2
