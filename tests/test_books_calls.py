"""queue_log lines -> calls and stints (books/queue_log.py, calls.py, assembler.py), over
the sandbox's own recording (tests/fixtures/queue_log/sandbox_calls.queue_log, written by
tests/test_books_asterisk.py) and hand-made edge cases."""

from __future__ import annotations

from pathlib import Path

from pbxctl.books.assembler import Assembler
from pbxctl.books.calls import build_call
from pbxctl.books.queue_log import BadLine, QueueLogLine, parse_line

RECORDED = Path(__file__).parent / "fixtures" / "queue_log" / "sandbox_calls.queue_log"
# What the sandbox wrote for tests/test_books_oracle_asterisk.py's desk-phone calls (## into
# another queue, *4 coming back, *4 back into the queue, *9 and *71), copied from its runs.
RECORDED_TRANSFERS = RECORDED.with_name("sandbox_desk_phone_transfers.queue_log")
AGENTS = {"Agent One": "a1", "Agent Two": "a2", "Agent Five": "a5", "Agent Six": "a6",
          "Oracle Two": "o2", "Oracle Three": "o3"}


def lines_of(text: str) -> list[QueueLogLine]:
    parsed = [parse_line(raw.encode()) for raw in text.strip().splitlines()]
    assert all(isinstance(line, QueueLogLine) for line in parsed), parsed
    return parsed


def assemble(lines, **options) -> Assembler:
    assembler = Assembler(agent_of=lambda member: AGENTS.get(member, member), **options)
    for line in lines:
        assembler.feed(line)
    assembler.settled_only()
    return assembler


def by_callid(assembler: Assembler):
    calls, _ = assembler.take()
    return {call.callid: call for call in calls}


# -- the format ---------------------------------------------------------------------------


def test_a_line_is_time_callid_queue_agent_event_and_data():
    line = parse_line(b"1796166707|1796166702.367|q_next|Agent Five|CONNECT|0|1796166707.376|0\n")
    assert line == QueueLogLine(1796166707, "1796166702.367", "q_next", "Agent Five", "CONNECT",
                                ("0", "1796166707.376", "0"), "1796166707|1796166702.367|q_next|Agent Five|CONNECT|0|1796166707.376|0")
    assert line.number(0) == 0 and line.number(5) is None and line.field(7, "x") == "x"


def test_bad_lines_say_why():
    assert parse_line(b"1796166707|1796|q|NONE|ENTER\xffQUEUE||1|1") == BadLine("not UTF-8 (byte 28)")
    assert parse_line(b"1796166707|1796|q") == BadLine("truncated: 3 fields, at least 5 (time|callid|queue|agent|event)")
    assert parse_line(b"17961x6707|1796|q|NONE|ENTERQUEUE||1|1").reason == "time '17961x6707' is not a number"
    assert parse_line(b"1796166707|1796|q|NONE|FROBNICATE|1") == BadLine("unknown event 'FROBNICATE'", 1796166707)
    assert parse_line(b"1796166707|1796|q|NONE|ENTERQ\x00EUE|1").reason == "contains NUL bytes (corrupt)"
    assert parse_line(b"1796166707||q|NONE|CONNECT|1|2|3") == BadLine("CONNECT without a callid", 1796166707)


def test_other_versions_and_pbxctls_own_events_are_read():
    # Asterisk 1.8+ may write the time with a fraction (realtime back-ends)
    assert parse_line(b"1796166707.25|1796|q|NONE|ENTERQUEUE||1|1").at == 1796166707
    assert parse_line(b"1796166707|1796|q|NONE|PBXCTLHELP|Agent One").event == "PBXCTLHELP"
    assert parse_line(b"1796166707|NONE|NONE|NONE|CONFIGRELOAD|").event == "CONFIGRELOAD"


# -- the sandbox's own lines --------------------------------------------------------------


