"""A frozen IVR process on FreeSWITCH's outbound socket holds no call: calls in flight at
every stage (a prompt playing, a menu waiting for keys, the postcode being keyed) when the
IVR process is SIGSTOPped, and calls that arrive while it is stopped, all reach the
entry's fallback through the dialplan's `sched_transfer` watchdog, each within its stated
bound: a call that had not been answered by the service within `watchdog` s; a call in the
IVR within `watchdog + prompt_allowance + its step's input timeout` s of the freeze (the
service re-arms the watchdog before every caller-facing step, for that step's length).

Against the Event Socket double (tests/esl_double/): the double's `sched_transfer` is
FreeSWITCH's as read from its source, not a live FreeSWITCH's (README, FreeSWITCH: the IVR
over the outbound Event Socket). Prints each call's time to its fallback."""

from __future__ import annotations

import signal
import threading
import time

from esl_double.pbx import place_call
from freeswitch_service import ServiceProcess, dialplan_of, example_site, free_port
from pbxctl.site.load import load_site

WATCHDOG_S = 1
ALLOWANCE_S = 1
IN_FLIGHT = 8
ARRIVING = 3
SLACK_S = 1.0


def test_calls_in_flight_at_a_freeze_reach_their_fallback_within_the_bound(tmp_path):
    port = free_port()
    site = example_site(tmp_path, port, f", watchdog: {WATCHDOG_S}, prompt_allowance: {ALLOWANCE_S}")
    longest_input = max(el.timeout for ivr in load_site(site).site.ivrs.values()
                        for el in ivr.elements.values() if hasattr(el, "timeout"))
    in_ivr_bound = WATCHDOG_S + ALLOWANCE_S + longest_input
    dialplan = dialplan_of(site)
    svc = ServiceProcess(site, tmp_path / "db.sqlite", port).start()
    results: dict[int, tuple[float, object]] = {}

    def call(n: int) -> None:
        started = time.monotonic()
        # key 1 (the postcode menu), then a postcode key by key: each call is somewhere in
        # the IVR when the freeze comes
        result = place_call(dialplan, "200", f"+47224455{n:02d}", ["1", "0150"], service=("127.0.0.1", port),
                            at="2026-12-23 10:00", digit_gap_s=0.6)
        results[n] = (started, result)

    threads = []
    try:
        for n in range(IN_FLIGHT):
            threads.append(threading.Thread(target=call, args=(n,), daemon=True))
            threads[-1].start()
            time.sleep(0.25)
        frozen_at = time.monotonic()
        svc.signal_ivr(signal.SIGSTOP)
        for n in range(IN_FLIGHT, IN_FLIGHT + ARRIVING):
            time.sleep(0.2)
            threads.append(threading.Thread(target=call, args=(n,), daemon=True))
            threads[-1].start()
        for t in threads:
            t.join(in_ivr_bound + 10)
    finally:
        svc.signal_ivr(signal.SIGCONT)
        svc.stop()

    lines = []
    for n in sorted(results):
        started, result = results[n]
        arrived_frozen = started > frozen_at
        waited = result.seconds if arrived_frozen else started + result.seconds - frozen_at
        lines.append(f"call {n:>2} {'after' if arrived_frozen else 'before'} the freeze: {result.outcome} "
                     f"by {result.fell_back_by or 'the service'}, {waited:.2f} s "
                     f"{'from its start' if arrived_frozen else 'from the freeze'}")
        results[n] = (waited, result, arrived_frozen)
    report = "\n".join(lines)
    print(f"\nfrozen IVR process, watchdog {WATCHDOG_S} s, prompt allowance {ALLOWANCE_S} s, "
          f"longest input timeout {longest_input} s:\n{report}")
    assert len(results) == IN_FLIGHT + ARRIVING, report
    frozen_mid_call = 0
    for waited, result, arrived_frozen in results.values():
        if result.fell_back_by == "":  # it was over (queued by the service) before the freeze
            assert not arrived_frozen and waited <= 0, report
            continue
        assert result.outcome == "queue:support" and result.fell_back_by == "watchdog", report
        bound = WATCHDOG_S if arrived_frozen else in_ivr_bound
        assert waited <= bound + SLACK_S, report
        frozen_mid_call += not arrived_frozen
    assert frozen_mid_call >= IN_FLIGHT - 2, report  # the freeze caught most of them in the IVR
