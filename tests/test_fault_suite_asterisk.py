"""The fault suite's short form (scripts/fault_suite.py is the long one, with a report and
50 calls per fault): a few calls through the sandbox Asterisk while each fault lasts a few
seconds. Every call is kept (answered by an agent) unless Asterisk itself hung it up (its
restart), an IVR step the service could not answer falls back within the dialplan's
hold, the service's state equals Asterisk's again within 10 s, the service's log names
the fault, and the books equal Asterisk's queue_log exactly (the live rows too: one per
call kept).

In the suite: SIGKILL, the AMI link cut, the SQLite database locked (one test); Asterisk
restarted and the database's filesystem full (another: one lab); PostgreSQL stopped (a
third, a server of its own). All six by hand: `scripts/fault_suite.py --faults all`."""

from __future__ import annotations

import asyncio

import pytest

from helpers.fault_lab import HOLD_S, FaultLab

pytestmark = pytest.mark.asterisk

CALLS = 10
HOLD = 4.0
SHORT_CALLS = 6


def run(lab: FaultLab, names: tuple[str, ...], calls: int) -> list:
    return [asyncio.run(lab.run_fault(name, calls, HOLD, offset=1000 * n)) for n, name in enumerate(names)]


def check(results, reckoning, calls: int) -> str:
    report = "\n".join(r.line() for r in results) + "\n" + reckoning.line()
    print(report)
    for r in results:
        assert r.dropped == [], report
        assert r.kept + len(r.dropped_by_pbx) == calls, report
        assert r.recovered_in_s is not None and r.recovered_in_s <= 10, report
        assert r.longest_fallback_s <= HOLD_S + 1.0, report
    assert reckoning.exact, report
    return report


def test_faults_with_calls_in_flight(sandbox, ami_secret, tmp_path):
    with FaultLab(sandbox, tmp_path, ami_secret) as lab:
        results = run(lab, ("sigkill", "ami_cut", "db_locked"), CALLS)
        reckoning = lab.reckon()
        logged = lab.service_log_lines("ami_link_down")
    report = check(results, reckoning, CALLS)
    assert all(r.kept == CALLS for r in results), report
    assert results[0].fell_back >= 1, report  # calls placed while it was down took the fallback
    assert logged["ami_link_down"] >= 1, logged
    assert reckoning.stints_in_queue_log == reckoning.stints_in_books == 3 * CALLS, report


def test_asterisk_restart_and_a_full_disk(sandbox, ami_secret, tmp_path):
    with FaultLab(sandbox, tmp_path, ami_secret) as lab:
        restart, full = run(lab, ("asterisk_restart", "disk_full"), SHORT_CALLS)
        reckoning = lab.reckon()
    report = check([restart, full], reckoning, SHORT_CALLS)
    # Calls placed after the restart are all kept; those up when it began, Asterisk hung up.
    assert restart.kept >= SHORT_CALLS - SHORT_CALLS // 2 and restart.dropped_by_pbx, report
    assert restart.named >= 1 and full.named >= 1, report  # ami_link_down; books_write_failed fault=disk_full
    assert full.kept == SHORT_CALLS, report


def test_postgres_stopped_and_started(sandbox, ami_secret, tmp_path):
    with FaultLab(sandbox, tmp_path, ami_secret, storage="postgres") as lab:
        (down,) = run(lab, ("postgres_down",), SHORT_CALLS)
        reckoning = lab.reckon()
    report = check([down], reckoning, SHORT_CALLS)
    assert down.kept == SHORT_CALLS and down.named >= 1, report  # books_write_failed fault=database_unreachable
