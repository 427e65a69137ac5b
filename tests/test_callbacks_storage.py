"""The callback list in the database: fed from the books (abandoned and answered stints),
IVR requests with their request row, takes and closes in one transaction, counts for
the metrics, and a schema that is the one the migration makes."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlmodel import Session

from pbxctl.books.tables import BooksCall, BooksQueueStint
from pbxctl.domain.callbacks import Attempt, CallbackError, QueueRules, Status, close, record_attempt, take
from pbxctl.domain.phone_numbers import NumberingPlan
from pbxctl.storage.callback_feed import FIRST_LOOK_BACK_S, caller_e164, feed_from_books
from pbxctl.storage.callback_list import (
    CALLBACK_TABLES,
    change_entry,
    counts,
    get_entry,
    linked_calls,
    list_entries,
)
from pbxctl.storage.callbacks import open_callbacks, record_callback
from pbxctl.storage.db import new_engine

UTC = dt.timezone.utc
NORWAY = NumberingPlan("47")
T0 = int(dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp())
NOW = dt.datetime.fromtimestamp(T0 + 3600, UTC)
RULES = {"support": QueueRules(min_wait=10)}


@pytest.fixture
def engine(tmp_path):
    return new_engine(f"sqlite:///{tmp_path / 'cb.db'}")


def book(engine, callid: str, number: str, queue: str, entered: int, outcome: str, wait: int, node="pbx1"):
    with Session(engine) as s:
        s.merge(BooksCall(node=node, callid=callid, started_at=T0 + entered, ended_at=T0 + entered + wait,
                          caller_number=number))
        s.add(BooksQueueStint(node=node, callid=callid, queue=queue, entered_at=T0 + entered,
                              ended_at=T0 + entered + wait, outcome=outcome, wait_seconds=wait,
                              answered_at=T0 + entered + wait if outcome == "answered" else None))
        s.commit()


def test_the_models_are_what_the_migration_makes(engine):
    wanted = MetaData()
    for table in CALLBACK_TABLES:
        table.__table__.to_metadata(wanted)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), wanted)
    ours = {t.__tablename__ for t in CALLBACK_TABLES}
    # Other tables' differences are theirs (the books' partial index, the live tables).
    mine = [d for d in diff if any(f"<{name}>" in repr(d) or f"'{name}'" in repr(d) for name in ours)]
    assert mine == []


def test_abandoned_calls_make_one_entry_per_number_with_the_calls_linked(engine):
    book(engine, "c1", "91234567", "support", 0, "abandoned", 30)
    book(engine, "c2", "+47 912 34 567", "support", 600, "abandoned", 12)
    book(engine, "c3", "22334455", "support", 700, "abandoned", 5)       # shorter than min_wait
    book(engine, "c4", "", "support", 800, "abandoned", 40)              # anonymous
    book(engine, "c5", "93333333", "sales_east", 900, "abandoned", 40)   # no callbacks for that queue
    result = feed_from_books(engine, "pbx1", RULES, NORWAY, NOW)
    assert (result.added, result.skipped) == (2, 2)
    (entry,) = list_entries(engine)
    assert (entry.queue, entry.number, entry.times_called, entry.status) == ("support", "+4791234567", 2, Status.open)
    assert entry.call_ids == ("c1", "c2") and entry.source == "abandoned"
    assert (entry.first_call_at, entry.last_call_at) == (dt.datetime.fromtimestamp(T0, UTC), dt.datetime.fromtimestamp(T0 + 600, UTC))
    assert [(c.node, c.callid, c.kind) for c in linked_calls(engine, entry.id)] == [("pbx1", "c1", "abandoned"), ("pbx1", "c2", "abandoned")]
    # fed again (a restart, the overlap window): nothing changes
    assert feed_from_books(engine, "pbx1", RULES, NORWAY, NOW).added == 0
    assert get_entry(engine, entry.id).times_called == 2


def test_an_answered_call_in_closes_the_entry(engine):
    book(engine, "c1", "91234567", "support", 0, "abandoned", 30)
    feed_from_books(engine, "pbx1", RULES, NORWAY, NOW)
    book(engine, "c2", "91234567", "support", 300, "answered", 8)
    result = feed_from_books(engine, "pbx1", RULES, NORWAY, NOW)
    assert result.closed == 1
    (entry,) = list_entries(engine)
    assert entry.status is Status.closed and entry.closed_by == "pbxctl" and "c2" in entry.close_reason
    assert [c.kind for c in linked_calls(engine, entry.id)] == ["abandoned", "answered_in"]


def test_a_new_database_looks_back_one_day(engine):
    book(engine, "old", "91234567", "support", -FIRST_LOOK_BACK_S - 7200, "abandoned", 30)
    book(engine, "new", "92222222", "support", 0, "abandoned", 30)
    feed_from_books(engine, "pbx1", RULES, NORWAY, NOW)
    assert [e.number for e in list_entries(engine)] == ["+4792222222"]


def test_ivr_requests_join_the_list_with_their_request_row(engine):
    at = dt.datetime.fromtimestamp(T0, UTC)
    record_callback(engine, node="pbx1", queue="support", number="+4791234567", requested_at=at, source="ivr",
                    ivr="main", element="offer_callback", call_id="i1")
    book(engine, "c1", "91234567", "support", 60, "abandoned", 30)
    feed_from_books(engine, "pbx1", RULES, NORWAY, NOW)
    (entry,) = list_entries(engine)
    assert (entry.source, entry.times_called, entry.call_ids) == ("ivr", 2, ("i1", "c1"))
    assert open_callbacks(engine, "support")[0].call_id == "i1"


def test_take_attempt_close_are_stored_and_refused_when_the_state_says_no(engine):
    book(engine, "c1", "91234567", "support", 0, "abandoned", 30)
    feed_from_books(engine, "pbx1", RULES, NORWAY, NOW)
    (entry,) = list_entries(engine)
    taken = change_entry(engine, entry.id, lambda e: take(e, "kari"), NOW)
    assert get_entry(engine, entry.id).status is Status.in_progress and taken.agent == "kari"
    with pytest.raises(CallbackError, match="in_progress by kari"):
        change_entry(engine, entry.id, lambda e: take(e, "ola"), NOW)
    rules = QueueRules(attempts=2)
    change_entry(engine, entry.id, lambda e: record_attempt(e, Attempt(NOW, "no_answer", "kari"), rules), NOW)
    change_entry(engine, entry.id, lambda e: record_attempt(e, Attempt(NOW, "busy", "kari"), rules), NOW)
    stored = get_entry(engine, entry.id)
    assert stored.status is Status.unanswered and [a.result for a in stored.attempts] == ["no_answer", "busy"]
    assert counts(engine) == ({"support": 1}, {("support", "no_answer"): 1, ("support", "busy"): 1})
    change_entry(engine, entry.id, lambda e: close(e, "kari", "customer wrote an e-mail", NOW), NOW)
    assert get_entry(engine, entry.id).close_reason == "customer wrote an e-mail"
    assert counts(engine) == ({}, {("support", "no_answer"): 1, ("support", "busy"): 1, ("support", "closed"): 1})
    with pytest.raises(CallbackError, match="no callback 99"):
        change_entry(engine, 99, lambda e: e, NOW)
    assert list_entries(engine, statuses=["open"]) == [] and len(list_entries(engine, queues=["support"])) == 1


@pytest.mark.parametrize("raw, e164", [("91234567", "+4791234567"), ("anonymous", ""), ("", ""), ("abc", ""),
                                       ("+46 8 123 456 78", "+46812345678")])
def test_caller_numbers_on_the_list(raw, e164):
    assert caller_e164(raw, NORWAY) == e164
