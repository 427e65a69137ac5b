"""pbxctl's FreeSWITCH IVR service in its own process (gevent never runs in the test
process), started on a free port with the example site."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from pbxctl.render.freeswitch import render_freeswitch_dialplan
from pbxctl.site.load import load_site

from esl_double.pbx import load_dialplan

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def example_site(tmp: Path, port: int, extra: str = "") -> Path:
    """conf/example.yaml with the outbound socket on `port`."""
    text = (REPO / "conf" / "example.yaml").read_text()
    text = re.sub(r"outbound: \{host: 127\.0\.0\.1, port: \d+\}", f"outbound: {{host: 127.0.0.1, port: {port}{extra}}}", text)
    site = tmp / "example.yaml"
    site.write_text(text)
    (tmp / "postcodes.csv").write_text((REPO / "conf" / "postcodes.csv").read_text())
    return site


def dialplan_of(site: Path):
    return load_dialplan(render_freeswitch_dialplan(load_site(site)))


class ServiceProcess:
    def __init__(self, site: Path, database: Path, port: int, args: list[str] | None = None, env: dict | None = None,
                 http_port: int | None = None):
        self.port = port
        self.http_port = http_port or free_port()
        self.cmd = [str(Path(sys.executable).parent / "pbxctl"), "serve", "freeswitch", "-s", str(site),
                    "--http-port", str(self.http_port), *(args or [])]
        # nothing listens on the site's Event Socket: the controller process keeps retrying
        self.env = {**os.environ, "PBXCTL_DATABASE_URL": f"sqlite:///{database}", "PBXCTL_ESL_PASSWORD": "ClueCon",
                    **(env or {})}
        self.proc: subprocess.Popen | None = None
        # a file, not a pipe: nobody reads a pipe while calls run, and a full one blocks the service
        self.log = open(database.with_suffix(".log"), "w+b")

    def start(self) -> "ServiceProcess":
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("service did not listen within 20 s")

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def signal_ivr(self, sig) -> None:
        """A signal to the IVR's own processes (children of `serve freeswitch`)."""
        for pid in self.ivr_pids():
            os.kill(pid, sig)

    def ivr_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        pids = [int(pid) for pid in children
                if b"pbxctl.freeswitch.ivr_process" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        if not pids:
            raise RuntimeError(f"no IVR process among {children}")
        return pids

    def stop(self) -> str:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")
