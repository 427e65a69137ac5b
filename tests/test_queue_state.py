"""QueueState: the controller's in-memory queue model, fed AMI events.

The first half replays tests/fixtures/ami/queue_load.ami[.gz], recorded from the sandbox
Asterisk under queue load by scripts/record_ami_events.py, the way the controller reads
a connection: QueueStatus and CoreShowChannels answers first (resync), the events that
came meanwhile after, then the rest. The second half is hand-written event sequences for
what a one-minute recording does not reliably show.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import random
from pathlib import Path

import pytest
from panoramisk.message import Message

from pbxctl.asterisk.panoramisk_glue import replay_bytes
from pbxctl.asterisk.queue_state import CallEnded, QueueState

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
STEP = 0.008  # seconds between replayed events (about the recording's own pace)
T0 = dt.datetime(2026, 11, 23, 10, 0, 0).timestamp()  # local time: counters are per local date


# ------------------------------------------------------------ the recording --


def recording() -> list[Message]:
    """The recording through the service's own framing (panoramisk's, via panoramisk_glue)."""
    packed, plain = FIXTURES / "queue_load.ami.gz", FIXTURES / "queue_load.ami"
    data = gzip.decompress(packed.read_bytes()) if packed.exists() else plain.read_bytes()
    return replay_bytes(data)


@pytest.fixture(scope="module")
def messages() -> list[dict[str, str]]:
    return recording()


def split_exchange(messages):
    """The QueueStatus / CoreShowChannels answers, the index after both are complete, and
    the events (no ActionID) in the recording."""
    status = [m for m in messages if m.get("ActionID") == "rec-queuestatus"]
    channels = [m for m in messages if m.get("ActionID") == "rec-channels"]
    done = max(
        i for i, m in enumerate(messages)
        if m.get("Event") in ("QueueStatusComplete", "CoreShowChannelsComplete")
    )
    events = [(i, m) for i, m in enumerate(messages) if "Event" in m and "ActionID" not in m]
    return status, channels, done, events


def replay(messages, state: QueueState | None = None, events=None) -> tuple[QueueState, list[CallEnded], float]:
    """As the controller does: events are held while the lists are in flight, then the
    resync, then the held events, then the rest. Returns the state, every CallEnded and
    the last `now`."""
    state = state or QueueState()
    status, channels, done, recorded = split_exchange(messages)
    events = recorded if events is None else events
    ended: list[CallEnded] = []
    now = T0
    held = [m for i, m in events if i <= done]
    ended += state.resync(status, channels, T0 + done * STEP)
    for m in held:
        ended += state.apply(m, T0 + done * STEP)
    for i, m in events:
        if i > done:
            now = T0 + i * STEP
            ended += state.apply(m, now)
    return state, ended, now


def named(messages, name):
    return [m for m in messages if m.get("Event") == name and "ActionID" not in m]


def test_recording_has_the_queue_events_it_was_made_for(messages):
    counts = collections.Counter(m.get("Event") for m in messages)
    for name in (
        "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentConnect",
        "AgentComplete", "AgentRingNoAnswer", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded",
        "QueueMemberRemoved", "QueueMemberPenalty", "UserEvent", "Hangup",
        "QueueParams", "QueueMember", "CoreShowChannel",
    ):
        assert counts[name] > 0, name
    # the field names QueueState reads, as Asterisk 22 sends them
    fields = {
        "QueueCallerJoin": {"Queue", "Uniqueid", "Channel", "CallerIDNum", "CallerIDName", "Position", "Count"},
        "QueueCallerLeave": {"Queue", "Uniqueid", "Position", "Count"},
        "QueueCallerAbandon": {"Queue", "Uniqueid", "Position", "OriginalPosition", "HoldTime"},
        "AgentCalled": {"Queue", "Uniqueid", "Interface", "MemberName", "DestChannel"},
        "AgentConnect": {"Queue", "Uniqueid", "Interface", "MemberName", "HoldTime", "RingTime", "DestUniqueid"},
        "AgentComplete": {"Queue", "Uniqueid", "Interface", "MemberName", "HoldTime", "TalkTime", "Reason"},
        "AgentRingNoAnswer": {"Queue", "Uniqueid", "Interface", "MemberName", "RingTime"},
        "QueueMemberStatus": {
            "Queue", "MemberName", "Interface", "StateInterface", "Membership", "Penalty", "CallsTaken",
            "LastCall", "InCall", "Status", "Paused", "PausedReason", "Ringinuse", "Wrapuptime",
        },
        "QueueMemberPause": {"Queue", "Interface", "Paused", "PausedReason"},
        "QueueMember": {"Queue", "Name", "Location", "StateInterface", "Membership", "Penalty", "CallsTaken", "LastCall", "InCall", "Status", "Paused", "PausedReason"},
        "QueueParams": {"Queue", "Strategy", "ServiceLevel"},
        "CoreShowChannel": {"Channel", "Uniqueid", "Application", "ApplicationData", "BridgeId", "Duration", "CallerIDNum"},
    }
    for name, wanted in fields.items():
        sample = next(m for m in messages if m.get("Event") == name)
        assert wanted <= set(sample), (name, wanted - set(sample))
    exits = [m for m in named(messages, "UserEvent") if m.get("UserEvent") == "PbxctlQueueExit"]
    assert exits and all({"Queue", "Status", "Uniqueid"} <= set(m) for m in exits)


def test_replay_counts_match_the_recorded_events(messages):
    state, ended, _ = replay(messages)
    views = state.queues()
    connects = collections.Counter(m["Queue"] for m in named(messages, "AgentConnect"))
    exit_events = {
        (m["Uniqueid"], m["Queue"]): m["Status"]
        for m in named(messages, "UserEvent") if m.get("UserEvent") == "PbxctlQueueExit"
    }
    exits = collections.Counter((queue, status) for (_, queue), status in exit_events.items())
    # App_queue sends QueueCallerAbandon for timeouts and leave-when-empty too (then the
    # dialplan's UserEvent follows); the callers who really hung up have no UserEvent.
    abandon_events = named(messages, "QueueCallerAbandon")
    abandons = collections.Counter(m["Queue"] for m in abandon_events if (m["Uniqueid"], m["Queue"]) not in exit_events)
    assert len(abandon_events) > sum(abandons.values()) > 5
    assert sum(connects.values()) > 20 and exits[("bench_sales", "TIMEOUT")] + exits[("bench_support", "TIMEOUT")] > 0
    for queue in set(connects) | set(abandons):
        counters = views[queue].counters
        assert counters.answered == connects[queue], queue
        assert counters.abandoned == abandons[queue], queue
        assert counters.timed_out == exits[(queue, "TIMEOUT")], queue
        assert counters.join_refused == exits[(queue, "JOINEMPTY")] + exits[(queue, "JOINUNAVAIL")], queue
        assert counters.exit_empty == exits[(queue, "LEAVEEMPTY")] + exits[(queue, "LEAVEUNAVAIL")], queue
        assert counters.answered_within_sl <= counters.answered
        assert counters.day == dt.date(2026, 11, 23)
    # one CallEnded per settled caller stay, agreeing with the counters
    by_outcome = collections.Counter(e.outcome for e in ended)
    assert by_outcome["answered"] == sum(connects.values())
    assert by_outcome["abandoned"] == sum(abandons.values())
    assert len({(e.uniqueid, e.queue, e.outcome) for e in ended}) == len(ended)
    names = {m["MemberName"] for m in named(messages, "AgentConnect")}
    assert {e.agent for e in ended if e.outcome == "answered"} <= names
    assert all(e.agent is None for e in ended if e.outcome != "answered")
    assert all(e.wait_seconds >= 0 for e in ended)


def test_replay_leaves_no_caller_waiting_and_members_idle(messages):
    state, _, now = replay(messages)
    views = state.queues(now + 60)
    assert {"bench_sales", "bench_support", "bench_vip"} <= set(views)
    assert all(not v.callers for v in views.values())
    assert state.pending() == []
    for view in views.values():
        assert view.strategy
        for member in view.members:
            assert member.state == "available", (view.name, member)
            assert not member.in_call and member.current_call is None
            assert not member.paused and member.pause_reason == ""
    # frode was added to both and removed again; the static members took calls
    assert all("Local/9106" not in m.interface for v in views.values() for m in v.members)
    assert sum(m.calls_taken for v in views.values() for m in v.members) > 20
    assert views["bench_sales"].service_level == 10 and views["bench_support"].service_level == 15


def test_replay_shows_pause_reasons_and_busy_members_on_the_way(messages):
    state = QueueState()
    status, channels, done, events = split_exchange(messages)
    state.resync(status, channels, T0)
    seen_states: set[str] = set()
    reasons: set[str] = set()
    waiting_max = 0
    for i, m in events:
        now = T0 + i * STEP
        state.apply(m, now)
        if m.get("Event") in ("QueueMemberPause", "AgentConnect", "AgentCalled", "AgentComplete", "QueueCallerJoin"):
            for view in state.queues(now).values():
                waiting_max = max(waiting_max, len(view.callers))
                assert [c.position for c in view.callers] == list(range(1, len(view.callers) + 1))
                for member in view.members:
                    seen_states.add(member.state)
                    if member.paused:
                        reasons.add(member.pause_reason)
                    if member.state == "busy" and member.current_call is not None:
                        assert member.in_call
    assert {"available", "ringing", "busy", "paused"} <= seen_states
    assert {"lunch", "meeting", "break"} <= reasons
    assert waiting_max >= 2


def shuffled(events, seed: int, passes: int = 3):
    """Swap neighbouring events that concern different channels / members: the orders
    Asterisk's separate stasis topics may deliver them in."""

    def keys(m):
        found = {m.get("Uniqueid"), m.get("DestUniqueid")} - {None, ""}
        if not found and m.get("Interface"):
            found = {"member:" + m["Interface"]}
        return found

    rng = random.Random(seed)
    events = list(events)
    for _ in range(passes):
        for j in range(len(events) - 1):
            a, b = events[j][1], events[j + 1][1]
            ka, kb = keys(a), keys(b)
            if ka and kb and not (ka & kb) and rng.random() < 0.5:
                events[j], events[j + 1] = events[j + 1], events[j]
    # keep each event's own time slot so `now` stays monotonic
    return [(i, m) for (i, _), (_, m) in zip(sorted(events, key=lambda e: e[0]), events)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_reordered_across_channels_gives_the_same_result(messages, seed):
    reference, _, now = replay(messages)
    _, _, _, events = split_exchange(messages)
    state, _, _ = replay(messages, events=shuffled(events, seed))
    expected, got = reference.queues(now + 60), state.queues(now + 60)
    for name, view in expected.items():
        assert got[name].counters == view.counters, name
        assert not got[name].callers
        assert [(m.interface, m.state, m.calls_taken) for m in got[name].members] == [
            (m.interface, m.state, m.calls_taken) for m in view.members
        ]


def test_replay_with_plain_dicts(messages):
    """The controller hands panoramisk's Message (case-insensitive keys) to apply; hand-written
    events in these tests are plain dicts: both read the same."""
    assert all(isinstance(m, Message) for m in messages)
    as_messages, _, now = replay(messages)
    as_dicts, _, _ = replay([dict(m) for m in messages])
    for name, view in as_messages.queues(now).items():
        assert as_dicts.queues(now)[name].counters == view.counters


# ---------------------------------------------------- hand-written sequences --


def ev(name: str, **fields: object) -> dict[str, str]:
    return {"Event": name, **{k: str(v) for k, v in fields.items()}}


def member(name: str, queue: str, iface: str, **fields: object) -> dict[str, str]:
    base = dict(
        Queue=queue, MemberName=iface.split("/")[-1].upper(), Interface=iface, StateInterface=iface,
        Membership="static", Penalty=0, CallsTaken=0, LastCall=0, LastPause=0, LoginTime=0, InCall=0,
        Status=1, Paused=0, PausedReason="", Ringinuse=0, Wrapuptime=0,
    )
    base.update(fields)
    return ev(name, **base)


def caller(uid: str, number: str = "4790000001", channel: str | None = None) -> dict[str, str]:
    return dict(Uniqueid=uid, Channel=channel or f"PJSIP/trunk-{uid}", CallerIDNum=number, CallerIDName="Kunde", Linkedid=uid)


def join(queue, uid, position=1, **kw):
    return ev("QueueCallerJoin", Queue=queue, Position=position, Count=position, **caller(uid, **kw))


def connect(queue, uid, iface, hold=5):
    return ev("AgentConnect", Queue=queue, Interface=iface, MemberName=iface[-4:], HoldTime=hold, RingTime=2, **caller(uid))


def complete(queue, uid, iface, hold=5, talk=30):
    return ev("AgentComplete", Queue=queue, Interface=iface, MemberName=iface[-4:], HoldTime=hold, TalkTime=talk, Reason="agent", **caller(uid))


def leave(queue, uid, position=1):
    return ev("QueueCallerLeave", Queue=queue, Position=position, Count=0, **caller(uid))


def exit_event(queue, uid, status):
    return ev("UserEvent", UserEvent="PbxctlQueueExit", Queue=queue, Status=status, **caller(uid))


def feed(state: QueueState, events, start: float = T0, step: float = 1.0) -> list[CallEnded]:
    ended: list[CallEnded] = []
    for k, e in enumerate(events):
        ended += state.apply(e, start + k * step)
    return ended


A, B = "PJSIP/1001", "PJSIP/1002"


def test_answered_call_and_member_states_through_wrapup():
    state = QueueState({"sales": 10}, {"sales": 15})
    state.apply(member("QueueMemberAdded", "sales", A), T0)
    state.apply(join("sales", "c1"), T0 + 1)
    assert [c.uniqueid for c in state.queues()["sales"].callers] == ["c1"]
    state.apply(ev("AgentCalled", Queue="sales", Interface=A, MemberName="1001", **caller("c1")), T0 + 2)
    assert state.queues()["sales"].members[0].state == "ringing"
    assert state.apply(leave("sales", "c1"), T0 + 4) == []  # not settled by the leave alone
    ended = state.apply(connect("sales", "c1", A, hold=3), T0 + 4)
    assert ended == [CallEnded("sales", "c1", "4790000001", T0 + 1, T0 + 4, "answered", 3.0, "1001")]
    m = state.queues()["sales"].members[0]
    assert (m.state, m.state_since, m.in_call) == ("busy", T0 + 4, True)
    assert m.current_call is not None and m.current_call.caller_id == "4790000001" and m.current_call.queue == "sales"
    state.apply(complete("sales", "c1", A, hold=3, talk=60), T0 + 64)
    state.apply(member("QueueMemberStatus", "sales", A, CallsTaken=1, LastCall=int(T0) + 3000), T0 + 64)  # Asterisk's clock is off
    m = state.queues(T0 + 70)["sales"].members[0]
    assert (m.state, m.state_since, m.calls_taken, m.last_call, m.wrapup) == ("wrapup", T0 + 64, 1, T0 + 64, 15)
    m = state.queues(T0 + 90)["sales"].members[0]
    assert (m.state, m.state_since, m.current_call) == ("available", T0 + 79, None)
    counters = state.counters("sales")
    assert (counters.answered, counters.answered_within_sl, counters.longest_answered_wait) == (1, 1, 3.0)


def test_member_wrapuptime_overrides_the_queue_and_the_service_level_decides_within():
    state = QueueState({"sales": 10}, {"sales": 15})
    state.apply(member("QueueMemberAdded", "sales", A, Wrapuptime=40), T0)
    feed(state, [join("sales", "c1"), connect("sales", "c1", A, hold=11), complete("sales", "c1", A, hold=11)])
    assert state.queues(T0 + 2 + 39)["sales"].members[0].state == "wrapup"
    assert state.queues(T0 + 2 + 40)["sales"].members[0].state == "available"
    assert state.counters("sales").answered_within_sl == 0  # 11 s > 10 s


def test_reordered_cross_channel_events_settle_the_same():
    state = QueueState()
    state.apply(member("QueueMemberAdded", "q", A), T0)
    state.apply(member("QueueMemberAdded", "q", B), T0)
    events = [
        join("q", "c1"),
        join("q", "c2", position=2),
        # the member's device status before the AgentConnect that caused it
        member("QueueMemberStatus", "q", A, Status=2, InCall=1),
        connect("q", "c1", A, hold=4),
        leave("q", "c1"),  # the leave after the connect
        # c2: the complete before the connect, the leave last
        complete("q", "c2", B, hold=6, talk=9),
        member("QueueMemberStatus", "q", B, Status=1, InCall=0, CallsTaken=1, LastCall=int(T0) + 6),
        connect("q", "c2", B, hold=6),
        leave("q", "c2"),
        # a status from before the call, arriving after it
        member("QueueMemberStatus", "q", B, Status=1, InCall=0),
    ]
    ended = feed(state, events)
    assert [(e.uniqueid, e.outcome) for e in ended] == [("c1", "answered"), ("c2", "answered")]
    view = state.queues()["q"]
    assert view.callers == [] and view.counters.answered == 2
    a, b = view.members
    assert (a.state, a.in_call, a.current_call.uniqueid) == ("busy", True, "c1")
    assert (b.in_call, b.current_call, b.calls_taken) == (False, None, 1)  # the late connect did not revive it
    feed(state, [complete("q", "c1", A), member("QueueMemberStatus", "q", A, Status=1, InCall=0)], start=T0 + 100)
    assert state.queues(T0 + 200)["q"].members[0].state == "available"


def test_abandon_before_or_after_its_leave_and_hangup_while_waiting():
    state = QueueState()
    ended = feed(state, [
        join("q", "c1"), join("q", "c2", position=2), join("q", "c3", position=3), join("q", "c4", position=4),
        ev("QueueCallerAbandon", Queue="q", Position=1, OriginalPosition=1, HoldTime=7, **caller("c1")),
        leave("q", "c1"),
        leave("q", "c2"),
        ev("QueueCallerAbandon", Queue="q", Position=1, OriginalPosition=2, HoldTime=8, **caller("c2")),
    ])
    # out of the queue, but not settled: app_queue says "abandon" for timeouts too
    assert ended == [] and [c.uniqueid for c in state.queues()["q"].callers] == ["c3", "c4"]
    assert sorted(c.uniqueid for c in state.pending()) == ["c1", "c2"]
    ended = feed(state, [
        ev("Hangup", Cause=16, **caller("c2")),
        ev("Hangup", Cause=16, **caller("c1")),
        ev("Hangup", Cause=16, **caller("c3")),  # abandon event lost: the hang-up while waiting counts
        # a timeout: abandon, leave, then the dialplan's UserEvent names it
        ev("QueueCallerAbandon", Queue="q", Position=1, OriginalPosition=4, HoldTime=9, **caller("c4")),
        leave("q", "c4"),
        exit_event("q", "c4", "TIMEOUT"),
        ev("Hangup", Cause=16, **caller("c4")),
    ], start=T0 + 10)
    assert [(e.uniqueid, e.outcome, e.wait_seconds) for e in ended] == [
        ("c2", "abandoned", 8.0), ("c1", "abandoned", 7.0), ("c3", "abandoned", 10.0), ("c4", "timed_out", 9.0)
    ]
    counters = state.counters("q")
    assert (counters.abandoned, counters.timed_out) == (3, 1) and state.queues()["q"].callers == []
    assert state.pending() == []


def test_duplicates_are_counted_once():
    state = QueueState()
    ended = feed(state, [
        join("q", "c1"), join("q", "c1"),  # duplicate join
        join("q", "c2", position=2),
    ])
    assert ended == [] and [c.uniqueid for c in state.queues()["q"].callers] == ["c1", "c2"]
    ended = feed(state, [
        connect("q", "c1", A), connect("q", "c1", A), leave("q", "c1"), leave("q", "c1"),
        ev("QueueCallerAbandon", Queue="q", Position=1, HoldTime=3, **caller("c2")),
        ev("QueueCallerAbandon", Queue="q", Position=1, HoldTime=3, **caller("c2")),
        complete("q", "c1", A), complete("q", "c1", A),
        member("QueueMemberStatus", "q", A, CallsTaken=1, LastCall=int(T0) + 13),
        ev("Hangup", Cause=16, **caller("c2")), ev("Hangup", Cause=16, **caller("c2")),
        exit_event("q", "c2", "TIMEOUT"),  # settled already: a late copy changes nothing
        exit_event("q", "c1", "CONTINUE"),  # answered, then went on in the dialplan
    ], start=T0 + 10)
    assert [(e.uniqueid, e.outcome) for e in ended] == [("c1", "answered"), ("c2", "abandoned")]
    counters = state.counters("q")
    assert (counters.answered, counters.abandoned, counters.other, counters.total) == (1, 1, 0, 2)
    assert state.queues()["q"].members[0].calls_taken == 1


def test_unknown_queues_and_uniqueids_do_not_break_anything():
    state = QueueState({"known": 30})
    # events about callers never seen join, and queues never listed
    ended = feed(state, [
        leave("ghost", "x1"),
        ev("Hangup", Cause=16, **caller("x2")),
        ev("AgentRingNoAnswer", Queue="ghost", Interface=A, MemberName="1001", RingTime=15, **caller("x3")),
        ev("AgentComplete", Queue="ghost", Interface=A, MemberName="1001", HoldTime=2, TalkTime=5, Reason="caller", **caller("x4")),
        ev("QueueCallerAbandon", Queue="other", Position=1, HoldTime=12, **caller("x5")),
        ev("Hangup", Cause=16, **caller("x5")),
        ev("QueueMemberRemoved", Queue="nowhere", Interface=B),
        ev("QueueMemberPause", Queue="fresh", Interface=B, MemberName="B", Paused=1, PausedReason="coffee"),
        ev("UserEvent", UserEvent="SomethingElse", Queue="known"),
        ev("Newchannel", **caller("x6")),
        {"Response": "Success", "ActionID": "1"},
        {},
    ])
    # an abandon whose join we never saw counts; a call completed that was answered
    # before we watched does not
    assert [(e.queue, e.outcome, e.joined_at) for e in ended] == [("other", "abandoned", T0 - 8)]
    assert state.pending() == []
    views = state.queues()
    assert set(views) == {"ghost", "other", "fresh"}
    assert views["fresh"].members[0].state == "paused" and views["fresh"].members[0].pause_reason == "coffee"
    assert views["ghost"].members == [] and views["ghost"].service_level == 20
    # an answer for a caller never seen joining counts, once
    ended = feed(state, [connect("known", "x7", A, hold=40), connect("known", "x7", A, hold=40)], start=T0 + 20)
    assert [(e.outcome, e.joined_at, e.wait_seconds) for e in ended] == [("answered", T0 - 20, 40.0)]
    assert state.counters("known").answered == 1 and state.counters("known").answered_within_sl == 0


def test_pause_with_reason_and_unpause():
    state = QueueState()
    state.apply(member("QueueMemberAdded", "q", A, Membership="dynamic"), T0)
    assert state.queues()["q"].members[0].membership == "dynamic"
    state.apply(member("QueueMemberPause", "q", A, Paused=1, PausedReason="lunch"), T0 + 10)
    m = state.queues()["q"].members[0]
    assert (m.paused, m.pause_reason, m.state, m.state_since) == (True, "lunch", "paused", T0 + 10)
    # a status change while paused keeps the member paused (and its reason)
    state.apply(member("QueueMemberStatus", "q", A, Paused=1, PausedReason="lunch", Status=5), T0 + 20)
    assert state.queues()["q"].members[0].state == "paused"
    state.apply(member("QueueMemberPause", "q", A, Paused=0, PausedReason="", Status=5), T0 + 30)
    m = state.queues()["q"].members[0]
    assert (m.paused, m.pause_reason, m.state, m.state_since) == (False, "", "unavailable", T0 + 30)
    state.apply(member("QueueMemberStatus", "q", A, Status=1), T0 + 40)
    state.apply(member("QueueMemberPenalty", "q", A, Penalty=3), T0 + 41)
    m = state.queues()["q"].members[0]
    assert (m.state, m.penalty) == ("available", 3)
    state.apply(member("QueueMemberRemoved", "q", A), T0 + 50)
    assert state.queues()["q"].members == []


def test_ring_all_stops_the_other_ringing_members_when_one_answers():
    state = QueueState()
    for iface in (A, B):
        state.apply(member("QueueMemberAdded", "q", iface), T0)
    feed(state, [
        join("q", "c1"),
        ev("AgentCalled", Queue="q", Interface=A, MemberName="A", **caller("c1")),
        ev("AgentCalled", Queue="q", Interface=B, MemberName="B", **caller("c1")),
    ])
    assert [m.state for m in state.queues()["q"].members] == ["ringing", "ringing"]
    state.apply(connect("q", "c1", A), T0 + 5)
    assert [m.state for m in state.queues()["q"].members] == ["busy", "available"]
    # and a caller who hangs up while members ring stops them ringing
    feed(state, [join("q", "c2"), ev("AgentCalled", Queue="q", Interface=B, MemberName="B", **caller("c2"))], start=T0 + 6)
    feed(state, [ev("QueueCallerAbandon", Queue="q", Position=1, HoldTime=2, **caller("c2")), leave("q", "c2")], start=T0 + 8)
    assert state.queues()["q"].members[1].state == "available"


def test_device_states_map_to_member_states():
    state = QueueState()
    state.apply(member("QueueMemberAdded", "q", A), T0)
    expected = {0: "available", 1: "available", 2: "busy", 3: "busy", 4: "unavailable", 5: "unavailable", 6: "ringing", 7: "ringing", 8: "busy"}
    for status, name in expected.items():
        state.apply(member("QueueMemberStatus", "q", A, Status=status), T0 + status)
        m = state.queues()["q"].members[0]
        assert (m.device_status, m.state) == (status, name)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("TIMEOUT", "timed_out"),
        ("LEAVEEMPTY", "exit_empty"),
        ("LEAVEUNAVAIL", "exit_empty"),
        ("WITHDRAW", "other"),
    ],
)
def test_user_event_settles_a_caller_who_left_unanswered(status, outcome):
    state = QueueState()
    ended = feed(state, [join("q", "c1", number="555"), leave("q", "c1")])
    assert ended == [] and [c.uniqueid for c in state.pending()] == ["c1"]
    ended = state.apply(exit_event("q", "c1", status), T0 + 30)
    assert [(e.outcome, e.wait_seconds, e.caller_id, e.agent) for e in ended] == [(outcome, 30.0, "555", None)]
    assert getattr(state.counters("q"), outcome) == 1 and state.pending() == []
    assert state.apply(ev("Hangup", Cause=16, **caller("c1")), T0 + 31) == []  # settled already