def test_the_recorded_sandbox_calls():
    parsed = [parse_line(raw) for raw in RECORDED.read_bytes().splitlines()]
    calls = by_callid(assemble(parsed))
    assert len(calls) == 3
    overflow = next(c for c in calls.values() if len(c.stints) == 2)
    first, second = overflow.stints
    assert (first.queue, first.outcome, first.exit_status, first.wait_seconds) == ("q_overflow", "timed_out", "TIMEOUT", 5)
    # recorded before PBXCTLEXIT named the destination: still read, with no exit_to
    assert first.exit_to is None
    assert sorted((r.agent, r.outcome, r.ring_seconds) for r in first.rings) == [
        ("a1", "no_answer", 2.0), ("a1", "no_answer", 2.0), ("a2", "no_answer", 2.0), ("a2", "no_answer", 2.0)]
    assert first.caller_number.startswith("9")  # what agents saw (number_prefix)
    assert (second.queue, second.outcome, second.ended_by, second.agent) == ("q_next", "answered", "agent", "a5")
    # COMPLETEAGENT|0|2|1: no wait, 2 s of talk (the agent hangs up after 1 s; Asterisk rounds)
    assert (second.leg.agent, second.leg.talk_seconds, second.leg.ended_by) == ("a5", 2, "agent")
    assert (overflow.caller_number, overflow.caller_name) == (first.caller_number[1:], "Test")
    refused = next(c for c in calls.values() if c.stints[0].queue == "q_empty")
    assert [(s.outcome, s.exit_status) for s in refused.stints] == [("refused", "JOINEMPTY")]
    abandoned = next(c for c in calls.values() if c.stints[0].queue == "q_wrapup")
    stint = abandoned.stints[0]
    assert (stint.outcome, stint.wait_seconds, stint.exit_position) == ("abandoned", 2, 1)
    assert sorted(r.outcome for r in stint.rings) == ["canceled"] * 3 + ["no_answer"] * 3


def test_the_recorded_desk_phone_transfers_and_three_way():
    parsed = [parse_line(raw) for raw in RECORDED_TRANSFERS.read_bytes().splitlines()]
    # (the call that went back into the queue was recorded in a later run)
    blind, with_return, three_way, requeued = sorted(by_callid(assemble(parsed)).values(), key=lambda c: c.started_at)
    # ## 802 (queue oracle_b): answered and transferred in oracle_t, answered again in oracle_b
    assert [(s.queue, s.outcome, s.ended_by, s.agent, s.exit_to) for s in blind.stints] == [
        ("oracle_t", "answered", "blind_transfer", "o3", "queue:oracle_b"), ("oracle_b", "answered", "agent", "o2", None)]
    assert [(t.kind, t.agent, t.target, t.talk_seconds) for t in blind.transfers] == [
        ("blind", "o3", "802@pbxctl-oracle-dial", 3)]
    # *4 9002: app_queue's COMPLETECALLER|0|10 counts the 5 s away; pbxctl's lines cut them out
    (stint,) = with_return.stints
    assert (stint.outcome, stint.agent, stint.ended_by) == ("answered", "o3", "caller")
    assert (stint.leg.talk_seconds, stint.leg.connected_at, stint.leg.ended_at) == (4 + 1, 1796176568, 1796176578)
    assert [(t.kind, t.agent, t.target, t.talk_seconds) for t in with_return.transfers] == [
        ("with_return", "o3", "9002", 4), ("returned", "o3", "9002", 0)]
    # *4 9002 again, o3 lets the ring back ring out: back into oracle_t, a second stint;
    # app_queue ends both when the caller hangs up (COMPLETECALLER 0|14 for the first)
    first, second = requeued.stints
    assert (first.outcome, first.ended_by, first.exit_to, first.leg.talk_seconds) == (
        "answered", "transfer_with_return", "queue:oracle_t", 3)
    assert (second.outcome, second.ended_by, second.agent, second.leg.talk_seconds) == ("answered", "caller", "o3", 1)
    assert [t.kind for t in requeued.transfers] == ["with_return", "returned"]
    # *9 and *71 9001: pbxctl's PBXCTLHELP and PBXCTLCONF lines, the agent named by its key
    (stint,) = three_way.stints
    assert (stint.outcome, stint.ended_by, stint.leg.talk_seconds) == ("answered", "agent", 2)
    assert [(e.event, e.agent, e.data) for e in three_way.pbxctl_events] == [
        ("PBXCTLHELP", "o3", ""), ("PBXCTLCONF", "o3", "9001")]


def test_a_transfer_with_return_answered_by_the_target_ends_the_agents_talk_there():
    call = build_call(lines_of("""
        1796169000|c9|support|NONE|ENTERQUEUE||4790000000|1
        1796169004|c9|support|Agent One|CONNECT|4|c9.1|2
        1796169034|c9|support|Agent One|PBXCTLXFER|with_return|2001
        1796169037|c9|support|Agent One|PBXCTLXFER|answered|2001
        1796169100|c9|support|Agent One|COMPLETECALLER|4|96|1
    """), agent_of=lambda member: AGENTS.get(member, member))
    (stint,) = call.stints
    assert (stint.outcome, stint.ended_by, stint.wait_seconds) == ("answered", "transfer_with_return", 4)
    assert (stint.leg.talk_seconds, stint.leg.ended_at, stint.leg.ended_by) == (30, 1796169034, "transfer_with_return")
    assert [(t.kind, t.target, t.wait_seconds, t.talk_seconds) for t in call.transfers] == [("with_return", "2001", 4, 30)]
    assert [e.data for e in call.pbxctl_events] == ["with_return|2001", "answered|2001"]


