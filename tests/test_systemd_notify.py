"""sd_notify spoken by pbxctl itself, against a fake NOTIFY_SOCKET (a datagram socket of
the test): READY, STOPPING, and watchdog pings that come from the event loop — they stop
while the loop is blocked, which is how systemd's WatchdogSec= catches a frozen service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from pbxctl.service.lifecycle import ServiceLifecycle
from pbxctl.service.systemd_notify import SystemdNotifier, ping_watchdog, socket_address, watchdog_interval

PBXCTL = str(Path(sys.executable).parent / "pbxctl")


@contextmanager
def fake_notify_socket(tmp_path: Path):
    """What systemd listens on: yields (NOTIFY_SOCKET value, receiving socket)."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield str(path), sock
    finally:
        sock.close()


def messages(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """Every datagram that arrives within `seconds`, with its arrival time."""
    got: list[tuple[float, str]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        got.append((time.monotonic(), data.decode()))
    return got


def drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def test_abstract_socket_names():
    assert socket_address("@pbxctl/notify") == b"\0pbxctl/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_no_notify_socket_means_no_messages():
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False


def test_message_reaches_the_socket(tmp_path):
    with fake_notify_socket(tmp_path) as (address, sock):
        notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": address})
        assert notifier.notify("READY=1", "STATUS=listening") is True
        assert [m for _, m in messages(sock, 1.0)] == ["READY=1\nSTATUS=listening"]
        notifier.close()


def test_abstract_namespace_socket():
    name = f"pbxctl-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    try:
        assert SystemdNotifier(f"@{name}").notify("WATCHDOG=1")
        assert [m for _, m in messages(sock, 1.0)] == ["WATCHDOG=1"]
    finally:
        sock.close()


def test_a_vanished_socket_does_not_raise(tmp_path):
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    assert notifier.notify("WATCHDOG=1") is False
    assert notifier.notify("WATCHDOG=1") is False


@pytest.mark.parametrize("environ, expected", [
    ({"WATCHDOG_USEC": "10000000"}, 5.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"}, 5.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4243"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_of_watchdog_sec(environ, expected):
    assert watchdog_interval(environ, pid=4242) == expected


def test_pings_come_from_the_event_loop_and_stop_while_it_is_blocked(tmp_path):
    with fake_notify_socket(tmp_path) as (address, sock):
        notifier = SystemdNotifier(address)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        async def start_pings() -> asyncio.Task:
            return asyncio.ensure_future(ping_watchdog(notifier, 0.05))

        async def stop_pings(task: asyncio.Task) -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        pinger = asyncio.run_coroutine_threadsafe(start_pings(), loop).result(5)
        try:
            running = messages(sock, 0.6)
            assert len(running) >= 6 and {m for _, m in running} == {"WATCHDOG=1"}

            blocked = threading.Event()

            def block_the_loop() -> None:  # what a CPU-bound or synchronous call does
                blocked.set()
                time.sleep(1.5)

            loop.call_soon_threadsafe(block_the_loop)
            assert blocked.wait(2)
            drain(sock)  # a ping sent just before the block
            assert messages(sock, 1.2) == []

            resumed = messages(sock, 1.0)
            assert len(resumed) >= 3
        finally:
            asyncio.run_coroutine_threadsafe(stop_pings(pinger), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
            notifier.close()


def test_lifecycle_stops_gracefully_on_sigterm(tmp_path):
    with fake_notify_socket(tmp_path) as (address, sock):
        # 0.2 s pings: the few messages fit the socket's queue (Linux: 10 datagrams by
        # default) while nobody reads it.
        lifecycle = ServiceLifecycle(environ={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
        cleaned = []

        async def job():
            try:
                await asyncio.sleep(60)
            finally:
                cleaned.append("job cancelled")

        async def main():
            lifecycle.ready("testing")
            asyncio.get_running_loop().call_later(0.5, os.kill, os.getpid(), signal.SIGTERM)
            return await lifecycle.run(job())

        assert asyncio.run(asyncio.wait_for(main(), 10)) == "SIGTERM"
        assert cleaned == ["job cancelled"]
        got = [m for _, m in messages(sock, 0.2)]
        assert got[0] == "READY=1\nSTATUS=testing"
        assert got[-1] == "STOPPING=1"
        assert set(got[1:-1]) == {"WATCHDOG=1"} and len(got[1:-1]) >= 2
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers removed again


def test_a_failing_job_is_raised_not_swallowed():
    async def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(ServiceLifecycle(environ={}).run(broken()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_site(tmp_path: Path) -> Path:
    """A site whose AMI nobody answers: the service runs (and keeps reconnecting) without
    a PBX, which is all the notify protocol needs."""
    site = tmp_path / "site.yaml"
    site.write_text(f"""
site: notify
numbering: {{country_code: "47"}}
pbx:
  backend: asterisk
  asterisk:
    ami: {{host: 127.0.0.1, port: {free_port()}, secret: {{env: PBXCTL_TEST_AMI_SECRET}}}}
    fastagi: {{host: 127.0.0.1, port: {free_port()}}}
storage: {{url: "sqlite:///{tmp_path / 'notify.db'}"}}
service: {{port: {free_port()}, log_format: json}}
agents: {{a: {{name: A, extension: "1001"}}}}
queues: {{q: {{strategy: ring_all, members: [{{agent: a}}]}}}}
entries: {{"200": {{ivr: t}}}}
ivrs: {{t: {{start: q, elements: {{q: {{type: queue, queue: q}}}}}}}}
""")
    return site


def test_serve_under_a_fake_systemd(tmp_path):
    """`pbxctl serve asterisk` as systemd runs it: READY=1 when listening, pings while it
    runs, none while it is frozen (SIGSTOP), STOPPING=1 and exit 0 on SIGTERM; JSON logs
    from the site's service.log_format."""
    with fake_notify_socket(tmp_path) as (address, sock):
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000", "PBXCTL_TEST_AMI_SECRET": "x"}
        env.pop("PBXCTL_LOG_FORMAT", None)
        proc = subprocess.Popen([PBXCTL, "serve", "asterisk", "-s", str(serve_site(tmp_path))], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            sock.settimeout(20)
            first = sock.recv(4096).decode()
            assert first.startswith("READY=1\nSTATUS=site notify: FastAGI on 127.0.0.1:"), first
            assert len(messages(sock, 1.0)) >= 5

            proc.send_signal(signal.SIGSTOP)
            time.sleep(0.3)
            drain(sock)
            assert messages(sock, 1.0) == []
            proc.send_signal(signal.SIGCONT)
            assert len(messages(sock, 1.0)) >= 3

            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, stderr
        assert [m for _, m in messages(sock, 0.5)][-1:] == ["STOPPING=1"]
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    events = [entry["event"] for entry in logged]
    assert "service_ready" in events and "service_stopping" in events
    assert all({"timestamp", "level", "event"} <= set(entry) for entry in logged)
    # Every line is JSON but the one human banner printed before logging starts.
    others = [line for line in stderr.splitlines() if not line.startswith("{")]
    assert len(others) == 1 and others[0].startswith("pbxctl for site notify: "), others
