"""The FreeSWITCH controller's own process (gevent, never an asyncio loop in it): the
inbound Event Socket link, the controller, the site watcher, and one socket to the service
process (`pbxctl serve freeswitch`, asyncio), which serves HTTP, metrics and SLA alerts
from what this process sends it (freeswitch/controller_channel.py).

`python -m pbxctl.freeswitch.controller_process SITE --fd N [--log-format F]`; it ends when
the service process closes its end of the pair.
"""

from __future__ import annotations

import argparse
import time

import gevent
import gevent.queue
import gevent.socket
import structlog

from pbxctl.domain.agent_membership import AgentCommandError
from pbxctl.freeswitch.controller import EslController
from pbxctl.freeswitch.controller_channel import (
    AgentAnswer,
    AgentRequest,
    CallsEnded,
    Decoder,
    LinkInfo,
    Snapshot,
    encode,
)
from pbxctl.freeswitch.esl_link import EslEndpoint, EslLink
from pbxctl.freeswitch.live_calls import listing
from pbxctl.freeswitch.site_watcher import watch_site
from pbxctl.service.runtime import CommandFailed, LinkDown
from pbxctl.site.holder import SiteHolder

log = structlog.get_logger("pbxctl.freeswitch.controller")

# Snapshots go out when something changed, at most this often, and at least every
# HEARTBEAT_S (the service takes silence as a frozen controller).
SNAPSHOT_MIN_S = 0.1
HEARTBEAT_S = 1.0
# While a burst is being read the reader greenlet never blocks, so nothing else would run
# (snapshots, agent commands, the keep-alive): every this many events it lets them.
YIELD_EVERY = 500


def yielding(handler, every: int = YIELD_EVERY):
    count = 0

    def on_event(event) -> None:
        nonlocal count
        handler(event)
        count += 1
        if count % every == 0:
            gevent.sleep(0)

    return on_event


class ControllerProcess:
    def __init__(self, controller: EslController, link: EslLink, holder: SiteHolder, sock):
        self.controller = controller
        self.link = link
        self.holder = holder
        self.sock = sock
        self._ended: list = []
        self._requests: gevent.queue.Queue = gevent.queue.Queue()
        controller.on_call_ended(lambda call: self._ended.append(call))

    def snapshot(self) -> Snapshot:
        ctl, state = self.controller, self.link.state
        now = ctl.clock()
        return Snapshot(
            views=ctl.queues(now),
            wanted=dict(ctl.wanted),
            link=LinkInfo(state.connected, state.since, state.reconnects,
                          f"{self.link.endpoint.host}:{self.link.endpoint.port}", ctl.describe_link()),
            resyncs=ctl.resyncs,
            events_seen=ctl.events_seen,
            calls=listing(ctl.state, now),
            at=now,
        )

    def publish(self) -> None:
        last_key, last_sent = None, 0.0
        while True:
            state = self.link.state
            key = (self.controller.events_seen, self.controller.resyncs, state.connected, state.reason,
                   len(self.controller.wanted), tuple(sorted(self.controller.wanted.values(), key=str)))
            now = time.monotonic()
            # taken together, with no switch between them: a snapshot never counts a call
            # whose CallsEnded has not gone out before it
            snapshot = self.snapshot() if key != last_key or now - last_sent >= HEARTBEAT_S else None
            ended, self._ended = self._ended, []
            if ended:
                self.sock.sendall(encode(CallsEnded(ended)))
            if snapshot is not None:
                self.sock.sendall(encode(snapshot))
                last_key, last_sent = key, now
            gevent.sleep(SNAPSHOT_MIN_S)

    def read(self) -> None:
        decoder = Decoder()
        while True:
            data = self.sock.recv(65536)
            if not data:
                log.info("service_process_gone")
                return
            for message in decoder.feed(data):
                if isinstance(message, AgentRequest):
                    self._requests.put(message)

    def answer_requests(self) -> None:
        """One agent command at a time, in the order they came."""
        for request in self._requests:
            self.sock.sendall(encode(self.carry_out(request)))

    def carry_out(self, r: AgentRequest) -> AgentAnswer:
        try:
            return AgentAnswer(r.id, self.controller.agent_command(r.agent, r.action, r.queue, r.reason, r.source))
        except (AgentCommandError, LinkDown, CommandFailed) as exc:
            return AgentAnswer(r.id, error=type(exc).__name__, message=str(exc))
        except Exception as exc:
            log.exception("agent_command_failed", agent=r.agent, action=r.action)
            return AgentAnswer(r.id, error="CommandFailed", message=f"the controller failed: {exc}")

    def flush_forever(self) -> None:
        """Every second: the books' rows out, and a resync when the site changed."""
        while True:
            gevent.sleep(1.0)
            self.controller.flush()
            self.controller.queues()  # notices a re-read site
            if self.controller.resync_wanted and self.link.state.connected:
                try:
                    self.controller.resync(self.link)
                except Exception as exc:  # the link's own loop notices a dead link
                    self.controller.resync_wanted = False
                    log.warning("resync_after_site_change_failed", error=str(exc))

    def run(self) -> None:
        self.controller.load_wanted()
        restored = self.controller.restore_today()
        log.info("books_read", wanted=len(self.controller.wanted), calls_today=restored)
        jobs = [gevent.spawn(f) for f in (self.link.run, self.publish, self.answer_requests, self.flush_forever)]
        jobs.append(gevent.spawn(watch_site, self.holder))
        reader = gevent.spawn(self.read)
        try:
            gevent.joinall([reader, *jobs], raise_error=True, count=1)
        finally:
            self.link.stop()
            self.controller.flush()
            gevent.killall(jobs)


def build(site_file: str, fd: int) -> ControllerProcess:
    from pbxctl.site.load import load_site
    from pbxctl.site.secrets import resolve_secret
    from pbxctl.storage.db import database_url, engine_for

    loaded = load_site(site_file, long_lived=True)
    holder = SiteHolder(site_file, loaded=loaded)
    esl = loaded.site.pbx.freeswitch.esl
    password = resolve_secret(esl.password, "pbx.freeswitch.esl.password", loaded.base_dir)
    engine = engine_for(database_url(loaded.site.site, loaded.site.storage.url))
    controller: EslController  # the link's callbacks reach it once it exists
    link = EslLink(
        EslEndpoint(esl.host, esl.port, password),
        on_event=yielding(lambda event: controller.on_event(event)),
        resync=lambda link: controller.resync(link),
        keepalive_s=esl.keepalive,
        keepalive_timeout_s=esl.keepalive_timeout,
    )
    controller = EslController(holder.get, engine, link)
    sock = gevent.socket.socket(fileno=fd)
    return ControllerProcess(controller, link, holder, sock)


def main(argv: list[str] | None = None) -> None:
    from pbxctl.service.logs import configure_logging

    parser = argparse.ArgumentParser(prog="pbxctl.freeswitch.controller_process")
    parser.add_argument("site")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--log-format", default="text")
    args = parser.parse_args(argv)
    configure_logging(args.log_format)
    try:
        build(args.site, args.fd).run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
