"""LiveCalls, the service's view of calls in progress, fed AMI traffic recorded from the
sandbox Asterisk while tests/test_supervision_asterisk.py ran (PBXCTL_RECORD_AMI_DIR):

- supervision_barge.ami.gz: a queue call, `pbxctl barge a1 --mode listen --from 8101`,
  `--set-mode whisper`, key 6 (both), key 4 (listen), the agent hangs up;
- supervision_help.ami.gz: the agent presses *9; supervisor s1 is rung into whisper;
- supervision_three_way.ami.gz: *71 9001 from the agent's second line, the third party
  answers, the second line hangs up, the agent leaves the conference, the rest hang up.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from pbxctl.asterisk.panoramisk_glue import replay_bytes
from pbxctl.asterisk.live_calls import LiveCalls

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
AGENTS = {"Local/7101@pbxctl-sv-phones/n": "a1", "Local/7102@pbxctl-sv-phones/n": "a2"}
SUPERVISORS = {"Local/8101@pbxctl-sv-phones": "s1", "Local/8102@pbxctl-sv-phones": "s2"}


def supervisor_of(channel: str) -> str | None:
    from pbxctl.asterisk.wire import member_key

    return SUPERVISORS.get(member_key(channel))


def recording(name: str):
    """The recording through the service's own framing (panoramisk's, via panoramisk_glue)."""
    return replay_bytes(gzip.decompress((FIXTURES / f"supervision_{name}.ami.gz").read_bytes()))


def replay(messages, until=lambda m: False):
    """Feed events (not action answers) until one matches `until` (inclusive)."""
    calls = LiveCalls(lambda: AGENTS, supervisor_of)
    helps = []
    for i, msg in enumerate(messages):
        if "Event" in msg and "ActionID" not in msg:
            helps += calls.apply(msg, float(msg["X-Pbxctl-T"]))
        if until(msg):
            return calls, helps, i
    return calls, helps, len(messages)


def is_user_event(kind: str, **fields):
    return lambda m: m.get("Event") == "UserEvent" and m.get("UserEvent") == kind and all(m.get(k) == v for k, v in fields.items())


def spy_started(m):
    return m.get("Event") == "ChanSpyStart" and m.get("SpyerChannel", "").startswith("Local/8101@")


def test_a_queue_call_is_live_from_agent_connect_with_its_caller_agent_and_queue():
    calls, _, _ = replay(recording("barge"), lambda m: m.get("Event") == "AgentConnect")
    [call] = calls.listing(1.0)
    assert call["agent"] == "a1" and call["queue"] == "help_desk"
    assert call["caller"].startswith("4790") and call["state"] == "talking" and call["listeners"] == []
    assert call["agent_channel"].startswith("Local/7101@pbxctl-sv-phones-") and call["agent_channel"].endswith(";1")
    assert calls.find("a1") is calls.find(call["call"]) is calls.find(call["agent_channel"])


def test_barge_sessions_show_who_listens_in_which_mode_through_every_switch():
    messages = recording("barge")
    modes = []
    start = 0
    for _ in range(4):
        calls, _, index = replay(messages, lambda m, s=start: spy_started(m) and messages.index(m) > s)
        start = index
        [call] = calls.listing(0)
        [listener] = call["listeners"]
        assert listener["supervisor"] == "s1"
        modes.append(listener["mode"])
    assert modes == ["listen", "whisper", "both", "listen"]
    calls, _, _ = replay(messages)
    assert calls.listing(0) == [], "the call ended with the agent hanging up"


def test_the_agent_notice_whisperer_is_not_a_listener():
    # ChanSpy runs only for sessions the dialplan announced with PbxctlBarge.
    calls = LiveCalls(lambda: AGENTS)
    calls.apply({"Event": "AgentConnect", "Uniqueid": "1.1", "Channel": "C;1", "DestChannel": "A;1",
                 "Interface": "Local/7101@pbxctl-sv-phones/n", "Queue": "help_desk"}, 0)
    calls.apply({"Event": "ChanSpyStart", "SpyerChannel": "X;1", "SpyeeChannel": "A;1"}, 1)
    assert calls.listing(1)[0]["listeners"] == []


def test_help_request_marks_the_call_once_and_counts_it():
    messages = recording("help")
    calls, helps, _ = replay(messages, is_user_event("PbxctlHelp"))
    [call] = calls.listing(0)
    assert call["help_requested"] and len(helps) == 1 and helps[0].call.agent == "a1"
    assert calls.help_total == {"help_desk": 1}
    calls, helps, _ = replay(messages, lambda m: m.get("Event") == "ChanSpyStart" and "@pbxctl-help-ring" in m.get("SpyerChannel", ""))
    [listener] = calls.listing(0)[0]["listeners"]
    # s1's phone answered the help ring (supervision.help.ring: [s1]): named, not "help"
    assert listener == {**listener, "supervisor": "s1", "mode": "whisper"}


def test_three_way_call_stays_live_when_the_agent_leaves():
    messages = recording("three_way")
    calls, _, _ = replay(messages, is_user_event("PbxctlConference"))
    [call] = calls.listing(0)
    assert call["state"] == "conference" and call["third_party"] == "9001"
    agent_channel = call["agent_channel"]
    calls, _, _ = replay(messages, lambda m: m.get("Event") == "Hangup" and m.get("Channel") == agent_channel)
    [call] = calls.listing(0)
    assert call["state"] == "conference", "caller and third party go on"
    calls, _, _ = replay(messages)
    assert calls.listing(0) == []


def test_resync_rebuilds_calls_and_sessions_from_core_show_channels():
    """After a reconnect the service has only CoreShowChannels: a channel of an agent's
    device bridged with a caller in Queue is a call; a ChanSpy with X is a session."""
    messages = recording("barge")
    # the CoreShowChannels answer the test asked for while s1 listened in whisper mode
    lists: list[list[dict]] = []
    current: list[dict] = []
    for m in messages:
        if m.get("Event") == "CoreShowChannel":
            current.append(m)
        elif m.get("Event") == "CoreShowChannelsComplete":
            lists.append(current)
            current = []
    with_whisper = next(rows for rows in lists if any(r.get("Application") == "ChanSpy" and "w" in r["ApplicationData"].split(",")[1] for r in rows))
    calls = LiveCalls(lambda: AGENTS)
    calls.resync(with_whisper, now=100.0)
    [call] = calls.listing(100.0)
    assert call["agent"] == "a1" and call["queue"] == "help_desk"
    assert [lis["mode"] for lis in call["listeners"]] == ["whisper"]
    # and what has gone since is dropped by the next resync
    calls.resync([], now=101.0)
    assert calls.listing(101.0) == []


def test_asterisks_own_three_way_is_noticed_from_the_attended_transfer_event():
    # Fields as Asterisk 22 sent them in test_attended_transfer_from_the_cli_and_in_call_three_way.
    from pbxctl.asterisk.live_calls import ThreeWayJoined

    connect = {"Event": "AgentConnect", "Uniqueid": "1795974958.388", "CallerIDNum": "4790495201",
               "Channel": "Local/4790495201@pbxctl-sv-callers-000000c2;1",
               "DestChannel": "Local/7101@pbxctl-sv-phones-000000c3;1",
               "Interface": "Local/7101@pbxctl-sv-phones/n", "Queue": "help_desk"}
    transfer = {"Event": "AttendedTransfer", "Result": "Success", "DestType": "Threeway",
                "OrigTransfererChannel": "Local/7101@pbxctl-sv-phones-000000c3;1",
                "TransfereeUniqueid": "1795974958.388", "TransferTargetExten": "9001",
                "TransferTargetCallerIDNum": "<unknown>"}
    handed_over = LiveCalls(lambda: AGENTS)
    handed_over.apply(connect, 0)
    assert handed_over.apply({**transfer, "DestType": "Bridge"}, 1) == []
    assert handed_over.listing(1) == [], "an attended transfer completed: the caller is the target's now"
    calls = LiveCalls(lambda: AGENTS)
    calls.apply(connect, 0)
    [news] = calls.apply(transfer, 2)
    assert isinstance(news, ThreeWayJoined) and news.third_party == "9001"
    [call] = calls.listing(3)
    assert call["state"] == "conference" and call["third_party"] == "9001"
    calls.apply({"Event": "Hangup", "Channel": "Local/7101@pbxctl-sv-phones-000000c3;1"}, 4)
    assert calls.listing(4), "the agent left; caller and third party talk on"
    calls.apply({"Event": "Hangup", "Channel": "Local/4790495201@pbxctl-sv-callers-000000c2;1"}, 5)
    assert calls.listing(5) == []


def test_a_transfer_with_return_stays_live_and_comes_back_to_the_agent():
    """`pbxctl transfer a1 --to 9002 --with-return`: the caller rings 9002 for 5 s, comes
    back to a1's phone (a new channel), talks, hangs up."""
    messages = recording("transfer_with_return")
    [first] = replay(messages, lambda m: m.get("Event") == "AgentConnect")[0].listing(0)
    first_agent = first["agent_channel"]
    # The agent's first channel hangs up as the caller is sent away: the call stays.
    calls, _, _ = replay(messages, lambda m: m.get("Event") == "Hangup" and m.get("Channel") == first_agent)
    [call] = calls.listing(0)
    assert (call["call"], call["state"], call["agent"]) == (first["call"], "transferring", "a1")
    calls, _, _ = replay(messages, is_user_event("PbxctlTransferReturn"))
    assert [c["state"] for c in calls.listing(0)] == ["transferring"]
    # a1's phone rings back and answers: the same call, talking, on the new channel.
    calls, _, _ = replay(messages, lambda m: m.get("Event") == "DialEnd" and m.get("DialStatus") == "ANSWER"
                         and m.get("DestChannel", "").startswith("Local/7101@") and m.get("DestChannel") != first_agent)
    [call] = calls.listing(0)
    assert (call["call"], call["state"], call["agent"]) == (first["call"], "talking", "a1")
    assert call["agent_channel"] != first_agent and call["agent_channel"].startswith("Local/7101@pbxctl-sv-phones-")
    calls, _, _ = replay(messages)
    assert calls.listing(0) == [], "gone when the caller hung up"


