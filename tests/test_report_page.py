"""The report page in a real headless Chromium: served by the service's /reports route,
it renders (screenshot in test-artefacts/), logs no console error, and every number it
shows, read back from the DOM, equals the JSON reports of /api/reports for that window."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from books_day import write_books
from chromium_cdp import Chromium, new_page
from pbxctl.books.queue_report import ALL_QUEUES
from pbxctl.service.report_routes import report_routes
from pbxctl.site.load import load_site

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "tests" / "sites" / "books.yaml"
ARTEFACTS = Path(os.environ.get("PBXCTL_TEST_ARTEFACTS", REPO / "test-artefacts"))

READ_PAGE = """(() => {
  const num = (v) => v === '' ? null : Number(v);
  const out = {metrics: {}, hourly: {}, sl: {}, wait: {}, handling: {}, queues: {}, agents: {}};
  document.querySelectorAll('[data-metric]').forEach(e => out.metrics[e.dataset.metric] = num(e.textContent));
  document.querySelectorAll('rect[data-chart=hourly]').forEach(e =>
    out.hourly[e.dataset.bucket + '|' + e.dataset.outcome] = num(e.dataset.value));
  document.querySelectorAll('rect[data-chart=sl]').forEach(e => out.sl[e.dataset.bucket] = num(e.dataset.value));
  document.querySelectorAll('rect[data-chart=wait]').forEach(e =>
    out.wait[e.dataset.bucket + '|' + e.dataset.series] = num(e.dataset.value));
  document.querySelectorAll('rect[data-chart=handling]').forEach(e =>
    out.handling[e.dataset.agent + '|' + e.dataset.series] = num(e.dataset.value));
  document.querySelectorAll('td[data-table]').forEach(e => {
    const t = out[e.dataset.table]; t[e.dataset.row] = t[e.dataset.row] || {};
    t[e.dataset.row][e.dataset.col] = e.dataset.col === 'queue' || e.dataset.col === 'agent' ? e.textContent : num(e.textContent);
  });
  const box = document.getElementById('chart-hourly').getBoundingClientRect();
  out.drawn = {width: box.width, height: box.height, rects: document.querySelectorAll('rect[data-value]').length,
               ready: document.body.dataset.ready};
  return out;
})()"""


async def serve(engine, site):
    app = web.Application()
    app.add_routes(report_routes(lambda: site, engine, lambda: dt.datetime(2026, 11, 10, 18, 0).astimezone()))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    return runner, tcp._server.sockets[0].getsockname()[1]


def test_report_page_in_chromium(tmp_path):
    engine = write_books(f"sqlite:///{tmp_path / 'books.db'}")
    site = load_site(SITE).site

    async def run():
        runner, port = await serve(engine, site)
        base = f"http://127.0.0.1:{port}"
        browser = Chromium()
        try:
            async with aiohttp.ClientSession() as session:
                docs = {}
                for name, path in (("hourly", "queues?interval=hour"), ("daily", "queues?interval=day"),
                                   ("agents", "agents?")):
                    async with session.get(f"{base}/api/reports/{path}&from=2026-11-10") as reply:
                        assert reply.status == 200
                        docs[name] = await reply.json()
                page = await new_page(browser, session)
                await page.open(f"{base}/reports?from=2026-11-10")
                seen = await page.evaluate(READ_PAGE)
                shot = await page.screenshot(ARTEFACTS / "report_page.png")
                errors = list(page.errors)
                await page.close()
            return docs, seen, shot, errors
        finally:
            browser.close()
            await runner.cleanup()

    docs, seen, shot, errors = asyncio.run(run())
    assert errors == []
    assert shot.stat().st_size > 10_000
    assert seen["drawn"]["ready"] == "yes" and seen["drawn"]["width"] > 500 and seen["drawn"]["height"] > 100

    total = next(r for r in docs["daily"]["totals"] if r["queue"] == ALL_QUEUES)
    assert seen["metrics"] == {k: total[k] for k in seen["metrics"]} and len(seen["metrics"]) == 12
    hourly = {}
    for r in docs["hourly"]["rows"]:
        if r["queue"] == ALL_QUEUES:
            for outcome in ("answered", "abandoned", "timed_out", "exit_empty"):
                hourly[f"{r['interval']}|{outcome}"] = r[outcome]
            hourly[f"{r['interval']}|other"] = r["exit_key"] + r["lost"]
    assert seen["hourly"] == hourly
    assert sum(v for k, v in seen["hourly"].items()) == total["offered"]
    assert seen["sl"] == {r["interval"]: r["service_level_pct"] for r in docs["daily"]["rows"]
                          if r["queue"] == ALL_QUEUES and r["service_level_pct"] is not None}
    dist = docs["daily"]["wait_distribution"]
    assert seen["wait"] == {f"{b}|{s}": dist[s][i] for i, b in enumerate(dist["bins"]) for s in ("answered", "unanswered")}
    assert seen["handling"] == {f"{r['agent']}|{s}": r[f"avg_{s}"] for r in docs["agents"]["rows"] if r["handled"]
                                for s in ("talk", "wrapup")}
    for r in docs["daily"]["totals"]:
        assert seen["queues"][r["queue"]] == {k: r[k] for k in seen["queues"][r["queue"]]}
    for r in docs["agents"]["rows"]:
        assert seen["agents"][r["agent"]] == {k: r[k] for k in seen["agents"][r["agent"]]}


def test_report_routes_refuse_bad_requests(tmp_path):
    engine = write_books(f"sqlite:///{tmp_path / 'books.db'}")
    site = load_site(SITE).site

    async def run():
        runner, port = await serve(engine, site)
        try:
            async with aiohttp.ClientSession() as session:
                out = []
                for path in ("/api/reports/queues?from=2026-11-10&to=2026-11-01", "/api/reports/queues?queue=nope",
                             "/api/reports/weather", "/reports?agent=carol"):
                    async with session.get(f"http://127.0.0.1:{port}{path}") as reply:
                        out.append((reply.status, await reply.text()))
                async with session.get(f"http://127.0.0.1:{port}/api/reports/queues?from=2026-11-10&format=csv") as reply:
                    out.append((reply.status, await reply.text()))
                return out
        finally:
            await runner.cleanup()

    after, queue, kind, agent, csv = asyncio.run(run())
    assert after[0] == 400 and "is not before --to" in after[1]
    assert queue[0] == 400 and "unknown queue 'nope'" in queue[1]
    assert kind[0] == 400 and "unknown report 'weather'" in kind[1]
    assert agent[0] == 400 and "unknown agent 'carol'" in agent[1]
    assert csv[0] == 200 and csv[1].startswith("interval,queue,offered")
