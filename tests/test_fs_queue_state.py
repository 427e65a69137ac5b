"""freeswitch/queue_state.py and member_actions.py, pure: the recorded mod_callcenter calls
(tests/fixtures/esl/, FreeSWITCH 1.10.12) replayed with their own event times, and the
`callcenter_config` commands the domain's member plans become."""

from __future__ import annotations

from pathlib import Path

import pytest

from esl_double.callcenter import MEMBER_COLUMNS
from esl_double.queue_calls import QueueCall
from pbxctl.domain.agent_membership import AddMember, PauseMember, RemoveMember
from pbxctl.freeswitch.callcenter_lists import parse_channels
from pbxctl.freeswitch.member_actions import commands, live_members
from pbxctl.freeswitch.queue_state import QueueState
from pbxctl.site.load import load_site

ROOT = Path(__file__).resolve().parents[1]
AGENTS = {"agent1001": "ingrid", "agent1002": "mina", "agent1003": "erik"}


def state() -> QueueState:
    st = QueueState("oslo", {"support": 30}, {"ingrid": "static", "mina": "static", "erik": "static"})
    for i, agent in enumerate(("ingrid", "mina", "erik"), start=1):
        st.set_tier("support", agent, 0, i, "Ready")
        st.set_status(agent, "Available", 0)
    return st


def at(event) -> float:
    return int(event.get("Event-Date-Timestamp")) / 1e6


@pytest.mark.parametrize("kind, outcome, wait, agent", [
    ("answered", "answered", 1.0, "ingrid"),
    ("abandoned", "abandoned", 3.0, None),
    ("timed_out", "timed_out", 6.0, None),
    ("no_agent", "exit_empty", 6.0, None),
    ("agent_no_answer", "answered", 9.0, "ingrid"),
])
def test_recorded_calls_end_with_their_outcome(kind, outcome, wait, agent):
    st = state()
    ended, waiting = [], []
    for event in QueueCall(kind, "support@oslo", "+4722445566", AGENTS).events():
        ended += st.apply(event, at(event))
        waiting.append(len(st.queues(at(event))["support"].callers))
    assert [(c.queue, c.outcome, c.wait_seconds, c.agent, c.caller_id) for c in ended] == [
        ("support", outcome, wait, agent, "+4722445566")]
    assert max(waiting) == 1 and waiting[-1] == 0
    counters = st.queues(at(event))["support"].counters
    assert getattr(counters, outcome) == 1 and counters.answered_within_sl == (outcome == "answered")


def test_answered_call_makes_the_agent_busy_until_the_bridge_ends():
    st = state()
    events = QueueCall("answered", "support@oslo", "+4722445566", AGENTS).events()
    states = {}
    for event in events:
        st.apply(event, at(event))
        view = st.queues(at(event))["support"]
        states.setdefault(event.get("CC-Action"), {m.interface: m.state for m in view.members})
    assert states["agent-offering"]["ingrid"] == "ringing"
    assert states["bridge-agent-start"]["ingrid"] == "busy"
    last = st.queues(at(events[-1]))["support"].members
    assert {m.interface: m.state for m in last}["ingrid"] == "available"  # wrap-up 0 here
    assert st.connected() == []


def test_a_queue_of_another_domain_is_not_ours():
    st = state()
    for event in QueueCall("answered", "support@elsewhere", "+4722445566", AGENTS).events():
        assert st.apply(event, at(event)) == []
    assert st.queues(0)["support"].counters.answered == 0


def test_resync_takes_waiting_and_answered_members_and_ends_the_vanished():
    st = state()
    events = QueueCall("abandoned", "support@oslo", "+4722445566", AGENTS).events()
    start = next(i for i, e in enumerate(events) if e.get("CC-Action") == "member-queue-start")
    for event in events[: start + 1]:
        st.apply(event, at(event))
    row = dict.fromkeys(MEMBER_COLUMNS, "0")
    row.update(queue="support@oslo", uuid="m2", session_uuid="s2", cid_number="+4711", cid_name="X",
               joined_epoch="1000", bridge_epoch="1010", serving_agent="mina", state="Answered")
    lists = {"queue": [{"name": "support@oslo", "strategy": "ring-all"}],
             "agent": [{"name": "mina", "status": "Available", "state": "In a queue call", "wrap_up_time": "5"}],
             "tier": [{"queue": "support@oslo", "agent": "mina", "state": "Ready", "level": "0", "position": "2"}]}
    ended = st.resync(lists, [row], [], 1020.0)
    assert sorted((c.outcome, c.uniqueid) for c in ended) == [("answered", "s2"), ("other", events[start]["CC-Member-Session-UUID"])]
    view = st.queues(1020.0)["support"]
    assert view.callers == [] and [(m.interface, m.state) for m in view.members] == [("mina", "busy")]
    assert st.resync(lists, [row], [], 1021.0) == []  # the same answered call is not counted twice


