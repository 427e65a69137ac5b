"""`pbxctl callbacks list|show|take|attempt|close|export`, the same over HTTP
(/api/callbacks), and the metrics, over a database with books in it."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import aiohttp
import pytest
from aiohttp import web
from openpyxl import load_workbook
from prometheus_client import CollectorRegistry, generate_latest
from sqlmodel import Session
from typer.testing import CliRunner

from helpers.site_files import copy_example
from pbxctl.books.tables import BooksCall, BooksQueueStint
from pbxctl.cli.app import app
from pbxctl.service.callback_routes import callback_routes
from pbxctl.service.metrics import CallbackCollector
from pbxctl.site.load import load_site
from pbxctl.storage.db import new_engine

runner = CliRunner()
NODE = "pbx1"


@pytest.fixture
def desk(tmp_path, monkeypatch):
    """The example site (storage.node pbx1) and a database with three abandoned calls in the books."""
    import time

    site = copy_example(tmp_path)
    site.write_text(site.read_text().replace("pbx:\n  backend: asterisk", "storage: {node: pbx1}\npbx:\n  backend: asterisk"))
    url = f"sqlite:///{tmp_path / 'cb.db'}"
    monkeypatch.setenv("PBXCTL_DATABASE_URL", url)
    engine = new_engine(url)
    now = int(time.time())
    with Session(engine) as s:
        for callid, number, ago, wait in (("c1", "91234567", 3000, 40), ("c2", "22334455", 2000, 15),
                                          ("c3", "+4791234567", 1000, 20), ("c4", "82012345", 900, 30)):
            s.add(BooksCall(node=NODE, callid=callid, started_at=now - ago, ended_at=now - ago + wait, caller_number=number))
            s.add(BooksQueueStint(node=NODE, callid=callid, queue="support", entered_at=now - ago,
                                  ended_at=now - ago + wait, outcome="abandoned", wait_seconds=wait))
        s.commit()
    return site, engine


def cli(site, *args) -> tuple[int, str, str]:
    done = runner.invoke(app, ["callbacks", *args, "-s", str(site)])
    return done.exit_code, done.stdout, done.stderr


def test_list_show_take_attempt_close_export(desk, tmp_path):
    site, engine = desk
    code, out, err = cli(site, "list", "--format", "json")
    assert code == 0, err
    docs = json.loads(out)["callbacks"]
    assert [(d["number"], d["times_called"], d["status"]) for d in docs] == [
        ("+4791234567", 2, "open"), ("+4722334455", 1, "open"), ("+4782012345", 1, "open")]
    first = docs[0]["id"]
    code, out, _ = cli(site, "show", str(first))
    assert code == 0 and "times called: 2" in out and "call c1 (pbx1)" in out and "call c3 (pbx1)" in out
    code, out, _ = cli(site, "take", "--agent", "ingrid")
    assert code == 0 and f"callback {first}: +4791234567 (support, called 2x) taken by ingrid" in out
    code, _, err = cli(site, "take", str(first), "--agent", "mina")
    assert code == 1 and "in_progress by ingrid" in err
    code, out, _ = cli(site, "attempt", str(first), "--result", "no_answer", "--agent", "ingrid")
    assert code == 0 and "now open (1 attempts)" in out
    # premium rate: refused when taken, and marked unanswered so it is not offered again
    premium = docs[2]["id"]
    code, _, err = cli(site, "take", str(premium), "--agent", "mina")
    assert code == 1 and "denied pattern +4782XXXXXX" in err
    code, out, _ = cli(site, "close", str(docs[1]["id"]), "--by", "anne", "--why", "wrong number")
    assert code == 0 and "closed by anne: wrong number" in out
    code, out, _ = cli(site, "list", "--status", "unanswered", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["number"], r["last_result"]) for r in rows] == [("+4782012345", "refused")]
    code, out, _ = cli(site, "export", "--format", "csv")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 3
    xlsx = tmp_path / "cb.xlsx"
    code, _, err = cli(site, "export", "--format", "xlsx", "--out", str(xlsx))
    assert code == 0 and "3 callbacks written (xlsx)" in err
    sheet = load_workbook(xlsx).active
    assert [c.value for c in sheet[1]][:4] == ["id", "queue", "number", "status"] and sheet.max_row == 4
    code, out, _ = cli(site, "list")
    assert code == 0 and "+4791234567" in out


@pytest.mark.parametrize("args, message", [
    (("list", "--status", "maybe"), "unknown status 'maybe'"),
    (("list", "--queue", "nope"), "unknown queue 'nope'"),
    (("show", "99"), "no callback 99"),
    (("take", "--agent", "nobody"), "unknown agent 'nobody'"),
    (("take", "--agent", "kari"), "no open callback in kari's queues (sales_east, sales_west)"),
    (("attempt", "1", "--result", "maybe"), "unknown result 'maybe'"),
    (("close", "1", "--by", "anne", "--why", " "), "say why"),
    (("export", "--format", "xlsx"), "give --out FILE.xlsx"),
])
def test_refusals_are_named(desk, args, message):
    code, _, err = cli(desk[0], *args)
    assert code == 1 and message in err


def test_the_same_over_http_and_the_metrics(desk):
    site_file, engine = desk
    loaded = load_site(site_file)
    code, _, _ = cli(site_file, "list")  # fed from the books
    assert code == 0

    async def run():
        app_ = web.Application()
        app_.add_routes(callback_routes(lambda: loaded, engine))
        http = web.AppRunner(app_, access_log=None)
        await http.setup()
        tcp = web.TCPSite(http, "127.0.0.1", 0)
        await tcp.start()
        base = f"http://127.0.0.1:{tcp._server.sockets[0].getsockname()[1]}/api/callbacks"
        out = {}
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(base) as r:
                    out["list"] = (r.status, await r.json())
                first = out["list"][1]["callbacks"][0]["id"]
                async with s.post(f"{base}/take", json={"agent": "mina"}) as r:
                    out["take"] = (r.status, await r.json())
                async with s.post(f"{base}/take", json={"agent": "erik", "id": first}) as r:
                    out["again"] = (r.status, await r.json())
                async with s.post(f"{base}/{first}/attempt", json={"result": "answered", "agent": "mina"}) as r:
                    out["attempt"] = (r.status, await r.json())
                async with s.get(f"{base}/{first}") as r:
                    out["show"] = (r.status, await r.json())
                async with s.post(f"{base}/{first}/close", json={"by": "anne", "why": "done"}) as r:
                    out["close"] = (r.status, await r.json())
                async with s.get(f"{base}?status=all&format=csv") as r:
                    out["csv"] = (r.status, await r.text())
                async with s.get(f"{base}?status=weird") as r:
                    out["bad"] = (r.status, await r.json())
                async with s.get(f"{base}/abc") as r:
                    out["abc"] = r.status
        finally:
            await http.cleanup()
        return out

    out = asyncio.run(run())
    assert out["list"][0] == 200 and len(out["list"][1]["callbacks"]) == 3
    assert out["take"][0] == 200 and out["take"][1]["agent"] == "mina" and out["take"][1]["status"] == "in_progress"
    assert out["again"][0] == 400 and "in_progress by mina" in out["again"][1]["error"]
    assert out["attempt"][1]["status"] == "answered"
    show = out["show"][1]
    assert [a["result"] for a in show["attempt_list"]] == ["answered"] and len(show["calls"]) == 2
    assert out["close"][0] == 400 and "already answered" in out["close"][1]["error"]
    assert out["csv"][0] == 200 and out["csv"][1].count("\n") == 4
    assert out["bad"][0] == 400 and out["abc"] == 404

    registry = CollectorRegistry()
    registry.register(CallbackCollector(lambda: loaded, engine))
    text = generate_latest(registry).decode()
    assert 'pbxctl_callbacks_open{queue="support"} 2.0' in text
    assert 'pbxctl_callbacks_total{outcome="answered",queue="support"} 1.0' in text
