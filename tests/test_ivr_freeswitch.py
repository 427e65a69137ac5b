"""The IVR matrix of tests/test_ivr_asterisk.py through FreeSWITCH's outbound socket: the
Event Socket double runs the generated pbxctl dialplan, connects to `pbxctl serve
freeswitch` (its own gevent process), sends the caller's keys as DTMF events, and reports
where the call ended; each outcome is also what the dry run (`walk_call`) predicts."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from pbxctl.ivr.decide import CallContext
from pbxctl.ivr.walk import walk_call
from pbxctl.site.load import load_site
from pbxctl.storage.callbacks import CallbackRequest
from pbxctl.storage.db import engine_for

from esl_double.pbx import place_call
from freeswitch_service import ServiceProcess, dialplan_of, example_site, free_port
from test_ivr_asterisk import CASES


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fs-ivr")
    port = free_port()
    site = example_site(tmp, port)
    svc = ServiceProcess(site, tmp / "pbxctl.db", port).start()
    yield {"site": site, "port": port, "dialplan": dialplan_of(site), "db": tmp / "pbxctl.db", "service": svc}
    svc.stop()


def predicted(site, entry, caller, at, digits) -> str:
    now = dt.datetime.fromisoformat(at).replace(tzinfo=ZoneInfo("Europe/Oslo"))
    return walk_call(load_site(site), entry, CallContext(caller=caller, now=now), digits).destination.split(" ")[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_call_ends_where_the_dry_run_says(lab, case):
    _, at, caller, digits, expected = case
    assert predicted(lab["site"], "200", caller, at, digits) == expected
    result = place_call(lab["dialplan"], "200", caller, digits, service=("127.0.0.1", lab["port"]), at=at)
    assert result.violations == []
    assert result.fell_back_by == ""
    assert result.outcome == expected, result.trace


def test_no_input_takes_the_no_input_branch(lab):
    result = place_call(lab["dialplan"], "200", "+4722445566", [], service=("127.0.0.1", lab["port"]), at="2026-12-23 10:00")
    assert (result.outcome, result.fell_back_by, result.violations) == ("queue:support", "", [])
    assert sum(1 for t in result.trace if t.startswith("play_and_get_digits")) == 3  # retries: 2


def test_menu_keys_arrive_as_dtmf_events_one_per_digit(lab):
    result = place_call(lab["dialplan"], "200", "+4722445566", ["1", "0150"], service=("127.0.0.1", lab["port"]), at="2026-12-23 10:00")
    assert result.outcome == "queue:sales_east"
    collects = [t for t in result.trace if t.startswith("play_and_get_digits")]
    assert len(collects) == 2  # each key sequence decided once: no stale or repeated input
    assert collects[0].split()[1:3] == ["1", "1"]  # a menu: one key
    assert collects[1].split()[1:3] == ["4", "4"]  # the postcode menu: min/max digits of the element


def test_lunch_callback_is_recorded(tmp_path):
    port = free_port()
    site = example_site(tmp_path, port)
    svc = ServiceProcess(site, tmp_path / "db.sqlite", port, args=["--clock", "2026-12-22 11:45"]).start()
    try:
        result = place_call(dialplan_of(site), "200", "+4722445566", [], service=("127.0.0.1", port))
    finally:
        svc.stop()
    assert (result.outcome, result.violations) == ("hangup", [])
    with Session(engine_for(f"sqlite:///{tmp_path / 'db.sqlite'}")) as session:
        rows = list(session.exec(select(CallbackRequest)))
    assert [(r.queue, r.number, r.source, r.status) for r in rows] == [("support", "+4722445566", "ivr", "open")]


def test_test_call_records_no_callback(lab):
    result = place_call(lab["dialplan"], "200", "+4722445566", [], service=("127.0.0.1", lab["port"]), at="2026-12-22 11:45")
    assert result.outcome == "hangup"
    with Session(engine_for(f"sqlite:///{lab['db']}")) as session:
        assert list(session.exec(select(CallbackRequest))) == []


def test_transfer_destination_of_a_goto_ivr(lab):
    """goto: the English IVR is another IVR reached from the main menu's 9."""
    result = place_call(lab["dialplan"], "200", "+4722445566", ["9", "2"], service=("127.0.0.1", lab["port"]), at="2026-12-23 10:00")
    assert result.outcome == "queue:sales_east"
    assert "pbxctl-queue-sales_east" in result.trace[-1] or any("pbxctl-queue-sales_east" in t for t in result.trace)


