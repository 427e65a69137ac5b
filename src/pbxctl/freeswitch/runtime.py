"""`pbxctl serve freeswitch` wired in one place. gevent and asyncio never share a process, so
it is three:
- this one (asyncio): the site holder, HTTP (/metrics, /api, /reports), the SLA monitor,
  the books (FreeSWITCH's CDR file followed, freeswitch/cdr_follower.py)
  and the report scheduler, given a backend-neutral `service.runtime.Runtime` whose link and
  controller are kept from the controller process (freeswitch/remote_controller.py);
- the controller process (gevent, freeswitch/controller_process.py): the inbound Event
  Socket link and the controller, talking to this one over a socket pair;
- the IVR process (gevent, freeswitch/ivr_process.py): the outbound socket the generated
  dialplan connects to (`pbx.freeswitch.outbound.processes` of them on one port).
The main process pings systemd's watchdog only while every child answers (an IVR process
beats down its own pipe, the controller sends snapshots: freeswitch/heartbeat.py).
Both children are ended with this process (SIGTERM from it, and the kernel's parent-death
signal if it is killed); if either exits, this one stops too, so systemd restarts the set.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import structlog

from pbxctl.books.site_view import node_name
from pbxctl.books.store import StoreFailed
from pbxctl.freeswitch.cdr_follower import CdrFollower, cdr_follower
from pbxctl.freeswitch.heartbeat import Heard, all_alive, close_all
from pbxctl.freeswitch.member_actions import agents_by_member
from pbxctl.freeswitch.remote_controller import RemoteController, RemoteLink, RemoteSupervision
from pbxctl.render.freeswitch import agent_wrapup
from pbxctl.service.api_token import service_token
from pbxctl.service.http_api import start_http
from pbxctl.service.metrics import register_runtime
from pbxctl.service.report_scheduler import ReportScheduler
from pbxctl.service.runtime import Runtime
from pbxctl.service.sla_monitor import SlaMonitor
from pbxctl.site.holder import SiteHolder
from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import resolve_secret
from pbxctl.storage.db import database_url, engine_for

if TYPE_CHECKING:
    from pbxctl.service.lifecycle import ServiceLifecycle

log = structlog.get_logger("pbxctl.freeswitch")

PR_SET_PDEATHSIG = 1


class ListenFailed(Exception):
    """A port the service must listen on is taken or not allowed; the message names it."""


class ChildExited(Exception):
    """One of the service's processes ended; the message says which and how."""


@dataclass(frozen=True)
class FreeswitchServices:
    site_file: Path
    holder: SiteHolder
    controller: RemoteController
    supervision: RemoteSupervision
    monitor: SlaMonitor
    runtime: Runtime
    books: CdrFollower
    clock: str | None  # --clock for the IVR process
    log_format: str


def build_services(site_file: Path, loaded: LoadedSite, clock: str | None = None,
                   log_format: str = "text") -> FreeswitchServices:
    """Everything `serve freeswitch` runs, wired; nothing started yet. Raises
    SecretUnavailable when the ESL password cannot be read (the controller process reads it
    too: this says so before anything starts)."""
    holder = SiteHolder(site_file, loaded=loaded)
    esl = loaded.site.pbx.freeswitch.esl
    resolve_secret(esl.password, "pbx.freeswitch.esl.password", loaded.base_dir)
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    link = RemoteLink(f"{esl.host}:{esl.port}")
    controller = RemoteController(link)
    supervision = RemoteSupervision(controller)
    monitor = SlaMonitor(holder.get, controller)
    runtime = Runtime(
        site=holder.get,
        clock=controller.clock,
        link=link,
        controller=controller,
        supervision=supervision,
        sla_alerts_active=monitor.active,
        agents_by_member=agents_by_member,
        books=engine,
        api_token=service_token(loaded),
    )
    books = cdr_follower(loaded.site, engine, loaded.base_dir, node_name(loaded.site),
                         lambda agent: agent_wrapup(holder.get().site, agent) if agent in holder.get().site.agents else None)
    return FreeswitchServices(site_file, holder, controller, supervision, monitor, runtime, books, clock, log_format)