@pytest.mark.parametrize("status", ["JOINEMPTY", "JOINUNAVAIL", "FULL"])
def test_user_event_for_a_caller_who_never_joined(status):
    state = QueueState()
    ended = state.apply(exit_event("q", "c1", status), T0)
    expected = "other" if status == "FULL" else "join_refused"
    assert [(e.outcome, e.wait_seconds, e.joined_at) for e in ended] == [(expected, 0.0, T0)]
    assert state.apply(exit_event("q", "c1", status), T0 + 1) == []  # a duplicate
    assert state.counters("q").total == 1 and state.queues()["q"].callers == []


def test_pending_caller_hanging_up_without_user_event_is_other():
    state = QueueState()
    feed(state, [join("q", "c1"), leave("q", "c1")])
    ended = state.apply(ev("Hangup", Cause=16, **caller("c1")), T0 + 20)
    assert [(e.outcome, e.wait_seconds) for e in ended] == [("other", 20.0)]


def test_overflow_to_another_queue_is_two_stays():
    state = QueueState()
    ended = feed(state, [
        join("first", "c1"), leave("first", "c1"), exit_event("first", "c1", "TIMEOUT"),
        join("second", "c1"), connect("second", "c1", A, hold=2),
    ])
    assert [(e.queue, e.outcome) for e in ended] == [("first", "timed_out"), ("second", "answered")]
    # a join elsewhere while still pending here: the pending stay ends as `other`
    ended = feed(state, [join("first", "c2"), leave("first", "c2"), join("second", "c2")], start=T0 + 10)
    assert [(e.queue, e.outcome) for e in ended] == [("first", "other")]
    assert [c.uniqueid for c in state.queues()["second"].callers] == ["c2"]