def test_an_attended_transfer_is_transferring_while_the_agent_talks_to_the_target():
    """`pbxctl transfer a1 --to 9001 --attended`, the agent hangs up to hand over; then
    *2 9001 and *3 (three-way). The live calls alone, without the service's own marking."""
    messages = recording("attended_transfer")
    [first] = replay(messages, lambda m: m.get("Event") == "AgentConnect")[0].listing(0)
    calls, _, _ = replay(messages, lambda m: m.get("Event") == "Hold")
    assert [c["state"] for c in calls.listing(0)] == ["held"], "on hold while the agent dials"
    # the agent's leg enters a second bridge, the target's: it talks to the target
    moves = [m for m in messages if m.get("Event") == "BridgeEnter" and m.get("Channel") == first["agent_channel"]]
    calls, _, _ = replay(messages, lambda m: m is moves[1])
    assert [c["state"] for c in calls.listing(0)] == ["transferring"]
    # handed over (AttendedTransfer, DestType Bridge): no longer a1's call
    calls, _, _ = replay(messages, lambda m: m.get("Event") == "AttendedTransfer" and m.get("DestType") == "Bridge")
    assert calls.listing(0) == []
    # *3: transferring, then back in the caller's bridge with the target, a three-way call
    calls, _, _ = replay(messages, lambda m: m.get("Event") == "AttendedTransfer" and m.get("DestType") == "Threeway")
    [call] = calls.listing(0)
    assert (call["state"], call["third_party"]) == ("conference", "9001")
