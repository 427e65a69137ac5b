#!/usr/bin/env python3
"""Benchmark: a recorded AMI event stream through panoramisk into QueueState.

A local asyncio server (its own process) speaks just enough AMI: the greeting line, a
Login answered with Response: Success, the controller's resync (QueueStatus and
CoreShowChannels, answered with empty lists), then the recording (tests/fixtures/ami/
queue_load.ami[.gz], from scripts/record_ami_events.py) looped to at least 200 000
events, and an end marker. The controller connects exactly as `pbxctl serve asterisk`
does (AmiLink: panoramisk's Manager and AMIProtocol; QueueController.on_event ->
QueueState.apply and the membership follower). Measured from the first event to the end
marker: events/s with full state updates.

In the same run, the bare rate: panoramisk's own AMIProtocol parsing the same bytes
(64 KiB chunks, as a socket delivers them) with a dispatch that only counts: no socket,
no event loop, no callbacks. Full and bare runs alternate (5 rounds each by default)
and the medians are compared. Also QueueState.apply alone, over messages parsed
beforehand. Target (issue 4): full ≥ 20 000 events/s and ≥ 50 % of bare.

    .venv/bin/python scripts/bench_ami_events.py [--events 200000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import multiprocessing
import os
import platform
import pstats
import statistics
import time
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol

from pbxctl.asterisk.queue_state import QueueState

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "ami"
END_EVENT = b"Event: BenchEnd\r\n\r\n"
CHUNK = 1 << 16


def load_recording(path: Path | None = None) -> bytes:
    for candidate in [path] if path else [FIXTURES / "queue_load.ami.gz", FIXTURES / "queue_load.ami"]:
        if candidate and candidate.exists():
            data = candidate.read_bytes()
            return gzip.decompress(data) if candidate.suffix == ".gz" else data
    raise SystemExit("no recording: run scripts/record_ami_events.py (under the sandbox lock) first")


def count_events(data: bytes) -> int:
    """Messages panoramisk dispatches as events: those with an Event header."""
    return sum(1 for block in data.split(b"\r\n\r\n") if block.startswith(b"Event: ") or b"\r\nEvent: " in block)


# ------------------------------------------------------------------ server --


def serve(port_out, stream: bytes) -> None:
    """The fake Asterisk: greeting, Login -> Success, the stream, the end marker."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        login = await reader.readuntil(b"\r\n\r\n")
        action_id = b""
        for line in login.split(b"\r\n"):
            if line.lower().startswith(b"actionid:"):
                action_id = line.split(b":", 1)[1].strip()
        writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nMessage: Authentication accepted\r\n\r\n")
        await writer.drain()
        # The controller resyncs after login: QueueStatus, then CoreShowChannels (empty lists).
        for complete in (b"QueueStatusComplete", b"CoreShowChannelsComplete"):
            action = await reader.readuntil(b"\r\n\r\n")
            aid = next((ln.split(b":", 1)[1].strip() for ln in action.split(b"\r\n") if ln.lower().startswith(b"actionid:")), b"")
            writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\nEventList: start\r\nMessage: will follow\r\n\r\n")
            writer.write(b"Event: " + complete + b"\r\nActionID: " + aid + b"\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
            await writer.drain()
        await asyncio.sleep(0.2)  # the link counts as up once the resync is done
        view = memoryview(stream)
        for at in range(0, len(view), 1 << 20):
            writer.write(view[at : at + (1 << 20)])
            await writer.drain()
        writer.write(END_EVENT)
        await writer.drain()
        try:
            await reader.read()  # until the client closes
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", 0)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ------------------------------------------------------------------ client --


async def full_run(port: int, expected: int) -> tuple[int, float, QueueState]:
    """The controller as `pbxctl serve asterisk` runs it: AmiLink (panoramisk Manager and
    AMIProtocol) -> QueueController.on_event -> QueueState.apply and the membership
    follower, against the bench site; books in a throw-away SQLite file."""
    import tempfile

    from pbxctl.asterisk.ami_link import AmiEndpoint, AmiLink
    from pbxctl.asterisk.controller import QueueController
    from pbxctl.site.load import load_site
    from pbxctl.storage.db import engine_for

    loaded = load_site(REPO / "scripts" / "bench_queue_site.yaml")
    engine = engine_for(f"sqlite:///{tempfile.mkdtemp(prefix='pbxctl-bench-')}/bench.db")
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0
    first = 0.0

    def on_event(message) -> None:
        nonlocal count, first
        if count == 0:
            first = time.perf_counter()
        count += 1
        if message.get("Event") == "BenchEnd":
            if not done.done():
                done.set_result(time.perf_counter())
            return
        controller.on_event(message)

    link = AmiLink(AmiEndpoint("127.0.0.1", port, "bench", "bench"), on_event, lambda ready: controller.on_ready(ready),
                   keepalive_s=10**6)
    controller = QueueController(lambda: loaded, engine, link)
    runner = loop.create_task(controller.link.run())
    end = await asyncio.wait_for(done, timeout=600)
    controller.stop()
    runner.cancel()
    try:
        await runner
    except (asyncio.CancelledError, Exception):
        pass
    if count - 1 != expected:
        raise SystemExit(f"the controller saw {count - 1} events, the stream has {expected}")
    return count - 1, end - first, controller.state


class CountingFactory:
    """What AMIProtocol calls back into: counts events, nothing else."""

    forgetable_actions = ()
    awaiting_actions = ()
    save_stream = None

    def __init__(self) -> None:
        self.events = 0

    def dispatch(self, message) -> None:
        self.events += 1

    def connection_lost(self, exc) -> None:  # pragma: no cover
        pass


class NullTransport:
    def write(self, data) -> None:
        pass

    def close(self) -> None:
        pass


def bare_run(stream: bytes) -> tuple[int, float]:
    protocol = AMIProtocol()
    protocol.connection_made(NullTransport())
    factory = CountingFactory()
    protocol.factory = factory
    protocol.encoding = "utf8"
    protocol.version = "9.0.0"  # past the greeting, as after login
    view = memoryview(stream)
    t0 = time.perf_counter()
    for at in range(0, len(view), CHUNK):
        protocol.data_received(bytes(view[at : at + CHUNK]))
    return factory.events, time.perf_counter() - t0


def parse_all(stream: bytes) -> list:
    protocol = AMIProtocol()
    protocol.connection_made(NullTransport())
    messages: list = []
    factory = CountingFactory()
    factory.dispatch = messages.append  # type: ignore[method-assign]
    protocol.factory = factory
    protocol.encoding = "utf8"
    protocol.version = "9.0.0"
    protocol.data_received(stream.decode("utf8", "ignore").encode("utf8"))
    return messages


def apply_only(messages: list) -> tuple[int, float]:
    state = QueueState()
    apply = state.apply
    now = time.time()
    t0 = time.perf_counter()
    for i, message in enumerate(messages):
        apply(message, now + i * 1e-4)
    return len(messages), time.perf_counter() - t0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="loop the recording to at least this many events")
    parser.add_argument("--recording", type=Path, help="another recording (raw or .gz)")
    parser.add_argument("--rounds", type=int, default=5, help="full and bare runs, interleaved (median reported)")
    parser.add_argument("--profile", action="store_true", help="cProfile each full run and print the top functions")
    args = parser.parse_args()

    one = load_recording(args.recording)
    per_loop = count_events(one)
    loops = -(-args.events // per_loop)
    stream = one * loops
    expected = per_loop * loops

    print(f"python            {platform.python_version()}, {os.cpu_count()} CPUs ({cpu_model()})")
    print(f"recording         {len(one):,} bytes, {per_loop:,} events; looped {loops}x = {expected:,} events, {len(stream) / 1e6:.1f} MB")

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, stream), daemon=True)
    server.start()
    port = parent.recv()

    # Rounds interleave full and bare runs so both see the same machine noise; the
    # figures are the medians.
    fulls, bares = [], []
    state = None
    for _ in range(args.rounds):
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        events, seconds, state = asyncio.run(full_run(port, expected))
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        fulls.append((events / seconds, events, seconds))
        bare_events, bare_seconds = bare_run(stream)
        bares.append((bare_events / bare_seconds, bare_events, bare_seconds))
    server.terminate()
    full, events, seconds = statistics.median_low(fulls)
    bare, bare_events, bare_seconds = statistics.median_low(bares)
    messages = parse_all(one)
    apply_events, apply_seconds = min((apply_only(messages) for _ in range(3)), key=lambda r: r[1])

    views = state.queues()
    answered = sum(v.counters.answered for v in views.values())
    rates = lambda runs: ", ".join(f"{r[0]:,.0f}" for r in runs)  # noqa: E731
    print(f"full (socket -> AmiLink/panoramisk -> QueueController -> QueueState), median of {args.rounds}")
    print(f"  events          {events:,} in {seconds:.2f} s")
    print(f"  events/s        {full:,.0f}   (rounds: {rates(fulls)})")
    print(f"bare (panoramisk AMIProtocol.data_received, no-op dispatch), median of {args.rounds}")
    print(f"  events          {bare_events:,} in {bare_seconds:.2f} s")
    print(f"  events/s        {bare:,.0f}   (rounds: {rates(bares)})")
    print(f"QueueState.apply alone (pre-parsed messages)")
    print(f"  events/s        {apply_events / apply_seconds:,.0f} ({apply_seconds / apply_events * 1e6:.2f} us/event)")
    print(f"ratio full/bare   {full / bare:.0%}")
    print(f"state at the end  {len(views)} queues, {answered:,} answered calls counted")
    target = full >= 20_000 and full >= 0.5 * bare
    print(f"target            >= 20 000 events/s and >= 50 % of bare: {'met' if target else 'MISSED'}")


if __name__ == "__main__":
    main()