def test_a_transfer_step_in_the_same_second_as_the_end_still_counts():
    # The agent answers the ring back and the caller hangs up within the second: same time,
    # the step sorts before the ending line whatever order they were read in.
    call = build_call(lines_of("""
        1796169000|c8|support|NONE|ENTERQUEUE||4790000000|1
        1796169001|c8|support|Agent One|CONNECT|1|c8.1|1
        1796169011|c8|support|Agent One|COMPLETECALLER|1|10|1
        1796169003|c8|support|Agent One|PBXCTLXFER|with_return|2001
        1796169011|c8|support|Agent One|PBXCTLXFER|back|PJSIP/2001
        1796169009|c8|support|Agent One|PBXCTLXFER|returned|2001|NOANSWER
    """))
    (stint,) = call.stints
    assert (stint.leg.talk_seconds, stint.ended_by) == (2 + 0, "caller")
    assert [t.kind for t in call.transfers] == ["with_return", "returned"]


# -- edge cases -----------------------------------------------------------------------------


def test_a_call_spanning_midnight_is_one_stint():
    call = build_call(lines_of("""
        1796169590|c1|support|NONE|ENTERQUEUE||4790000000|1
        1796169620|c1|support|Agent One|CONNECT|30|c1.2|5
        1796169700|c1|support|Agent One|COMPLETECALLER|30|80|1
    """))
    (stint,) = call.stints
    assert (stint.entered_at, stint.answered_at, stint.ended_at, stint.wait_seconds) == (1796169590, 1796169620, 1796169700, 30)
    assert stint.leg.talk_seconds == 80


def test_missing_data_fields_from_older_versions():
    # Asterisk 1.4: no position on ENTERQUEUE, no ring time on CONNECT, EXITWITHTIMEOUT with the position only
    call = build_call(lines_of("""
        1796169000|c2|support|NONE|ENTERQUEUE||4790000000
        1796169060|c2|support|NONE|EXITWITHTIMEOUT|1
        1796169061|c2|sales|NONE|ENTERQUEUE||4790000000
        1796169070|c2|sales|Agent Two|CONNECT|9|c2.9
        1796169100|c2|sales|Agent Two|COMPLETEAGENT|9|30
    """))
    timed_out, answered = call.stints
    assert (timed_out.outcome, timed_out.wait_seconds, timed_out.position) == ("timed_out", 60, None)
    assert (answered.outcome, answered.wait_seconds, answered.leg.talk_seconds) == ("answered", 9, 30)
    assert answered.rings[0].ring_seconds == 0.0


def test_pbxctlexit_names_where_the_caller_went():
    call = build_call(lines_of("""
        1796169000|c4|support|NONE|ENTERQUEUE||4790000000|1
        1796169060|c4|support|NONE|EXITWITHTIMEOUT|1|1|60
        1796169060|c4|support|NONE|PBXCTLEXIT|TIMEOUT|queue:sales
        1796169061|c4|sales|NONE|ENTERQUEUE||4790000000|1
        1796169070|c4|sales|NONE|ABANDON|1|1|9
        1796169070|c4|sales|NONE|PBXCTLEXIT|CONTINUE|voicemail:100
        1796169071|c4|empty|NONE|PBXCTLEXIT|JOINEMPTY|hangup
    """))
    timed_out, abandoned, refused = call.stints
    assert (timed_out.outcome, timed_out.exit_status, timed_out.exit_to) == ("timed_out", "TIMEOUT", "queue:sales")
    assert (abandoned.outcome, abandoned.exit_status, abandoned.exit_to) == ("abandoned", "CONTINUE", "voicemail:100")
    assert (refused.queue, refused.outcome, refused.exit_to) == ("empty", "refused", "hangup")


def test_pbxctlexit_without_a_destination_is_still_read():
    call = build_call(lines_of("""
        1796169000|c5|support|NONE|ENTERQUEUE||4790000000|1
        1796169060|c5|support|NONE|EXITWITHTIMEOUT|1|1|60
        1796169060|c5|support|NONE|PBXCTLEXIT|TIMEOUT
    """))
    (stint,) = call.stints
    assert (stint.outcome, stint.exit_status, stint.exit_to) == ("timed_out", "TIMEOUT", None)


