"""One report request (from the CLI, the HTTP API or the schedule) checked against the
site and turned into its document. The only place the reports meet the site model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from pbxctl.books.agent_report import agent_report
from pbxctl.books.call_log import CallSearch, call_log
from pbxctl.books.callback_tally import tally_callbacks, with_callbacks
from pbxctl.books.queue_report import queue_report
from pbxctl.books.queue_tally import DEFAULT_SHORT_ABANDON
from pbxctl.books.report_page import report_page
from pbxctl.books.report_source import load_books, load_spans, tally_books
from pbxctl.books.report_window import ReportError, ReportWindow, make_window
from pbxctl.books.site_view import static_members

KINDS = ("queues", "agents", "calls")
FORMATS = ("table", "csv", "xlsx", "json", "html")
DEFAULT_TARGET_PCT = 80.0


@dataclass
class ReportRequest:
    kind: str
    start: str
    end: str | None = None
    interval: str = "day"
    queues: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    hours: str | None = None
    weekdays: str | None = None
    time_of_day: str | None = None
    number: str | None = None
    short_abandon: int | None = None
    node: str | None = None


def _unknown(what: str, names: list[str], known) -> None:
    bad = [n for n in names if n not in known]
    if bad:
        listing = ", ".join(sorted(known)) or "none"
        raise ReportError(f"unknown {what} {', '.join(repr(b) for b in bad)} (known: {listing})")


def report_timezone(site, hours: str | None) -> str:
    """The timezone of the named hours set; with no name, the site's only hours set (UTC
    when it has none)."""
    if hours is not None:
        if hours not in site.hours:
            _unknown("hours set", [hours], site.hours)
        return site.hours[hours].timezone
    zones = sorted({h.timezone for h in site.hours.values()})
    if len(zones) > 1:
        raise ReportError(f"the site's hours sets have different timezones ({', '.join(zones)}): say which with --hours")
    return zones[0] if zones else "UTC"


@dataclass(frozen=True)
class Checked:
    window: ReportWindow
    queues: list[str]
    agents: list[str]
    service_levels: dict[str, int]
    short_abandon: int
    target_pct: float


def check_request(site, req: ReportRequest) -> Checked:
    if req.kind not in KINDS:
        raise ReportError(f"unknown report {req.kind!r} (one of {', '.join(KINDS)})")
    _unknown("queue", req.queues, site.queues)
    _unknown("agent", req.agents, site.agents)
    window = make_window(req.start, req.end, report_timezone(site, req.hours), req.interval, req.weekdays,
                         req.time_of_day)
    settings = getattr(site, "reports", None)
    short = req.short_abandon if req.short_abandon is not None else (
        settings.short_abandon if settings is not None else DEFAULT_SHORT_ABANDON)
    if short < 0:
        raise ReportError(f"--short-abandon {short}: give seconds, 0 or more")
    return Checked(
        window,
        list(req.queues) or sorted(site.queues),
        list(req.agents) or sorted(site.agents),
        {name: q.service_level for name, q in site.queues.items()},
        short,
        settings.service_level_target if settings is not None else DEFAULT_TARGET_PCT,
    )


def with_window(checked: Checked, window: ReportWindow) -> Checked:
    return Checked(window, checked.queues, checked.agents, checked.service_levels, checked.short_abandon,
                   checked.target_pct)


def queues_document(engine: Engine, c: Checked, node: str | None = None) -> dict:
    tallies = tally_books(engine, c.window, c.queues, c.service_levels, c.short_abandon, node)
    doc = queue_report(tallies, c.window, c.queues, c.service_levels, c.short_abandon, c.target_pct)
    return with_callbacks(doc, tally_callbacks(engine, c.window, c.queues, node), c.window)


def agents_document(engine: Engine, c: Checked, queue_filter: bool, node: str | None = None,
                    static: dict[str, list[str]] | None = None) -> dict:
    """`static`: the site's static members (agent -> queues), logged in without ADDMEMBER."""
    books = load_books(engine, c.window, node)
    spans = load_spans(engine, c.window, node, static)
    return agent_report(c.agents, c.window, spans, books.rings, books.legs, books.events,
                        c.queues if queue_filter else None)


def build_document(engine: Engine, site, req: ReportRequest) -> dict:
    c = check_request(site, req)
    if req.kind == "queues":
        return queues_document(engine, c, req.node)
    if req.kind == "agents":
        return agents_document(engine, c, bool(req.queues), req.node, static_members(site))
    search = CallSearch(req.number, req.agents[0] if req.agents else None, req.queues[0] if req.queues else None)
    if len(req.agents) > 1 or len(req.queues) > 1:
        raise ReportError("the call log searches one --agent and one --queue at a time")
    return call_log(load_books(engine, c.window, req.node), c.window, search)


def build_page(engine: Engine, site, req: ReportRequest, now: dt.datetime) -> tuple[str, dict]:
    """The report page and the documents drawn in it ({"hourly", "daily", "agents"})."""
    c = check_request(site, req)
    w = c.window
    hourly = queues_document(engine, with_window(c, ReportWindow(w.start, w.end, w.tz, "hour", w.weekdays,
                                                                 w.time_of_day)), req.node)
    daily = queues_document(engine, with_window(c, ReportWindow(w.start, w.end, w.tz, "day", w.weekdays,
                                                                w.time_of_day)), req.node)
    agents = agents_document(engine, c, bool(req.queues), req.node, static_members(site))
    docs = {"hourly": hourly, "daily": daily, "agents": agents}
    return report_page(site.site, hourly, daily, agents, now.isoformat(timespec="seconds")), docs