def test_show_channels_as_recorded():
    body = ("uuid,direction,created,created_epoch,name,state\n"
            "c0aa,outbound,2026-12-01 22:35:00,1796164500,loopback/cc_ringall-a,CS_EXECUTE\n\n1 total.\n")
    assert parse_channels(body) == [{"uuid": "c0aa", "direction": "outbound", "created": "2026-12-01 22:35:00",
                                     "created_epoch": "1796164500", "name": "loopback/cc_ringall-a", "state": "CS_EXECUTE"}]


@pytest.fixture(scope="module")
def site():
    return load_site(ROOT / "conf" / "example-freeswitch.yaml").site


def test_member_plans_become_callcenter_commands(site):
    logged_out = {"lars": "Logged Out"}
    ready = {("support", "lars"): "Ready"}
    assert commands(site, AddMember("lars", "support", 1, False, ""), logged_out, ready, set()) == [
        "callcenter_config agent set status lars Available"]
    assert commands(site, AddMember("lars", "support", 1, True, "lunch"), logged_out, {}, set()) == [
        "callcenter_config tier add support@oslo lars 1 3", "callcenter_config agent set status lars 'On Break'"]
    standby = {("support", "lars"): "Standby"}
    assert commands(site, AddMember("lars", "support", 1, False, ""), {"lars": "Available"}, standby, set()) == [
        "callcenter_config tier set state support@oslo lars Ready"]
    assert commands(site, RemoveMember("lars", "support"), {"lars": "Available"}, ready, set()) == [
        "callcenter_config tier set state support@oslo lars Standby", "callcenter_config agent set status lars 'Logged Out'"]
    assert commands(site, RemoveMember("lars", "support"), {"lars": "Available"}, ready, {"sales_east"}) == [
        "callcenter_config tier set state support@oslo lars Standby"]
    assert commands(site, PauseMember("ingrid", "support", True, "x"), {"ingrid": "Available"}, {}, set()) == [
        "callcenter_config agent set status ingrid 'On Break'"]


def test_live_members_read_back(site):
    live = live_members(site, {"ingrid": "On Break", "lars": "Logged Out", "mina": "Available"},
                        {("support", "ingrid"): "Ready", ("support", "lars"): "Ready", ("support", "mina"): "Standby",
                         ("support", "nobody"): "Ready"}, lambda a: "lunch")
    assert list(live["support"]) == ["ingrid"]
    assert live["support"]["ingrid"].paused and live["support"]["ingrid"].reason == "lunch"


def test_status_changes_become_the_books_agent_events():
    from pbxctl.books.agent_time import intervals
    from pbxctl.freeswitch.agent_events import status_events, tier_events

    events = (status_events("lars", "Logged Out", "Available", ["support", "sales_east"], 100)
              + status_events("lars", "Available", "On Break", ["support", "sales_east"], 130, "lunch")
              + tier_events("lars", "sales_east", "Ready", "Standby", "On Break", 140)
              + status_events("lars", "On Break", "Logged Out", ["support"], 160))
    assert [(e.queue, e.event, e.reason) for e in events] == [
        ("sales_east", "ADDMEMBER", "freeswitch"), ("support", "ADDMEMBER", "freeswitch"),
        ("NONE", "PAUSEALL", "lunch"), ("sales_east", "REMOVEMEMBER", "pbxctl"),
        ("support", "REMOVEMEMBER", "freeswitch"), ("NONE", "UNPAUSEALL", "")]
    spans = {(i.queue, i.kind): (i.start, i.end, i.reason) for i in intervals(events, 0, 1000)}
    assert spans == {("sales_east", "login"): (100, 140, ""), ("support", "login"): (100, 160, ""),
                     ("NONE", "pause"): (130, 160, "lunch")}
    assert tier_events("lars", "support", "Ready", "Standby", "Logged Out", 10) == []  # not in: no logout


def test_a_site_change_shows_new_queues_and_drops_removed_ones():
    st = state()
    st.configure({"support": 45, "billing": 20}, {"ingrid": "static"})
    views = st.queues(0)
    assert sorted(views) == ["billing", "support"] and views["support"].service_level == 45
    assert [m.interface for m in views["support"].members] == ["ingrid", "mina", "erik"]  # tiers kept
    st.configure({"billing": 20}, {})
    assert list(st.queues(0)) == ["billing"]


def test_a_caller_of_a_queue_the_site_dropped_still_ends():
    st = state()
    events = QueueCall("abandoned", "support@oslo", "+4722445566", AGENTS).events()
    start = next(i for i, e in enumerate(events) if e.get("CC-Action") == "member-queue-start")
    for event in events[: start + 1]:
        st.apply(event, at(event))
    st.configure({"billing": 20}, {})
    ended = [c for e in events[start + 1:] for c in st.apply(e, at(e))]
    assert [(c.queue, c.outcome) for c in ended] == [("support", "abandoned")]
