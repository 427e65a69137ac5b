"""The callback list over HTTP, the same operations as `pbxctl callbacks`:

    GET  /api/callbacks?queue=Q&status=S&format=json|csv|xlsx   (queue, status repeatable)
    GET  /api/callbacks/{id}                                    (with attempts and linked calls)
    POST /api/callbacks/take      {"agent": A, "id": N}         (no id: the next open one of A's queues)
    POST /api/callbacks/{id}/attempt {"result": R, "agent": A}
    POST /api/callbacks/{id}/close   {"by": WHO, "why": TEXT}

A refused change (unknown id, a callback someone else holds, a number that may not be
dialled) is 400 with {"error": ...}. The database work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web
from sqlalchemy.engine import Engine

from pbxctl.domain.callbacks import CallbackError
from pbxctl.service import callback_desk as desk
from pbxctl.service.callback_formats import to_csv, to_xlsx
from pbxctl.service.http_body import body_of
from pbxctl.site.load import LoadedSite

_CONTENT = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def callback_routes(site: Callable[[], LoadedSite], engine: Engine) -> list[web.RouteDef]:
    async def answer(work) -> web.Response:
        try:
            return web.json_response(await asyncio.to_thread(work))
        except CallbackError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    def entry_id(request: web.Request) -> int:
        text = request.match_info["id"]
        if not text.isdigit():
            raise web.HTTPNotFound(text=f'{{"error": "no callback {text}"}}', content_type="application/json")
        return int(text)

    async def listing(request: web.Request) -> web.Response:
        fmt = request.query.get("format", "json")
        if fmt not in ("json", "csv", "xlsx"):
            return web.json_response({"error": f"format {fmt!r} is not one of json, csv, xlsx"}, status=400)
        loaded = site()
        try:
            entries = await asyncio.to_thread(desk.listing, loaded, engine, request.query.getall("queue", []),
                                              request.query.getall("status", []))
        except CallbackError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        docs = [desk.entry_document(e) for e in entries]
        if fmt == "json":
            return web.json_response({"callbacks": docs})
        body = to_csv(docs).encode() if fmt == "csv" else to_xlsx(docs)
        return web.Response(body=body, headers={"Content-Type": _CONTENT[fmt],
                                                "Content-Disposition": f'attachment; filename="callbacks.{fmt}"'})

    async def show(request: web.Request) -> web.Response:
        number = entry_id(request)
        return await answer(lambda: desk.entry_document(desk.entry_or_fail(engine, number), engine))

    async def take(request: web.Request) -> web.Response:
        body = await body_of(request)
        wanted = body.get("id")
        if wanted is not None and not isinstance(wanted, int):
            return web.json_response({"error": "id must be a number"}, status=400)
        return await answer(lambda: desk.entry_document(desk.take_entry(site(), engine, wanted, str(body.get("agent") or ""))))

    async def attempt(request: web.Request) -> web.Response:
        number, body = entry_id(request), await body_of(request)
        return await answer(lambda: desk.entry_document(desk.attempt_entry(
            site(), engine, number, str(body.get("result") or ""), body.get("agent") or None)))

    async def close(request: web.Request) -> web.Response:
        number, body = entry_id(request), await body_of(request)
        return await answer(lambda: desk.entry_document(desk.close_entry(
            site(), engine, number, str(body.get("by") or "api"), str(body.get("why") or ""))))

    return [
        web.get("/api/callbacks", listing),
        web.post("/api/callbacks/take", take),
        web.get("/api/callbacks/{id}", show),
        web.post("/api/callbacks/{id}/attempt", attempt),
        web.post("/api/callbacks/{id}/close", close),
    ]