def test_rejoining_the_same_queue_is_a_new_stay():
    state = QueueState()
    state.apply(member("QueueMemberAdded", "b", B), T0 - 1)
    ended = feed(state, [
        join("a", "c1"), ev("QueueCallerAbandon", Queue="a", Position=1, HoldTime=3, **caller("c1")),
        leave("a", "c1"), exit_event("a", "c1", "TIMEOUT"),
        join("b", "c1"), ev("AgentCalled", Queue="b", Interface=B, MemberName="B", **caller("c1")),
    ])
    assert state.queues()["b"].members[0].state == "ringing"  # a caller settled once may ring again
    ended += feed(state, [
        leave("b", "c1"), exit_event("b", "c1", "LEAVEEMPTY"),
        join("a", "c1"), connect("a", "c1", A, hold=1), leave("a", "c1"),
    ], start=T0 + 10)
    assert [(e.queue, e.outcome) for e in ended] == [("a", "timed_out"), ("b", "exit_empty"), ("a", "answered")]
    assert state.counters("a").total == 2 and state.pending() == []
    assert state.queues()["b"].members[0].state == "available"


def test_complete_before_connect_of_a_caller_never_seen_leaves_the_member_free():
    state = QueueState()
    state.apply(member("QueueMemberAdded", "q", A), T0)
    feed(state, [complete("q", "x1", A), connect("q", "x1", A)], start=T0 + 1)
    m = state.queues()["q"].members[0]
    assert (m.in_call, m.state) == (False, "available")
    assert state.counters("q").answered == 1  # the AgentConnect counts it, once


