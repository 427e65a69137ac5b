"""The fault suite's short form (scripts/fault_suite.py is the long one, with a report):
10 calls through the sandbox Asterisk while each fault lasts a few seconds — the service
SIGKILLed and started again, the AMI link cut and refused, the books' SQLite database
write-locked by another process. Every call is kept (answered by an agent), an IVR step
the service could not answer falls back within the dialplan's hold, the service's state
equals Asterisk's again within 10 s, and the books equal Asterisk's queue_log exactly."""

from __future__ import annotations

import asyncio

import pytest

from helpers.fault_lab import HOLD_S, FaultLab

pytestmark = pytest.mark.asterisk

CALLS = 10
HOLD = 4.0


def test_faults_with_calls_in_flight(sandbox, ami_secret, tmp_path):
    with FaultLab(sandbox, tmp_path, ami_secret) as lab:
        results = [asyncio.run(lab.run_fault(name, getattr(lab, name), CALLS, HOLD, offset=1000 * n))
                   for n, name in enumerate(("sigkill", "ami_cut", "db_locked"))]
        reckoning = lab.reckon()
        logged = lab.service_log_lines("ami_link_down", "books_write_failed")
    report = "\n".join(r.line() for r in results) + "\n" + reckoning.line()
    print(report)
    for r in results:
        assert r.dropped == [], report
        assert r.kept == CALLS, report
        assert r.recovered_in_s is not None and r.recovered_in_s <= 10, report
        assert r.longest_fallback_s <= HOLD_S + 1.0, report
    sigkill = results[0]
    assert sigkill.fell_back >= 1, report  # calls placed while it was down took the fallback
    assert logged["ami_link_down"] >= 1, logged
    assert reckoning.exact, report
    assert reckoning.stints_in_queue_log == reckoning.stints_in_books == 3 * CALLS, report