def test_reordered_lines_are_put_back_in_order():
    ordered = lines_of("""
        1796169000|c3|support|NONE|ENTERQUEUE||4790000000|1
        1796169004|c3|support|Agent One|RINGNOANSWER|4000
        1796169008|c3|support|Agent Two|CONNECT|8|c3.4|4
        1796169008|c3|support|Agent Two|COMPLETECALLER|8|0|1
    """)
    reordered = [ordered[3], ordered[2], ordered[0], ordered[1]]
    assert build_call(reordered) == build_call(ordered)
    assert build_call(ordered).stints[0].outcome == "answered"
    # and through the streaming assembler, the ending line first within the same second
    calls = by_callid(assemble(reordered))
    assert calls["c3"].stints[0].ended_by == "caller"


def test_a_requeued_call_keeps_its_uniqueid_and_gets_a_second_stint():
    call = build_call(lines_of("""
        1796169000|c4|support|NONE|ENTERQUEUE||4790000000|1
        1796169005|c4|support|Agent One|CONNECT|5|c4.1|2
        1796169065|c4|support|Agent One|BLINDTRANSFER|200|pbxctl-queue|5|60|1
        1796169066|c4|support|NONE|ENTERQUEUE||4790000000|1
        1796169070|c4|support|Agent Two|CONNECT|4|c4.7|3
        1796169100|c4|support|Agent Two|COMPLETEAGENT|4|30|1
    """))
    assert [(s.queue, s.outcome, s.ended_by, s.agent) for s in call.stints] == [
        ("support", "answered", "blind_transfer", "Agent One"), ("support", "answered", "agent", "Agent Two")]
    assert call.stints[0].exit_to == "queue:support"   # the report's transferred_to / transfer_in
    assert [(t.kind, t.target, t.talk_seconds) for t in call.transfers] == [("blind", "200@pbxctl-queue", 60)]


def test_duplicate_lines_after_a_restart_count_once():
    text = """
        1796169000|c5|support|NONE|ENTERQUEUE||4790000000|1
        1796169010|c5|support|NONE|ABANDON|1|1|10
    """
    once = by_callid(assemble(lines_of(text)))
    twice = by_callid(assemble(lines_of(text) + lines_of(text)))
    assert once == twice and len(twice["c5"].stints) == 1


def test_a_pbx_restart_ends_open_stints_as_lost():
    assembler = assemble(lines_of("""
        1796169000|c6|support|NONE|ENTERQUEUE||4790000000|1
        1796169003|c7|support|NONE|ENTERQUEUE||4790000001|2
        1796169004|c7|support|Agent One|CONNECT|1|c7.1|1
        1796169030|NONE|NONE|NONE|QUEUESTART|
    """))
    calls = by_callid(assembler)
    assert (calls["c6"].stints[0].outcome, calls["c6"].stints[0].wait_seconds) == ("lost", 30)
    assert (calls["c7"].stints[0].outcome, calls["c7"].stints[0].ended_by) == ("answered", "lost")


def test_a_call_in_a_queue_quiet_for_a_day_is_given_up_as_lost_and_an_ended_one_settles():
    assembler = assemble(lines_of("""
        1796169000|g1|support|NONE|ENTERQUEUE||4790000000|1
        1796169000|g2|support|NONE|ENTERQUEUE||4790000001|1
        1796169004|g2|support|NONE|ABANDON|1|1|4
        1796255000|g3|support|NONE|ENTERQUEUE||4790000002|1
        1796255401|g4|support|NONE|ENTERQUEUE||4790000003|1
    """), give_up=86400)
    calls = by_callid(assembler)
    # g1 is given up a day after its last line; g3 and g4 wait on (not booked yet)
    assert sorted(calls) == ["g1", "g2"] and len(assembler.pending) == 2
    assert (calls["g1"].stints[0].outcome, calls["g1"].stints[0].ended_at) == ("lost", 1796169000 + 86400)
    assert calls["g2"].stints[0].outcome == "abandoned"


