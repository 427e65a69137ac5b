"""A frozen service holds no call, on the real sandbox Asterisk.

The service accepts FastAGI connections and then stops answering: SIGSTOP of `pbxctl serve
asterisk` (the kernel still accepts connections into the listen backlog), or its asyncio
event loop blocked. Calls that were waiting at a menu when it froze press a digit, and new
calls come in; each must reach the entry's fallback within the dialplan's hold
(TIMEOUT(absolute) around the AGI step = time box + 1 s), an AMI Hangup must release a held
call at once, no channel may be left in AGI(), and the service must decide again once it
runs. Measured per call from its AGI step (AMI Newexten) to [pbxctl-fallback].
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import pytest

from pbxctl.asterisk.wire import agi_hold_s

from helpers.agiservice import ServiceThread
from helpers.controller_harness import Service, controller_site, pbxctl
from helpers.ivr_lab import (at_application, channels, follow, hang_up_all, is_lab_channel, lab_callers, originate,
                             press, wait_until)
from helpers.queue_calls import TimedRecorder

pytestmark = pytest.mark.asterisk

TIME_BOX_S = 1.0                       # fastagi.timeout_ms of controller_site()
HOLD_S = float(agi_hold_s(TIME_BOX_S))
BOUND_S = TIME_BOX_S + 2.0             # the stated bound: time box + 2 s
OPEN = "2026-12-23 10:00"              # office hours: screen, vip_check, hours, then the menu


@pytest.fixture
def lab_site(example_site, tmp_path):
    site = controller_site(example_site, tmp_path, 5038)
    applied = pbxctl("apply", "-s", str(site))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return site


async def freeze_with_calls_in_flight(secret: str, freeze, thaw, at_menu: int = 5, arriving: int = 5) -> dict:
    async with TimedRecorder(secret) as rec:
        waiting = await originate(rec, "200", lab_callers(at_menu))
        await at_application(rec, waiting, "Read")
        frozen_at = time.monotonic()
        freeze()
        try:
            await press(rec, waiting, "2")          # support: asks the frozen service
            arrived = await originate(rec, "200", lab_callers(arriving, 100))
            hung = (await originate(rec, "200", lab_callers(1, 200)))
            await wait_until(rec, hung, lambda c: c.agi_starts, 10, "the call to hang up in AGI()")
            await rec.send({"Action": "Hangup", "Channel": hung[0].channel})
            everyone = waiting + arrived
            await wait_until(rec, everyone + hung, lambda c: c.fell_back_at or c.hung_up_at, HOLD_S + 5, "fallback")
            in_agi = [ch["Channel"] for ch in await channels(rec)
                      if is_lab_channel(ch.get("Channel", "")) and ch.get("Application") == "AGI"]
        finally:
            thaw()
        follow(rec, everyone + hung)
        # Decided again: a new call passes screen, vip_check and office_hours to the menu.
        after = await originate(rec, "200", lab_callers(1, 300))
        await at_application(rec, after, "Read", timeout=20)
        follow(rec, after)
        left = await hang_up_all(rec)
        return {
            "held": {c.caller: c.held_for(frozen_at) for c in everyone},
            "hangup_released_in": hung[0].hung_up_at - hung[0].agi_starts[0],
            "hung_fell_back": hung[0].fell_back_at is not None,
            "in_agi": in_agi,
            "after_fell_back": after[0].fell_back_at is not None,
            "left": left,
        }


def check(report: dict) -> None:
    print("frozen-service report:", report)  # the measured figures, shown with pytest -s
    held = report["held"]
    assert all(v is not None for v in held.values()), held
    # Held for the dialplan's hold (not refused at once), released within the bound.
    assert all(HOLD_S - 0.1 <= v <= BOUND_S for v in held.values()), held
    # An AMI Hangup releases a call held in AGI() at once, without waiting for the hold.
    assert report["hangup_released_in"] < HOLD_S - 0.5, report
    assert not report["hung_fell_back"]
    assert report["in_agi"] == []
    assert not report["after_fell_back"]
    assert report["left"] == []


def test_a_stopped_service_holds_no_call(lab_site, ami_secret):
    svc = Service(lab_site).start(args=("--clock", OPEN))
    try:
        report = asyncio.run(freeze_with_calls_in_flight(
            ami_secret, lambda: svc.proc.send_signal(signal.SIGSTOP), lambda: svc.proc.send_signal(signal.SIGCONT)))
        check(report)
        # The service lives on: its AMI link comes back and it still answers HTTP.
        svc.wait(lambda doc: doc["ami"]["up"], 20, "the AMI link up after SIGCONT")
    finally:
        if svc.proc is not None:
            svc.proc.send_signal(signal.SIGCONT)
        svc.stop()


def test_a_blocked_event_loop_holds_no_call(lab_site, ami_secret, tmp_path):
    """The service's event loop blocked by a synchronous call (here: waiting on a
    threading.Event inside the loop), the process otherwise running."""
    svc = ServiceThread(lab_site, tmp_path / "blocked.db", at=OPEN).start()
    release = threading.Event()
    try:
        report = asyncio.run(freeze_with_calls_in_flight(
            ami_secret, lambda: svc.loop.call_soon_threadsafe(release.wait), release.set))
        check(report)
    finally:
        release.set()
        svc.stop()
