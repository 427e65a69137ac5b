"""The service's HTTP side (aiohttp, loopback by default): Prometheus /metrics, the status
document and the agent commands the CLI sends.

Errors come back as JSON {"error": "..."} with a status saying whose problem it is:
400 a request that makes no sense (unknown agent...), 503 the PBX link is down,
502 the PBX refused. It sees the backend only through the Runtime it is given.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pbxctl.domain.agent_membership import AgentCommandError
from pbxctl.service.api_token import token_middleware
from pbxctl.domain.supervision import SupervisionError
from pbxctl.service.runtime import CommandFailed, LinkDown, Runtime
from pbxctl.service.callback_routes import callback_routes
from pbxctl.service.http_body import body_of
from pbxctl.service.report_routes import report_routes
from pbxctl.service.status_view import status_document

ACTIONS = ("login", "logout", "pause", "unpause", "login_toggle", "pause_toggle")


def build_app(runtime: Runtime) -> web.Application:
    controller = runtime.controller

    async def metrics(_request: web.Request) -> web.Response:
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status(_request: web.Request) -> web.Response:
        site = runtime.site().site
        now = runtime.clock()
        doc = status_document(site, controller.queues(now), controller.wanted, runtime.link_document(), now,
                              runtime.agents_by_member(site))
        return web.json_response(doc)

    async def agent(request: web.Request) -> web.Response:
        name, action = request.match_info["agent"], request.match_info["action"]
        if action not in ACTIONS:
            return web.json_response({"error": f"unknown action {action!r} (one of {', '.join(ACTIONS)})"}, status=404)
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"error": "the request body is not JSON"}, status=400)
        queue = body.get("queue") or None
        reason = str(body.get("reason") or "")
        try:
            changes = await controller.agent_command(name, action, queue, reason, source=str(body.get("source") or "api"))
        except AgentCommandError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except LinkDown as exc:
            return web.json_response({"error": str(exc)}, status=503)
        except CommandFailed as exc:
            return web.json_response({"error": str(exc)}, status=502)
        return web.json_response({"agent": name, "action": action, "changes": changes})

    async def supervised(work) -> web.Response:
        """`work(supervision)`'s answer as JSON; its refusals as errors."""
        try:
            return web.json_response(await work(runtime.supervision))
        except SupervisionError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except LinkDown as exc:
            return web.json_response({"error": str(exc)}, status=503)

    async def calls(_request: web.Request) -> web.Response:
        async def listing(sup):
            return {"calls": sup.listing(), "help_requests": sup.help_events[-20:]}

        return await supervised(listing)

    async def barge(request: web.Request) -> web.Response:
        body = await body_of(request)
        target, mode = str(body.get("target") or ""), str(body.get("mode") or "listen")
        if body.get("set_mode"):
            return await supervised(lambda sup: sup.set_mode(target, mode, body.get("from") or None))
        return await supervised(lambda sup: sup.barge(target, mode, str(body.get("from") or "")))

    async def transfer(request: web.Request) -> web.Response:
        body = await body_of(request)
        return await supervised(lambda sup: sup.transfer(
            str(body.get("target") or ""), str(body.get("to") or ""),
            with_return=bool(body.get("with_return")), attended=bool(body.get("attended"))))

    app = web.Application(middlewares=[token_middleware(runtime.api_token)] if runtime.api_token else [])
    app.add_routes(
        [
            web.get("/metrics", metrics),
            web.get("/api/status", status),
            web.post("/api/agents/{agent}/{action}", agent),
            web.get("/api/calls", calls),
            web.post("/api/barge", barge),
            web.post("/api/transfer", transfer),
        ]
    )
    if runtime.books is not None:
        app.add_routes(report_routes(lambda: runtime.site().site, runtime.books))
        app.add_routes(callback_routes(runtime.site, runtime.books))
    return app


async def start_http(runtime: Runtime, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