def test_a_call_that_hung_up_in_the_ivr_is_booked_seconds_after_and_one_still_in_it_waits():
    # i1 hung up in a menu (the entry's hangup handler wrote PBXCTLEND), i2 is still in it:
    # only PBXCTLEND lets the books drop i1's lines before the IVR's 15-minute settle
    assembler = Assembler()  # as the service's follower runs it: no end of file
    for line in lines_of("""
        1796169000|i1|NONE|NONE|PBXCTLENTRY|+4721000000
        1796169000|i2|NONE|NONE|PBXCTLENTRY|+4721000000
        1796169030|i1|NONE|NONE|PBXCTLEND|
        1796169100|x9|support|NONE|ENTERQUEUE||4790000000|1
    """):
        assembler.feed(line)
    calls = by_callid(assembler)
    assert sorted(calls) == ["i1"] and sorted(assembler.pending) == ["i2", "x9"]
    # the hangup line ends the assembling, not the call's own time (its last real line)
    assert (calls["i1"].entry, calls["i1"].started_at, calls["i1"].ended_at) == ("+4721000000", 1796169000, 1796169000)
    assert calls["i1"].pbxctl_events == [] and calls["i1"].stints == []


def test_a_queue_call_with_its_hangup_line_is_the_same_call_as_without():
    text = """
        1796169000|q1|NONE|NONE|PBXCTLENTRY|200
        1796169001|q1|support|NONE|ENTERQUEUE||4790000000|1
        1796169004|q1|support|NONE|ABANDON|1|1|3
        1796169004|q1|support|NONE|PBXCTLEXIT|ABANDON|
    """
    plain = by_callid(assemble(lines_of(text)))["q1"]
    ended = by_callid(assemble(lines_of(text.rstrip() + "\n1796169006|q1|NONE|NONE|PBXCTLEND|")))["q1"]
    assert ended == plain


def test_a_call_still_waiting_at_the_end_of_a_file_is_not_booked_yet():
    assembler = Assembler()
    for line in lines_of("1796169000|c8|support|NONE|ENTERQUEUE||4790000000|1"):
        assembler.feed(line, offset=120, line_no=7)
    assert assembler.settled_only() == 1
    assert assembler.take()[0] == []
    assert assembler.replay_point(999, 40) == (120, 7)


def test_the_callers_own_name_may_contain_the_separator():
    call = build_call(lines_of("""
        1796169000|c9|support|NONE|PBXCTLCALLER|4790000000|Doe | John
        1796169000|c9|support|NONE|ENTERQUEUE||94790000000|1
        1796169005|c9|support|NONE|ABANDON|1|1|5
    """))
    assert (call.caller_number, call.caller_name) == ("4790000000", "Doe | John")
    assert call.stints[0].caller_number == "94790000000"


def test_agent_events_come_out_as_they_are():
    assembler = assemble(lines_of("""
        1796165370|MANAGER|support|PJSIP/1004|ADDMEMBER|
        1796165370|NONE|support|Lars Johansen|PAUSE|lunch
        1796165373|NONE|support|Lars Johansen|UNPAUSE|
        1796165374|CLI|support|PJSIP/1004|REMOVEMEMBER|
    """))
    _, events = assembler.take()
    assert [(e.event, e.member, e.reason) for e in events] == [
        ("ADDMEMBER", "PJSIP/1004", "MANAGER"), ("PAUSE", "Lars Johansen", "lunch"),
        ("UNPAUSE", "Lars Johansen", ""), ("REMOVEMEMBER", "PJSIP/1004", "CLI")]


def test_login_and_pause_intervals_are_cut_to_the_window():
    from pbxctl.books.agent_time import AgentInterval, intervals
    from pbxctl.books.assembler import AgentEvent

    events = [
        AgentEvent(100, "support", "PJSIP/1004", "lars", "ADDMEMBER", "MANAGER"),
        AgentEvent(150, "support", "Lars Johansen", "lars", "PAUSE", "lunch"),
        AgentEvent(400, "support", "Lars Johansen", "lars", "UNPAUSE", ""),
        AgentEvent(500, "NONE", "Lars Johansen", "lars", "PAUSEALL", "meeting"),
        AgentEvent(900, "support", "PJSIP/1004", "lars", "REMOVEMEMBER", "CLI"),
        AgentEvent(300, "sales", "PJSIP/1005", "kari", "ADDMEMBER", "MANAGER"),
    ]
    found = intervals(reversed(events), start=200, end=1000)
    assert found == [
        AgentInterval("kari", "sales", "login", 300, 1000),  # still logged in at the window's end
        AgentInterval("lars", "NONE", "pause", 500, 1000, "meeting"),  # PAUSEALL: no UNPAUSEALL
        AgentInterval("lars", "support", "login", 200, 900),  # logged in before the window
        AgentInterval("lars", "support", "pause", 200, 400, "lunch"),
    ]
    assert sum(i.seconds for i in found if i.kind == "pause" and i.agent == "lars") == 700