def test_member_removed_while_talking_is_not_brought_back():
    state = QueueState()
    feed(state, [
        member("QueueMemberAdded", "q", B, Membership="dynamic"),
        join("q", "c1"),
        ev("AgentCalled", Queue="q", Interface=B, MemberName="B", **caller("c1")),
        member("QueueMemberRemoved", "q", B, Membership="dynamic"),  # logged out while it rang
        connect("q", "c1", B),
        complete("q", "c1", B),
    ])
    view = state.queues()["q"]
    assert view.members == [] and view.counters.answered == 1


def test_positions_follow_joins_ahead_and_leaves():
    state = QueueState()
    feed(state, [join("q", "c1", 1), join("q", "c2", 2), join("q", "vip", 1), join("q", "c3", 4)])
    assert [(c.uniqueid, c.position) for c in state.queues()["q"].callers] == [("vip", 1), ("c1", 2), ("c2", 3), ("c3", 4)]
    feed(state, [leave("q", "c1", 2)], start=T0 + 10)
    state.apply(ev("QueueCallerAbandon", Queue="q", Position=1, HoldTime=1, **caller("vip")), T0 + 11)
    assert [(c.uniqueid, c.position) for c in state.queues()["q"].callers] == [("c2", 1), ("c3", 2)]


def status_messages() -> list[dict[str, str]]:
    return [
        {"Response": "Success", "ActionID": "s", "EventList": "start", "Message": "Queue status will follow"},
        ev("QueueParams", Queue="sales", Max=0, Strategy="leastrecent", Calls=2, Holdtime=10, TalkTime=60,
           Completed=7, Abandoned=1, ServiceLevel=25, ServicelevelPerf=80.0, ServicelevelPerf2=70.0, Weight=0, ActionID="s"),
        ev("QueueMember", Queue="sales", Name="Kari", Location=A, StateInterface=A, Membership="static", Penalty=0,
           CallsTaken=5, LastCall=int(T0) - 600, LastPause=0, LoginTime=0, InCall=1, Status=2, Paused=0, PausedReason="",
           Wrapuptime=0, ActionID="s"),
        ev("QueueMember", Queue="sales", Name="Ola", Location=B, StateInterface=B, Membership="dynamic", Penalty=1,
           CallsTaken=2, LastCall=int(T0) - 5, LastPause=0, LoginTime=0, InCall=0, Status=1, Paused=1, PausedReason="training",
           Wrapuptime=0, ActionID="s"),
        ev("QueueEntry", Queue="sales", Position=1, Channel="PJSIP/trunk-w1", Uniqueid="w1", CallerIDNum="111",
           CallerIDName="First", ConnectedLineNum="", ConnectedLineName="", Priority=0, Wait=40, ActionID="s"),
        ev("QueueEntry", Queue="sales", Position=2, Channel="PJSIP/trunk-w2", Uniqueid="w2", CallerIDNum="222",
           CallerIDName="Second", ConnectedLineNum="", ConnectedLineName="", Priority=0, Wait=12, ActionID="s"),
        ev("QueueStatusComplete", EventList="Complete", ListItems=5, ActionID="s"),
    ]


