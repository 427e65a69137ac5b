"""Keep my place without a PBX: where the placeholder goes, which number the caller chose,
which entries a placeholder holds, the `callbacks.queues.X.keep_place_*` settings, what
is generated for them, and the held entries in the database."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.site_files import copy_example
from pbxctl.domain.callbacks import CallbackEntry, CallbackError, Status
from pbxctl.domain.keep_place import chosen_number, hold, holds_place, placeholder_position
from pbxctl.render.asterisk import generate_asterisk
from pbxctl.site.load import load_site
from pbxctl.storage.db import new_engine
from pbxctl.storage.keep_places import held_places, record_keep_place, record_left_unconfirmed
from test_callbacks_validation import problems

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


# --- the position rule ------------------------------------------------------------------

def test_the_placeholder_goes_behind_the_callers_who_joined_before_the_original_caller():
    # B joined at 100.5; A (100.0) is still waiting, C (101.2) and D (103) came later
    assert placeholder_position(100.5, [100.0, 101.2, 103.0]) == 2


def test_a_placeholder_whose_callers_ahead_were_all_served_is_first():
    assert placeholder_position(100.5, [101.2, 103.0]) == 1
    assert placeholder_position(100.5, []) == 1


def test_callers_ahead_count_to_the_millisecond_and_a_tie_is_not_ahead():
    assert placeholder_position(100.500, [100.499, 100.500, 100.501]) == 2


def test_another_placeholder_counts_with_its_original_callers_join_time():
    # a placeholder for a caller who joined at 99 (re-created later) is ahead of this one
    assert placeholder_position(100.5, [99.0, 101.0]) == 2


# --- the caller's choice and the held entry --------------------------------------------

@pytest.mark.parametrize("typed, caller, chosen", [
    ("1", "91234567", "91234567"),        # the own number
    ("41234567", "91234567", "41234567"),  # another one
    ("", "91234567", ""),                  # nothing (the policy refuses it: "no number")
    ("*", "91234567", "*"),
    ("12", "91234567", "12"),              # too short: the policy refuses it
])
def test_the_number_the_caller_chose(typed, caller, chosen):
    assert chosen_number(typed, caller) == chosen


def entry(**fields) -> CallbackEntry:
    return CallbackEntry(**{"queue": "support", "number": "+4791234567", "first_call_at": T0, "last_call_at": T0,
                            "source": "keep_place", **fields})


def test_a_held_entry_is_in_progress_without_an_agent():
    held = hold(entry())
    assert holds_place(held) and (held.status, held.agent) == (Status.in_progress, None)
    assert not holds_place(entry()) and not holds_place(entry(status=Status.in_progress, agent="kari"))


def test_an_entry_an_agent_is_calling_back_is_not_held_and_an_anonymous_caller_cannot_be():
    calling = entry(status=Status.in_progress, agent="kari")
    assert hold(calling) == calling
    with pytest.raises(CallbackError):
        hold(entry(number=""))


# --- the YAML ---------------------------------------------------------------------------

SECTION = "callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {%s}\n"


def test_a_keep_place_queue_validates_and_its_offer_is_a_periodic_announcement(tmp_path):
    site = copy_example(tmp_path)
    text = site.read_text()
    site.write_text(text[: text.index("\ncallbacks:")] + "\n"
                    + SECTION % "keep_place_key: '#', keep_place_offer: custom/offer, keep_place_prompt: custom/ask")
    files = generate_asterisk(load_site(site))
    queues, extensions = files["queues_pbxctl.conf"], files["extensions_pbxctl.conf"]
    support = queues.split("[support]", 1)[1].split("\n[", 1)[0]
    assert "periodic-announce = queue-periodic-announce,custom/offer" in support
    assert "context = pbxctl-keep-key-support" in support
    key_context = extensions.split("[pbxctl-keep-key-support]\n", 1)[1].split("\n\n", 1)[0]
    assert key_context.splitlines() == ["exten => #,1,Set(PBXCTL_KEEP_PROMPT=custom/ask)",
                                        " same => n,Goto(pbxctl-keep-place,s,1)"]
    # the other queues have no keep-place context
    assert queues.count("context = ") == 1


@pytest.mark.parametrize("settings, expected", [
    ("keep_place_key: '55'", "callbacks.queues.support.keep_place_key"),
    ("keep_place_key: 'x'", "callbacks.queues.support.keep_place_key"),
    ("keep_place_offer: custom/offer", "callbacks.queues.support: 'keep_place_offer' and 'keep_place_prompt' need 'keep_place_key'"),
    ("keep_place_key: '5', keep_place_prompt: 'a b'", "callbacks.queues.support.keep_place_prompt"),
])
def test_bad_keep_place_settings_are_named_with_their_line(tmp_path, settings, expected):
    found = problems(tmp_path, SECTION % settings)
    assert any(expected in p and "example.yaml:" in p for p in found), found


def test_an_offer_needs_the_queues_announcement_interval(tmp_path):
    site = copy_example(tmp_path)
    text = site.read_text().replace("announce: {prompt: queue-periodic-announce, interval: 60, hold_time: true}",
                                    "announce: {hold_time: true}")
    site.write_text(text[: text.index("\ncallbacks:")] + "\n" + SECTION % "keep_place_key: '5', keep_place_offer: custom/offer")
    from pbxctl.site.problems import SiteInvalid

    with pytest.raises(SiteInvalid) as raised:
        load_site(site)
    assert any("callbacks.queues.support.keep_place_offer: the offer is played as queue 'support''s periodic announcement"
               in str(p) for p in raised.value.problems), raised.value.problems


# --- the database -----------------------------------------------------------------------

def test_a_caller_who_keeps_a_place_is_held_once_with_the_join_time_and_position(tmp_path):
    engine = new_engine(f"sqlite:///{tmp_path / 'cb.db'}")
    joined = T0.timestamp() + 0.25
    first = record_keep_place(engine, "pbx1", "support", "+4791234567", joined, 3, "c1", T0)
    again = record_keep_place(engine, "pbx1", "support", "+4791234567", joined, 3, "c1", T0)  # a retried AGI
    assert first.id == again.id and (first.source, first.status, first.agent) == ("keep_place", Status.in_progress, None)
    (place,) = held_places(engine)
    assert (place.entry.id, place.queue, place.joined, place.position, place.call_id) == (first.id, "support", joined, 3, "c1")
    assert place.entry.times_called == 1 and place.entry.call_ids == ("c1",)


def test_a_caller_who_hung_up_while_confirming_is_an_open_request_without_a_placeholder(tmp_path):
    engine = new_engine(f"sqlite:///{tmp_path / 'cb.db'}")
    listed = record_left_unconfirmed(engine, "pbx1", "support", "+4791234567", T0.timestamp(), "c2", T0)
    assert (listed.status, listed.source) == (Status.open, "keep_place")
    assert held_places(engine) == []
