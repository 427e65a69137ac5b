"""Callback results written by the dialplan, not asked of the service: the hangup
handler's PBXCTLCBRESULT queue_log line (and its UserEvent twin) read into the books and
onto the list, once however often it is told (live, from queue_log, both), a late result
never taking an entry from the call that holds it now, and the takes no live call holds
any more given back."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from pbxctl.asterisk.callback_dialer import orphaned
from pbxctl.asterisk.callback_results import result_of_event
from pbxctl.books.assembler import Assembler
from pbxctl.books.callback_line import parse_result
from pbxctl.books.ingest import Ingestor, import_file
from pbxctl.books.store import BatchWriter
from pbxctl.domain.callbacks import CallbackEntry, CallbackResult, QueueRules, Status, apply_result, take
from pbxctl.domain.phone_numbers import NumberingPlan
from pbxctl.storage.callback_feed import feed_from_books
from pbxctl.storage.callback_list import change_entry, get_entry, list_entries, record_result
from pbxctl.storage.db import new_engine
from sqlmodel import Session

UTC = dt.timezone.utc
T0 = int(dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp())
NOW = dt.datetime.fromtimestamp(T0 + 600, UTC)
RULES = {"support": QueueRules(min_wait=5, attempts=2)}


def moment(offset: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + offset, UTC)


def entry(**kw) -> CallbackEntry:
    base = dict(queue="support", number="+4791234567", first_call_at=moment(0), last_call_at=moment(0),
                call_ids=("c1",), id=7)
    return CallbackEntry(**{**base, **kw})


def result(call="cb1", status="ANSWER", dialed=20.0, answered=15.0, key="", accepted=False, at=300) -> CallbackResult:
    return CallbackResult(7, call, moment(at), status, dialed, answered, key, accepted, "kari")


@pytest.mark.parametrize("told, outcome", [
    (result(status="ANSWER", answered=3), "answered"),        # talked 3 s: spoken to
    (result(status="ANSWER", answered=1), "not_accepted"),    # answered and hung up at once
    (result(key="1", accepted=False), "not_accepted"),        # a machine: never pressed the accept key
    (result(key="1", accepted=True, answered=1), "answered"),
    (result(status="NOANSWER"), "no_answer"), (result(status="BUSY"), "busy"),
    (result(status="CANCEL"), "agent_gone"),                  # the agent hung up while it rang
    (result(status="CHANUNAVAIL"), "failed"),
    (result(status="", dialed=0, answered=0), None),           # the agent hung up before the customer was dialled
])
def test_the_result_mapping_is_the_dial_outcomes(told, outcome):
    assert told.outcome == outcome


def test_a_result_told_twice_is_one_attempt_with_its_dial_and_answer_times():
    held = take(entry(), "kari", "cb1")
    once = apply_result(held, result(), RULES["support"])
    assert once.status is Status.answered and once.take_call is None
    (attempt,) = once.attempts
    assert (attempt.at, attempt.started_at, attempt.answered_at) == (moment(300), moment(280), moment(285))
    assert apply_result(once, result(), RULES["support"]) == once


def test_a_late_result_keeps_the_entry_with_the_call_that_holds_it_now():
    # cb1 rang while the service was down; the entry was given back and cb2 holds it now
    now_held = take(entry(), "ola", "cb2")
    late = apply_result(now_held, result("cb1", status="NOANSWER"), RULES["support"])
    assert (late.status, late.take_call, late.agent) == (Status.in_progress, "cb2", "ola")
    assert [a.result for a in late.attempts] == ["no_answer"]
    # a give-back (never dialled) of the old call does not release the new one
    assert apply_result(now_held, result("cb1", status="", dialed=0), RULES["support"]) == now_held
    # the holding call's own give-back does
    assert apply_result(now_held, result("cb2", status="", dialed=0), RULES["support"]).status is Status.open


def test_a_result_for_another_databases_entry_of_that_id_changes_nothing():
    # a queue_log line from before this list was made (entry 7 of an older database):
    # its customer's call is not this entry's, its call does not hold it
    stale = replace(result("old-cb", status="ANSWER"), customer_call="old-customer")
    held = take(entry(), "kari", "cb1")
    assert apply_result(held, stale, RULES["support"]) == held
    mine = replace(result("cb1"), customer_call="c1")
    assert apply_result(held, mine, RULES["support"]).status is Status.answered


def test_a_result_on_an_entry_closed_meanwhile_is_kept_as_an_attempt():
    closed = entry(status=Status.closed, closed_by="kari", close_reason="e-mailed")
    kept = apply_result(closed, result(status="BUSY"), RULES["support"])
    assert kept.status is Status.closed and [a.result for a in kept.attempts] == ["busy"]


def test_the_line_and_the_user_event_carry_the_same_fields():
    data = "7|ANSWER|21|14|1|1|pbxctl-cb-7-abc"
    from_line = parse_result(data, T0 + 300, "kari", "c1")
    from_event = result_of_event({"Event": "UserEvent", "UserEvent": "PbxctlCallbackResult", "Queue": "support",
                                  "CallId": "c1", "Agent": "kari", "Data": data}, T0 + 300)
    assert from_line == from_event == CallbackResult(7, "pbxctl-cb-7-abc", moment(300), "ANSWER", 21.0, 14.0, "1",
                                                     True, "kari", "c1")
    assert parse_result("|ANSWER|1|1|||x", T0, "kari", "c1") is None  # no entry
    assert parse_result("7|ANSWER", T0, "NONE", "c1") is None         # no call
    assert result_of_event({"Event": "UserEvent", "UserEvent": "PbxctlHelp"}, T0) is None


QUEUE_LOG = f"""\
{T0}|c1|support|NONE|ENTERQUEUE||91234567|1
{T0 + 30}|c1|support|NONE|ABANDON|1|1|30
{T0 + 300}|c1|support|kari|PBXCTLCBRESULT|{{entry}}|NOANSWER|25|0||0|cb1
"""


def test_a_result_written_while_the_service_was_down_is_read_from_queue_log_once(tmp_path: Path):
    engine = new_engine(f"sqlite:///{tmp_path / 'cb.db'}")
    log = tmp_path / "queue_log"
    log.write_text("\n".join(QUEUE_LOG.splitlines()[:2]) + "\n")
    import_file(log, Ingestor(BatchWriter(engine, "pbx1"), Assembler()))
    feed_from_books(engine, "pbx1", RULES, NumberingPlan("47"), NOW)
    (listed,) = list_entries(engine)
    change_entry(engine, listed.id, lambda e: take(e, "kari", "cb1"), NOW)  # *47 (call cb1); the service goes down
    # the hangup handler's line, long after the customer's call ended: booked at once
    log.write_text(QUEUE_LOG.format(entry=listed.id))
    import_file(log, Ingestor(BatchWriter(engine, "pbx1"), Assembler()))
    for _ in range(2):  # fed twice (the overlap window): one attempt
        feed_from_books(engine, "pbx1", RULES, NumberingPlan("47"), NOW)
    stored = get_entry(engine, listed.id)
    assert (stored.status, stored.take_call, [a.result for a in stored.attempts]) == (Status.open, None, ["no_answer"])
    assert (stored.attempts[0].call_id, stored.attempts[0].started_at) == ("cb1", moment(275))
    # and the same result told live as well changes nothing
    with Session(engine) as session:
        before, after = record_result(session, parse_result(f"{listed.id}|NOANSWER|25|0||0|cb1", T0 + 300, "kari", "c1"),
                                      lambda q: RULES[q], NOW)
    assert before == after


def test_takes_no_live_call_holds_are_orphans():
    held = [take(entry(id=1), "kari", "live"), take(entry(id=2), "kari", "gone"), take(entry(id=3), "ola"),
            take(entry(id=4, queue="auto"), "ola"), take(entry(id=5), "kari", "ringing"), entry(id=6)]
    found = orphaned(held, live_calls={"live"}, ringing={5}, automatic={"auto"})
    # gone: its call ended without a result; 4: an automatic queue's, held by no call;
    # 3 was taken by hand and stays with its agent; 5 is being rung right now
    assert [e.id for e in found] == [2, 4]


def test_the_assembler_books_a_late_result_line_at_once():
    from pbxctl.books.queue_log import parse_line

    assembler = Assembler()
    lines = [parse_line(raw.encode()) for raw in QUEUE_LOG.format(entry=7).splitlines()]
    for line in lines[:2]:
        assembler.feed(line)
    assembler.tick(T0 + 60)  # the customer's call settles and is booked
    assert [c.callid for c in assembler.take()[0]] == ["c1"]
    assembler.feed(lines[2])  # no 10 s settle (nor the IVR's 15 min) for a call that ended long ago
    (piece,) = assembler.take()[0]
    assert (piece.callid, piece.stints, [e.event for e in piece.pbxctl_events]) == ("c1", [], ["PBXCTLCBRESULT"])
    assert assembler.pending == {}
