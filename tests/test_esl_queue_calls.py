"""The double's queue calls follow the recorded mod_callcenter sequences."""

from __future__ import annotations

import pytest

from pbxctl.freeswitch.esl_protocol import FrameReader, event_of

from esl_double.engine import Inbound
from esl_double.queue_calls import RECORDINGS, UUID, QueueCall, actions, recorded_events

AGENTS = {"agent1001": "alice", "agent1002": "bob", "agent1003": "carol", "agent1004": "dave"}
ENDS = {
    "answered": ("Terminated", None),
    "abandoned": ("Cancel", "BREAK_OUT"),
    "timed_out": ("Cancel", "TIMEOUT"),
    "no_agent": ("Cancel", "NO_AGENT_TIMEOUT"),
    "agent_no_answer": ("Terminated", None),
}


@pytest.mark.parametrize("kind", list(RECORDINGS))
def test_queue_call_follows_the_recorded_sequence(kind):
    call = QueueCall(kind, "support@default", "+4722445566", AGENTS)
    events = call.events()
    recorded = recorded_events(kind)
    assert actions(events) == actions(recorded)
    assert [e.name for e in events] == [e.name for e in recorded]
    assert actions(events)[0] == "member-queue-start"
    end = next(e for e in events if e.get("CC-Action") == "member-queue-end")
    assert (end["CC-Cause"], end.get("CC-Cancel-Reason")) == ENDS[kind]
    assert all(e["CC-Queue"] == "support@default" for e in events if "CC-Queue" in e)
    recorded_uuids = {u for e in recorded for _, v in e.headers for u in UUID.findall(v)}
    assert not any(u in v for e in events for _, v in e.headers for u in recorded_uuids)


def test_a_subscribed_client_gets_the_queue_call_framed_as_freeswitch_frames_it():
    engine = Inbound("ClueCon", api=lambda c: "", job_uuid=lambda: "")
    engine.receive(b"auth ClueCon\n\n")
    engine.receive(b"event plain CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE CUSTOM callcenter::info\n\n")
    events = QueueCall("abandoned", "support@default", "+4722445566", AGENTS).events()
    wire = b"".join(engine.emit(e) for e in events)
    got = [event_of(f) for f in FrameReader().feed(wire)]
    wanted = [e for e in events if e.name in ("CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE") or e.subclass == "callcenter::info"]
    assert [g.headers for g in got] == [w.headers for w in wanted]
    end = next(g for g in got if g.get("CC-Action") == "member-queue-end")
    assert (end["CC-Cancel-Reason"], end["CC-Member-CID-Number"]) == ("BREAK_OUT", "+4722445566")
