"""For the controller's real-PBX tests: a TCP proxy in front of AMI that a test can cut,
freeze (half-open) or make refuse, and `pbxctl serve asterisk` run as the operator runs it."""

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
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PBXCTL = Path(sys.executable).with_name("pbxctl")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AmiProxy:
    """127.0.0.1:<port> -> target. cut(): close every open connection (both ends see it).
    freeze(): stop forwarding but keep the sockets open (a half-open link: no FIN, no RST).
    refuse(): close new connections at once. restore(): back to normal."""

    def __init__(self, target_port: int = 5038):
        self.target_port = target_port
        self.port = free_port()
        self.frozen = False
        self.refusing = False
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> "AmiProxy":
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", self.port), self.loop
        ).result(5)
        return self

    async def _client(self, reader, writer) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers += [writer, up_writer]

        async def pump(src, dst):
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    while self.frozen:
                        await asyncio.sleep(0.05)
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                if not self.frozen:
                    dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def _call(self, fn) -> None:
        async def run():
            fn()
        asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def cut(self) -> None:
        def close_all():
            for w in self._writers:
                w.close()
            self._writers.clear()
        self._call(close_all)

    def freeze(self) -> None:
        self.frozen = True

    def refuse(self) -> None:
        self.refusing = True

    def restore(self) -> None:
        self.frozen = False
        self.refusing = False

    def stop(self) -> None:
        self.restore()
        self.cut()
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def controller_site(example: Path, tmp_path: Path, ami_port: int) -> Path:
    """The example site with its own database, ports, and a 1 s keep-alive."""
    text = example.read_text()
    fastagi = free_port()
    text = text.replace("fastagi: {host: 127.0.0.1, port: 4573, timeout_ms: 1000}", f"fastagi: {{host: 127.0.0.1, port: {fastagi}, timeout_ms: 1000}}")
    text = text.replace("      port: 5038\n", f"      port: {ami_port}\n      keepalive: 1\n      keepalive_timeout: 1\n")
    assert f"port: {fastagi}" in text and f"port: {ami_port}" in text
    text += f"\nstorage: {{url: 'sqlite:///{tmp_path / 'pbxctl.db'}'}}\nservice: {{host: 127.0.0.1, port: {free_port()}}}\n"
    site = tmp_path / "controller.yaml"
    site.write_text(text)
    return site


class Service:
    """`pbxctl serve asterisk -s SITE` in a subprocess; its log kept for failure messages."""

    def __init__(self, site: Path, token: str | None = None):
        import yaml

        self.site = site
        self.token = token  # the API token the site sets, if any
        raw = yaml.safe_load(site.read_text())
        self.http = f"http://127.0.0.1:{raw['service']['port']}"
        self.log_path = site.with_suffix(".log")
        self.proc: subprocess.Popen | None = None

    def start(self, wait_up: bool = True, timeout: float = 20, args: tuple[str, ...] = ()) -> "Service":
        self.log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([str(PBXCTL), "serve", "asterisk", "-s", str(self.site), *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait_up:
            try:
                self.wait(lambda doc: doc["ami"]["up"], timeout, "the AMI link up")
            except BaseException:
                self.stop()  # a service that never came up is not left running
                raise
        return self

    def status(self) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(self.http + "/api/status", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.loads(r.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(self.http + "/metrics", timeout=5) as r:
            return r.read().decode()

    def wait(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        last: dict | str = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"pbxctl serve exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                last = self.status()
                if predicate(last):
                    return last
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise AssertionError(f"waited {timeout} s for {what}; last status: {json.dumps(last)[:2000]}\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()


def pbxctl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(PBXCTL), *args], capture_output=True, text=True, timeout=timeout)
