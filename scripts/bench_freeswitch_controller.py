#!/usr/bin/env python3
"""Benchmark: a recorded Event Socket stream through pbxctl's FreeSWITCH controller.

The stream: the recorded mod_callcenter calls of tests/fixtures/esl/ (answered, abandoned,
timed out, no agent, agent not answering), renamed into conf/example-freeswitch.yaml's
`support` queue and its agents with fresh uuids per call (tests/esl_double/queue_calls.py),
framed as FreeSWITCH frames plain events, repeated to at least --events events, then an
end marker event.

Full: a local server (threads, this process) greets, accepts `auth`, the subscription and
the resync's `api` commands (answered from the double's mod_callcenter model configured
from the site), then writes the stream. The controller runs as in `serve freeswitch`'s
controller process (its own gevent process): EslLink (greenswitch session with pbxctl's
framing, greenswitch's reader and processor greenlets) -> EslController.on_event ->
QueueState, the status follower and the ended calls; a snapshot (views, wanted, the live
calls; pickled, as it goes to the service process) every 0.1 s. Measured from the first
event to the end marker.

Bare, in the same run: greenswitch 0.0.19's own `receive_events` over the same bytes from
memory (its readline framing and ESLEvent parse), no socket, no handlers. Full and bare
alternate, --rounds each; medians compared.

    .venv/bin/python scripts/bench_freeswitch_controller.py [--events 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SITE = REPO / "conf" / "example-freeswitch.yaml"
KINDS = ("answered", "abandoned", "timed_out", "no_agent", "agent_no_answer")
AGENTS = {"agent1001": "ingrid", "agent1002": "mina", "agent1003": "erik"}
END = "pbxctl::bench_end"


def build_stream(events_wanted: int) -> tuple[bytes, int, int]:
    from esl_double.queue_calls import QueueCall
    from pbxctl.freeswitch.esl_protocol import Event, event_frame

    chunks, n, i = [], 0, 0
    while n < events_wanted:
        call = QueueCall(KINDS[i % len(KINDS)], "support@oslo", f"+47220{i:05d}", AGENTS)
        for event in call.events():
            chunks.append(event_frame(event, "plain").encode())
            n += 1
        i += 1
    end = Event([("Event-Name", "CUSTOM"), ("Event-Subclass", END)])
    chunks.append(event_frame(end, "plain").encode())
    return b"".join(chunks), n, i


def callcenter_api(tmp: Path):
    """The double's mod_callcenter, configured by `pbxctl apply` from the example site."""
    from esl_double.callcenter import Callcenter
    from esl_double.server import InboundServer
    from pbxctl.apply.freeswitch_apply import apply_freeswitch
    from pbxctl.freeswitch.esl_client import EslClient
    from pbxctl.site.load import load_site

    conf = tmp / "freeswitch"
    shutil.copytree(REPO / "tests" / "fixtures" / "freeswitch_conf", conf)
    model = Callcenter(conf)
    model.api("reloadxml")
    server = InboundServer("ClueCon", model.api)
    text = SITE.read_text().replace("config_dir: /etc/freeswitch", f"config_dir: {conf}").replace(
        "port: 8021, password: {env: PBXCTL_ESL_PASSWORD}", f"port: {server.port}, password: ClueCon")
    site = tmp / "site.yaml"
    site.write_text(text)
    shutil.copy(REPO / "conf" / "postcodes.csv", tmp / "postcodes.csv")
    with EslClient("127.0.0.1", server.port, "ClueCon") as esl:
        apply_freeswitch(load_site(site), conf, esl)
    server.close()
    return model.api


def serve_stream(api, stream: bytes) -> int:
    """One connection: greeting, auth, subscription, the resync's api commands, then the stream."""
    from esl_double.engine import Inbound

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, _ = listener.accept()
        engine = Inbound("ClueCon", api, job_uuid=lambda: "0")
        conn.sendall(engine.greeting())
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            conn.sendall(engine.receive(data))
            if b"show channels" in buf:  # the last command of the resync
                break
        time.sleep(0.2)  # the controller is past its resync
        conn.sendall(stream)
        conn.recv(1)  # until the child closes

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def child(port: int, site: str) -> None:
    """The controller process: link + controller, timing first event -> end marker."""
    import pickle

    import gevent

    from pbxctl.freeswitch.controller import EslController
    from pbxctl.freeswitch.esl_link import EslEndpoint, EslLink
    from pbxctl.freeswitch.live_calls import listing
    from pbxctl.site.load import load_site

    loaded = load_site(site)
    marks: dict[str, float] = {}
    done = gevent.event.Event()
    controller: EslController

    def on_event(event):
        if "first" not in marks:
            marks["first"] = time.perf_counter()
        if event.get("Event-Subclass") == END:
            marks["end"] = time.perf_counter()
            done.set()
            return
        controller.on_event(event)

    from pbxctl.freeswitch.controller_process import yielding

    link = EslLink(EslEndpoint("127.0.0.1", port, "ClueCon"), yielding(on_event), resync=lambda lk: controller.resync(lk),
                   keepalive_s=30, keepalive_timeout_s=30)
    controller = EslController(lambda: loaded, None, link)
    snapshots = [0]

    def snapshot_loop():
        while not done.is_set():
            now = time.time()
            pickle.dumps((controller.queues(now), dict(controller.wanted), listing(controller.state, now)))
            snapshots[0] += 1
            gevent.sleep(0.1)

    gevent.spawn(link.run)
    gevent.spawn(snapshot_loop)
    done.wait(600)
    link.stop()
    print(json.dumps({"seconds": marks["end"] - marks["first"], "events": controller.events_seen,
                      "snapshots": snapshots[0], "resyncs": controller.resyncs}))


def full_round(api, stream: bytes, site: Path) -> dict:
    port = serve_stream(api, stream)
    out = subprocess.run([sys.executable, __file__, "--child", str(port), str(site)], capture_output=True, text=True,
                         timeout=900)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bare_round(stream: bytes) -> tuple[float, int]:
    """greenswitch's own framing and parse over the bytes, nothing else."""
    from greenswitch.esl import ESLProtocol

    proto = ESLProtocol()
    proto.sock_file = io.BytesIO(stream)
    proto.sock = None
    proto.connected = True
    class Counter:
        n = 0

        def put(self, event):
            self.n += 1

    proto._esl_event_queue = counter = Counter()
    start = time.perf_counter()
    proto.receive_events()
    return time.perf_counter() - start, counter.n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)  # ~3 KB an event: 150 MB
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("PORT", "SITE"))
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1])
        return
    stream, n, calls = build_stream(args.events)
    tmp = Path(tempfile.mkdtemp(prefix="bench-fs-controller-"))
    api = callcenter_api(tmp)
    fulls, bares = [], []
    for _ in range(args.rounds):
        result = full_round(api, stream, tmp / "site.yaml")
        assert result["events"] == n and result["resyncs"] == 1, result
        fulls.append(n / result["seconds"])
        seconds, parsed = bare_round(stream)
        assert parsed == n + 1, (parsed, n)
        bares.append(parsed / seconds)
        print(f"round: full {fulls[-1]:,.0f} events/s ({result['snapshots']} snapshots), bare greenswitch {bares[-1]:,.0f} events/s")
    full, bare = statistics.median(fulls), statistics.median(bares)
    print(f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"stream: {n} events of {calls} queue calls, {len(stream) / 1e6:.1f} MB")
    print(f"full controller: {full:,.0f} events/s (median of {args.rounds}); "
          f"greenswitch bare parse: {bare:,.0f} events/s; full/bare {full / bare:.0%}")


if __name__ == "__main__":
    main()