# --- failing open ------------------------------------------------------------------------


def test_service_down_falls_back_at_once(tmp_path):
    port = free_port()
    site = example_site(tmp_path, port)
    result = place_call(dialplan_of(site), "200", "+4722445566", ["2"], service=("127.0.0.1", port), at="2026-12-23 10:00")
    assert (result.outcome, result.fell_back_by) == ("queue:support", "socket returned")
    assert result.seconds < 1


class SilentService:
    """Accepts and never says anything: the recorded 'server-silent' case."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_frozen_service_is_bounded_by_the_watchdog(tmp_path):
    port = free_port()
    site = example_site(tmp_path, port)
    silent = SilentService(port)
    try:
        result = place_call(dialplan_of(site), "200", "+4722445566", ["2"], service=("127.0.0.1", port), at="2026-12-23 10:00")
    finally:
        silent.close()
    assert (result.outcome, result.fell_back_by) == ("queue:support", "watchdog")
    assert 3 <= result.seconds < 4  # pbx.freeswitch.outbound.watchdog = 3 (default)
    assert result.trace[:2] == ["pbxctl-entry-200", "pbxctl-entry-200-fallback"]


def test_service_frozen_mid_call_falls_back_within_its_step_budget(tmp_path):
    """SIGSTOP after the first prompt: the watchdog the service re-armed for that step fires."""
    port = free_port()
    site = example_site(tmp_path, port, ", watchdog: 1, prompt_allowance: 1")
    svc = ServiceProcess(site, tmp_path / "db.sqlite", port).start()
    try:
        stopped = threading.Event()

        def freeze():
            time.sleep(0.5)
            svc.signal_ivr(signal.SIGSTOP)
            stopped.set()

        threading.Thread(target=freeze, daemon=True).start()
        result = place_call(dialplan_of(site), "200", "+4722445566", ["1", "0150"], service=("127.0.0.1", port),
                            at="2026-12-23 10:00", digit_gap_s=0.6)
        assert stopped.is_set()
        assert (result.outcome, result.fell_back_by) == ("queue:support", "watchdog")
        # the postcode step's budget: watchdog 1 + prompt allowance 1 + its 5 s input timeout
        assert result.seconds < 0.5 + 7 + 1
    finally:
        svc.signal_ivr(signal.SIGCONT)
        svc.stop()


def test_wrong_answer_falls_back(lab):
    """The dialplan names an IVR the running service does not know (an older site): the
    service refuses to guess, lets go, and the dialplan runs the entry's fallback."""
    dialplan = [
        type(e)(e.name, e.expression, [(a, "pbxctl_ivr=retired" if d == "pbxctl_ivr=main" else d) for a, d in e.actions])
        for e in lab["dialplan"]
    ]
    result = place_call(dialplan, "200", "+4722445566", ["2"], service=("127.0.0.1", lab["port"]), at="2026-12-23 10:00")
    assert (result.outcome, result.fell_back_by, result.violations) == ("queue:support", "socket returned", [])
    assert result.seconds < 1


def test_several_ivr_processes_share_the_port(tmp_path):
    """pbx.freeswitch.outbound.processes: 2 — two IVR processes on one port (SO_REUSEPORT);
    calls placed at once all end where the dry run says, and both processes take some."""
    port = free_port()
    site = example_site(tmp_path, port, ", processes: 2")
    svc = ServiceProcess(site, tmp_path / "db.sqlite", port).start()
    try:
        deadline = time.monotonic() + 10
        while len(svc.ivr_pids()) < 2 or time.monotonic() < deadline - 9:
            time.sleep(0.1)
        pids = svc.ivr_pids()
        dialplan = dialplan_of(site)
        results = []

        def cpu() -> list[int]:
            return [sum(int(x) for x in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13])
                    for pid in pids]

        before = cpu()

        def one():
            results.append(place_call(dialplan, "200", "+4722445566", ["1", "0150"], service=("127.0.0.1", port),
                                      at="2026-12-23 10:00"))

        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r.outcome for r in results] == ["queue:sales_east"] * 40
        assert len(pids) == 2
        assert all(after > earlier for after, earlier in zip(cpu(), before))  # both took calls
    finally:
        svc.stop()
