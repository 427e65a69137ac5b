"""The reports over HTTP: GET /api/reports/{queues,agents,calls} (JSON, or ?format=csv|xlsx)
and GET /reports, the HTML page with charts. Same query words as the CLI's options:
from, to, interval, queue (repeatable), agent (repeatable), hours, weekdays, time,
number, short_abandon, node. Without `from`, the page shows today so far.

The books are read in a worker thread: a month's report must not stall the AMI link.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.engine import Engine

from pbxctl.books.report_formats import to_csv, to_xlsx
from pbxctl.books.report_request import ReportRequest, build_document, build_page, report_timezone
from pbxctl.books.report_window import ReportError

_CONTENT = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def request_of(kind: str, query, site, now: dt.datetime) -> ReportRequest:
    start = query.get("from")
    if not start:
        start = now.astimezone(ZoneInfo(report_timezone(site, query.get("hours")))).strftime("%Y-%m-%d")
    short = query.get("short_abandon")
    if short is not None and not short.isdigit():
        raise ReportError(f"short_abandon {short!r} is not a number of seconds")
    return ReportRequest(
        kind, start, query.get("to"), query.get("interval", "day"), query.getall("queue", []),
        query.getall("agent", []), query.get("hours"), query.get("weekdays"), query.get("time"),
        query.get("number"), int(short) if short is not None else None, query.get("node"),
    )


def report_routes(site_of: Callable[[], object], engine: Engine,
                  now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()) -> list[web.RouteDef]:
    async def document(request: web.Request) -> web.Response:
        kind, fmt = request.match_info["kind"], request.query.get("format", "json")
        site = site_of()
        try:
            if fmt not in ("json", "csv", "xlsx"):
                raise ReportError(f"format {fmt!r} is not one of json, csv, xlsx (the page is /reports)")
            req = request_of(kind, request.query, site, now())
            doc = await asyncio.to_thread(build_document, engine, site, req)
        except ReportError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if fmt == "json":
            return web.json_response(doc)
        body = to_csv(doc).encode() if fmt == "csv" else to_xlsx(doc)
        return web.Response(body=body, headers={
            "Content-Type": _CONTENT[fmt], "Content-Disposition": f'attachment; filename="{kind}.{fmt}"'})

    async def page(request: web.Request) -> web.Response:
        site = site_of()
        try:
            req = request_of("queues", request.query, site, now())
            html, _docs = await asyncio.to_thread(build_page, engine, site, req, now())
        except ReportError as exc:
            return web.Response(text=f"pbxctl: {exc}\n", status=400, content_type="text/plain")
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    return [web.get("/api/reports/{kind}", document), web.get("/reports", page)]
