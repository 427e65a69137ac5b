"""`pbxctl serve freeswitch` under a fake systemd (a NOTIFY_SOCKET datagram socket of the
test): the main process pings WATCHDOG=1 only while its gevent children answer, so a
SIGSTOPped IVR or controller process stops the pings (and systemd's WatchdogSec= restarts
the set), and they come back when it runs again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from freeswitch_service import ServiceProcess, example_site, free_port
from test_systemd_notify import drain, fake_notify_socket, messages

from pbxctl.freeswitch.heartbeat import STALE_S


def child_pids(proc_pid: int, module: str) -> list[int]:
    children = Path(f"/proc/{proc_pid}/task/{proc_pid}/children").read_text().split()
    return [int(pid) for pid in children if module.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()]


def pings(sock, seconds: float) -> int:
    return sum(1 for _, m in messages(sock, seconds) if m == "WATCHDOG=1")


def test_a_stopped_child_stops_the_watchdog_pings(tmp_path):
    port = free_port()
    site = example_site(tmp_path, port)
    with fake_notify_socket(tmp_path) as (address, sock):
        # a ping every 0.2 s (WatchdogSec=0.4)
        svc = ServiceProcess(site, tmp_path / "db.sqlite", port, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
        svc.start()
        try:
            sock.settimeout(20)
            assert sock.recv(4096).decode().startswith("READY=1\n")
            assert pings(sock, 1.5) >= 5  # the children spoke: pings flow

            for module in ("pbxctl.freeswitch.ivr_process", "pbxctl.freeswitch.controller_process"):
                (pid,) = child_pids(svc.proc.pid, module)
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(STALE_S + 0.3)  # its last beat goes stale
                    drain(sock)
                    assert pings(sock, 1.5) == 0, module
                finally:
                    os.kill(pid, signal.SIGCONT)
                time.sleep(1.2)  # its next beat (every second)
                drain(sock)
                assert pings(sock, 1.0) >= 3, module
        finally:
            output = svc.stop()
    assert "watchdog_pings_held_a_process_is_silent" in output and "watchdog_pings_resumed" in output