def channel_messages() -> list[dict[str, str]]:
    def chan(name, uid, app, data, bridge="", duration="00:00:30", number=""):
        return ev("CoreShowChannel", Channel=name, Uniqueid=uid, Linkedid=uid, Context="x", Exten="s", Priority=1,
                  ChannelState=6, ChannelStateDesc="Up", Application=app, ApplicationData=data, CallerIDNum=number,
                  CallerIDName="", ConnectedLineNum="", ConnectedLineName="", Duration=duration, BridgeId=bridge,
                  AccountCode="", ActionID="c")

    return [
        {"Response": "Success", "ActionID": "c", "EventList": "start", "Message": "Channels will follow"},
        chan("PJSIP/trunk-w1", "w1", "Queue", "sales,t,,,240", number="111"),
        chan("PJSIP/trunk-w2", "w2", "Queue", "sales,t,,,240", number="222"),
        chan("PJSIP/trunk-t1", "t1", "Queue", "sales,t,,,240", bridge="br-1", duration="00:02:00", number="333"),
        chan("PJSIP/1001-0000002a", "m1", "AppQueue", "(Outgoing Line)", bridge="br-1"),
        chan("PJSIP/trunk-p1", "p1", "Goto", "pbxctl-queue-exit,sales,1", number="444"),
        ev("CoreShowChannelsComplete", EventList="Complete", ListItems=5, ActionID="c"),
    ]


