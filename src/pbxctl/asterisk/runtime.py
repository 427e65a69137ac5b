"""`pbxctl serve asterisk` wired in one place: the site holder, the database engine, the
AMI link, the controller, supervision, the SLA monitor, the FastAGI IVR service and the
books' queue_log follower, each
given its collaborators through its constructor; the HTTP API and the metrics get the
backend-neutral `service.runtime.Runtime` built from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbxctl.service.lifecycle import ServiceLifecycle

import asyncio
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pbxctl.asterisk.agent_codes import agent_code_handler
from pbxctl.asterisk.callback_codes import callback_code_handler
from pbxctl.asterisk.callback_dialer import CallbackDialer
from pbxctl.asterisk.callback_results import CallbackResults
from pbxctl.asterisk.keep_place_codes import keep_place_handler
from pbxctl.asterisk.placeholders import PlaceholderKeeper
from pbxctl.asterisk.ami_link import AmiEndpoint, AmiLink
from pbxctl.asterisk.controller import QueueController
from pbxctl.ivr.clock import FixedClock
from pbxctl.asterisk.fastagi_service import IvrAgiService, serve_fastagi
from pbxctl.asterisk.member_actions import agent_by_interface
from pbxctl.asterisk.supervision_control import SupervisionControl
from pbxctl.asterisk.supervisor_codes import conference_handler, conference_merge_handler, supervise_handler
from pbxctl.asterisk.link_privileges import log_missing_privileges
from pbxctl.asterisk.wire import CODE_SCRIPT_TIMEOUT_S, SCRIPTS
from pbxctl.books.ingest import LogFollower
from pbxctl.books.service import cdr_follower, follow, queue_log_follower
from pbxctl.books.site_view import node_name
from pbxctl.service.api_token import service_token
from pbxctl.service.callback_desk import keep_fed
from pbxctl.service.http_api import start_http
from pbxctl.service.loop_watch import watch_loop
from pbxctl.service.metrics import register_runtime
from pbxctl.service.runtime import Runtime
from pbxctl.service.sla_monitor import SlaMonitor
from pbxctl.site.holder import SiteHolder
from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import resolve_secret
from pbxctl.storage.callbacks import record_callback
from pbxctl.service.report_scheduler import ReportScheduler
from pbxctl.storage.db import database_url, engine_for


class ListenFailed(Exception):
    """A port the service must listen on is taken or not allowed; the message names it."""


@dataclass(frozen=True)
class AsteriskServices:
    holder: SiteHolder
    controller: QueueController
    supervision: SupervisionControl
    monitor: SlaMonitor
    ivr: IvrAgiService
    books: LogFollower
    cdr: LogFollower
    dialer: CallbackDialer
    placeholders: PlaceholderKeeper
    runtime: Runtime


def build_services(site_file: Path, loaded: LoadedSite, clock: FixedClock | None = None) -> AsteriskServices:
    """Everything `serve asterisk` runs, wired; nothing started yet. Raises
    SecretUnavailable when the AMI secret cannot be read."""
    holder = SiteHolder(site_file, loaded=loaded)
    ast = loaded.site.pbx.asterisk
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    secret = resolve_secret(ast.ami.secret, "pbx.asterisk.ami.secret", loaded.base_dir)
    controller: QueueController  # the link's callbacks reach it once it exists (below)
    results = CallbackResults(holder.get, engine)

    def on_event(message) -> None:
        controller.on_event(message)
        results.on_event(message)

    async def on_ready(ready: AmiLink) -> None:
        await log_missing_privileges(ready, ast.ami.username)
        await controller.on_ready(ready)

    link = AmiLink(
        AmiEndpoint(ast.ami.host, ast.ami.port, ast.ami.username, secret),
        on_event=on_event,
        on_ready=on_ready,
        keepalive_s=ast.ami.keepalive,
        keepalive_timeout_s=ast.ami.keepalive_timeout,
    )
    supervision = SupervisionControl(holder.get, link)
    controller = QueueController(holder.get, engine, link, supervision=supervision)
    monitor = SlaMonitor(holder.get, controller)
    ivr = IvrAgiService(
        holder.get,
        clock=clock,
        record_callback=functools.partial(record_callback, engine, node=node_name(loaded.site), source="ivr"),
        timeout_s=ast.fastagi.timeout_ms / 1000,
        scripts={
            SCRIPTS.agent: (agent_code_handler(holder.get, controller), CODE_SCRIPT_TIMEOUT_S),
            SCRIPTS.supervise: (supervise_handler(holder.get, supervision), CODE_SCRIPT_TIMEOUT_S),
            SCRIPTS.conference: (conference_handler(supervision), CODE_SCRIPT_TIMEOUT_S),
            SCRIPTS.conference_merge: (conference_merge_handler(supervision), CODE_SCRIPT_TIMEOUT_S),
            SCRIPTS.callback: (callback_code_handler(holder.get, engine), CODE_SCRIPT_TIMEOUT_S),
            SCRIPTS.keep_place: (keep_place_handler(holder.get, engine), CODE_SCRIPT_TIMEOUT_S),
        },
    )
    runtime = Runtime(
        site=holder.get,
        clock=controller.clock,
        link=link,
        controller=controller,
        supervision=supervision,
        sla_alerts_active=monitor.active,
        agents_by_member=agent_by_interface,
        books=engine,
        api_token=service_token(loaded),
    )
    books = queue_log_follower(loaded.site, engine, loaded.base_dir, agent_by_interface(loaded.site))
    dialer = CallbackDialer(holder.get, engine, controller, link, books_ready=asyncio.Event())
    cdr = cdr_follower(loaded.site, engine, loaded.base_dir)
    placeholders = PlaceholderKeeper(holder.get, engine, link)
    return AsteriskServices(holder, controller, supervision, monitor, ivr, books, cdr, dialer, placeholders, runtime)


async def run_services(services: AsteriskServices, http_port: int | None = None,
                       announce: Callable[[str], None] = print, lifecycle: "ServiceLifecycle | None" = None) -> None:
    """Listen (FastAGI, HTTP), then run until cancelled; the books are flushed on the way out."""
    loaded = services.holder.get()
    ast = loaded.site.pbx.asterisk
    agi, svc = ast.fastagi, loaded.site.service
    port = http_port or svc.port
    try:
        server = await serve_fastagi(services.ivr, agi.host, agi.port)
    except OSError as exc:
        raise ListenFailed(f"cannot listen on {agi.host}:{agi.port} (pbx.asterisk.fastagi): {exc.strerror or exc}") from None
    try:
        runner = await start_http(services.runtime, svc.host, port)
    except OSError as exc:
        server.close()
        raise ListenFailed(f"cannot listen on {svc.host}:{port} (service): {exc.strerror or exc}") from None
    register_runtime(services.runtime, time.time)
    where = (
        f"FastAGI on {agi.host}:{agi.port}, AMI controller for {ast.ami.host}:{ast.ami.port}, "
        f"HTTP on http://{svc.host}:{port}/metrics and /api"
    )
    announce(f"pbxctl for site {loaded.site.site}: {where}")
    jobs = (server.serve_forever(), services.holder.watch(), services.controller.run(), services.monitor.run(),
            follow(services.books, caught_up=services.dialer.books_ready), follow(services.cdr), ReportScheduler(services.holder.get, services.runtime.books).run(),
            keep_fed(services.holder.get, services.runtime.books), services.dialer.run(), watch_loop(),
            services.placeholders.run())
    try:
        async with server:
            if lifecycle is None:
                await asyncio.gather(*jobs)
            else:  # under systemd: READY=1, watchdog pings, graceful stop on SIGTERM
                lifecycle.ready(f"site {loaded.site.site}: {where}")
                await lifecycle.run(*jobs)
    finally:
        await services.controller.flush()
        await runner.cleanup()