async def follow_cdr(follower: CdrFollower, engine, interval: float = 1.0) -> None:
    """The books from FreeSWITCH's CDR, every `interval` s, in a thread (blocking I/O)."""
    await asyncio.to_thread(follower.start, engine)
    log.info("books_following", path=str(follower.path), node=follower.node)
    while True:
        try:
            await asyncio.to_thread(follower.poll)
        except StoreFailed as exc:
            log.error("books_batch_not_stored", error=str(exc), path=str(follower.path))
            await asyncio.to_thread(follower.start, engine)  # back to the last stored checkpoint
        except OSError as exc:
            log.warning("books_cdr_unreadable", error=str(exc), path=str(follower.path))
        await asyncio.sleep(interval)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


async def _child(module: str, *args: str, pass_fds: tuple[int, ...] = ()) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, pass_fds=pass_fds, preexec_fn=_die_with_parent,
    )


async def _exited(proc: asyncio.subprocess.Process, what: str) -> None:
    code = await proc.wait()
    raise ChildExited(f"the {what} process exited (code {code})")


async def run_services(services: FreeswitchServices, http_port: int | None = None,
                       announce: Callable[[str], None] = print, lifecycle: "ServiceLifecycle | None" = None) -> None:
    """Start both children, listen (HTTP), then run until cancelled or a child ends."""
    loaded = services.holder.get()
    fs, svc = loaded.site.pbx.freeswitch, loaded.site.service
    port = http_port or svc.port
    site = str(services.site_file)
    ours, theirs = socket.socketpair()
    children: list[asyncio.subprocess.Process] = []
    heard = Heard()
    beat_fds: list[int] = []
    runner = None
    try:
        ivr_args = [site, "--log-format", services.log_format, "--api", f"{svc.host}:{port}"]
        ivr_args += ["--clock", services.clock] if services.clock else []
        ivrs = []
        for _ in range(fs.outbound.processes):
            read_fd, write_fd = os.pipe()
            beat_fds.append(read_fd)
            try:
                ivrs.append(await _child("pbxctl.freeswitch.ivr_process", *ivr_args, "--heartbeat-fd", str(write_fd),
                                         pass_fds=(write_fd,)))
            finally:
                os.close(write_fd)
            heard.watch(asyncio.get_running_loop(), read_fd)
        controller = await _child("pbxctl.freeswitch.controller_process", site, "--fd", str(theirs.fileno()),
                                  "--log-format", services.log_format, pass_fds=(theirs.fileno(),))
        children += [*ivrs, controller]
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            runner = await start_http(services.runtime, svc.host, port)
        except OSError as exc:
            raise ListenFailed(f"cannot listen on {svc.host}:{port} (service): {exc.strerror or exc}") from None
        register_runtime(services.runtime, time.time)
        where = (
            f"outbound socket on {fs.outbound.host}:{fs.outbound.port}, ESL controller for {fs.esl.host}:{fs.esl.port}, "
            f"HTTP on http://{svc.host}:{port}/metrics and /api"
        )
        announce(f"pbxctl for site {loaded.site.site}: {where}")
        jobs = (services.controller.run(reader, writer), services.holder.watch(), services.monitor.run(),
                ReportScheduler(services.holder.get, services.runtime.books).run(),
                follow_cdr(services.books, services.runtime.books),
                *(_exited(proc, "IVR") for proc in ivrs), _exited(controller, "controller"))
        if lifecycle is None:
            await asyncio.gather(*jobs)
        else:
            lifecycle.ready(f"site {loaded.site.site}: {where}")
            await lifecycle.run(*jobs, healthy=all_alive(heard, lambda: services.controller.link.fresh))
    finally:
        ours.close()
        loop = asyncio.get_running_loop()
        for fd in beat_fds:
            loop.remove_reader(fd)
        close_all(beat_fds)
        for proc in children:
            if proc.returncode is None:
                proc.terminate()
        for proc in children:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if runner is not None:
            await runner.cleanup()