def test_resync_from_queue_status_and_channels_then_events():
    state = QueueState({"sales": 20})
    # state from before a reconnect: an answered call counted, a waiting caller who is
    # gone now, one pending in the dialplan, one still waiting
    feed(state, [
        join("sales", "old"), connect("sales", "old", A, hold=3),
        join("sales", "gone", 1), join("sales", "p1", 2), join("sales", "w1", 3),
        leave("sales", "p1", 2),
    ], start=T0 - 100)
    ended = state.resync(status_messages(), channel_messages(), T0)
    assert [(e.uniqueid, e.outcome) for e in ended] == [("gone", "other")]
    view = state.queues()["sales"]
    assert (view.strategy, view.service_level) == ("leastrecent", 20)  # the site's value over QueueParams'
    assert [(c.uniqueid, c.position, c.caller_id) for c in view.callers] == [("w1", 1, "111"), ("w2", 2, "222")]
    assert view.callers[0].joined_at == T0 - 100 + 4  # known before: its own join time is kept
    assert view.callers[1].joined_at == T0 - 12  # from QueueEntry's Wait
    kari, ola = view.members
    assert (kari.name, kari.state, kari.in_call, kari.calls_taken) == ("Kari", "busy", True, 5)
    assert kari.current_call is not None and (kari.current_call.uniqueid, kari.current_call.caller_id) == ("t1", "333")
    assert kari.current_call.joined_at == T0 - 120 and kari.current_call.queue == "sales"
    assert (ola.name, ola.state, ola.pause_reason, ola.membership, ola.penalty) == ("Ola", "paused", "training", "dynamic", 1)
    assert view.counters.answered == 1 and view.counters.other == 1  # today's counters stay
    assert [c.uniqueid for c in state.pending()] == ["p1"]
    # events go on from the resynced state
    ended = feed(state, [
        exit_event("sales", "p1", "TIMEOUT"),
        complete("sales", "t1", A, hold=8, talk=100),  # answered before we knew: not counted now
        connect("sales", "old", A),  # a stale duplicate from before the reconnect
        connect("sales", "w1", B, hold=41), leave("sales", "w1"),
        member("QueueMemberPause", "sales", B, Name="Ola", Paused=0),
    ], start=T0 + 1)
    assert [(e.uniqueid, e.outcome) for e in ended] == [("p1", "timed_out"), ("w1", "answered")]
    view = state.queues()["sales"]
    assert [c.uniqueid for c in view.callers] == ["w2"]
    assert view.counters.answered == 2 and view.counters.answered_within_sl == 1
    assert view.members[0].current_call is None and view.members[1].current_call.uniqueid == "w1"


def test_resync_drops_queues_and_members_asterisk_no_longer_has():
    state = QueueState()
    feed(state, [member("QueueMemberAdded", "old_queue", A), join("old_queue", "z"), member("QueueMemberAdded", "sales", "PJSIP/9999")])
    state.resync(status_messages(), [], T0)
    assert set(state.queues()) == {"sales"}
    assert [m.interface for m in state.queues()["sales"].members] == [A, B]


def test_counters_roll_over_at_local_midnight():
    state = QueueState()
    late = dt.datetime(2026, 11, 23, 23, 59, 50).timestamp()
    feed(state, [join("q", "c1"), ev("QueueCallerAbandon", Queue="q", Position=1, HoldTime=1, **caller("c1")),
                 ev("Hangup", Cause=16, **caller("c1"))], start=late)
    assert (state.counters("q").abandoned, state.counters("q").day) == (1, dt.date(2026, 11, 23))
    state.apply(join("q", "c2"), late + 2)  # a waiting caller crosses midnight
    assert state.counters("q").abandoned == 1
    ended = state.apply(connect("q", "c2", A, hold=15), late + 15)
    counters = state.counters("q")
    assert (counters.day, counters.answered, counters.abandoned) == (dt.date(2026, 11, 24), 1, 0)
    assert ended[0].joined_at == late + 2 and state.counters("unseen").day == dt.date(2026, 11, 24)
    assert state.queues()["q"].counters == counters


def test_snapshots_are_copies():
    state = QueueState()
    feed(state, [member("QueueMemberAdded", "q", A), join("q", "c1"), connect("q", "c1", A)])
    view = state.queues()["q"]
    view.counters.answered = 99
    view.callers.append(view.members[0].current_call)
    view.members.clear()
    state.counters("q").answered = 42
    again = state.queues()["q"]
    assert again.counters.answered == 1 and again.callers == [] and len(again.members) == 1


def test_restore_today_counts_todays_recorded_calls_once():
    import datetime as _dt

    from pbxctl.asterisk.queue_state import CallEnded, QueueState

    now = _dt.datetime(2026, 11, 23, 15, 0).timestamp()
    yesterday = now - 86400
    state = QueueState({"support": 20})
    calls = [
        CallEnded("support", "u1", "+4711", now - 600, now - 560, "answered", 12.0, "Ingrid"),
        CallEnded("support", "u2", "+4712", now - 500, now - 400, "answered", 45.0, "Mina"),
        CallEnded("support", "u3", "+4713", now - 300, now - 290, "abandoned", 10.0, None),
        CallEnded("support", "u4", "+4714", yesterday - 60, yesterday, "answered", 5.0, "Ingrid"),
    ]
    assert state.restore_today(calls, now) == 3
    assert state.restore_today(calls, now) == 0  # the same calls again: not counted twice
    c = state.counters("support")
    assert (c.answered, c.abandoned, c.answered_within_sl) == (2, 1, 1)
