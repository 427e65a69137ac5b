"""The double refuses what FreeSWITCH refuses, with FreeSWITCH's replies; and pbxctl's
greenswitch glue still finds the greenswitch internals it relies on."""

from __future__ import annotations

import inspect

import greenswitch
from greenswitch.esl import ESLProtocol, OutboundSession

from pbxctl.freeswitch.esl_protocol import FrameReader, ProtocolError, command, sendmsg_execute, url_decode, url_encode
from pbxctl.freeswitch.greenswitch_glue import Session

from esl_double.engine import Inbound, Outbound
from esl_double.recorded import CallValues


def frames(data: bytes):
    return FrameReader().feed(data)


def inbound() -> Inbound:
    engine = Inbound("ClueCon", api=lambda cmd: "+OK\n", job_uuid=lambda: "job")
    engine.greeting()
    return engine


def test_wrong_password_is_refused_then_disconnected():
    engine = inbound()
    out = frames(engine.receive(b"auth nope\n\n"))
    assert [f.get("Reply-Text") for f in out[:1]] == ["-ERR invalid"]
    assert out[1].content_type == "text/disconnect-notice" and engine.closed


def test_commands_before_auth_are_not_found():
    engine = inbound()
    (reply,) = frames(engine.receive(b"api status\n\n"))
    assert reply.get("Reply-Text") == "-ERR command not found"
    assert engine.violations == ["'api status' before auth"]


def test_crlf_is_refused():
    engine = inbound()
    # the CR stays in the password (mod_event_socket skips CRs only to find the blank line)
    out = frames(engine.receive(b"auth ClueCon\r\n\r\n"))
    assert out[0].get("Reply-Text") == "-ERR invalid" and engine.closed
    assert not engine.authed and "CR in command" in engine.violations[0]
    other = inbound()
    other.receive(b"auth ClueCon\n\n")
    (reply,) = frames(other.receive(b"api status\r\n\r\n"))
    assert reply.get("Reply-Text") == "-ERR command not found"


def test_unknown_command_after_auth_is_refused():
    engine = inbound()
    engine.receive(b"auth ClueCon\n\n")
    (reply,) = frames(engine.receive(b"frobnicate\n\n"))
    assert reply.get("Reply-Text") == "-ERR command not found"
    assert engine.violations == ["unknown command 'frobnicate'"]


def test_events_follow_the_subscription_and_its_format():
    engine = inbound()
    engine.receive(b"auth ClueCon\n\n")
    event = CallValues("5550101", "200").event("CHANNEL_HANGUP", {})
    assert engine.emit(event) == b""  # not subscribed
    engine.receive(b"event plain CHANNEL_HANGUP\n\n")
    assert frames(engine.emit(event))[0].content_type == "text/event-plain"
    engine.receive(b"event json CHANNEL_CREATE\n\n")  # switches everything to JSON
    assert frames(engine.emit(event))[0].content_type == "text/event-json"


def outbound() -> Outbound:
    return Outbound(CallValues("5550101", "200").channel_data({"pbxctl_ivr": "main"}), api=lambda c: "", execute=lambda *a: None)


def test_outbound_waits_for_connect_and_refuses_anything_else():
    engine = outbound()
    (reply,) = frames(engine.receive(b"myevents\n\n"))
    assert reply.get("Reply-Text") == "-ERR command not found" and engine.violations == ["'myevents' before connect"]
    (reply,) = frames(engine.receive(b"connect\n\n"))
    assert reply.get("Reply-Text") == "%2BOK%0A" and reply.get("Control") == "full"
    assert reply.get("variable_pbxctl_ivr") == "main"


def test_sendmsg_body_argument_and_crlf():
    engine = outbound()
    engine.receive(b"connect\n\n")
    (ok,) = frames(engine.receive(sendmsg_execute("set", "a=b c")))
    assert ok.get("Reply-Text") == "+OK"
    (bad,) = frames(engine.receive(b"sendmsg\r\ncall-command: execute\r\nexecute-app-name: answer\r\n\r\n"))
    assert bad.get("Reply-Text") == "-ERR command not found"


def test_command_framing_is_lf_only():
    assert command("myevents") == b"myevents\n\n"
    assert sendmsg_execute("set", "ivr_lang=en") == (
        b"sendmsg\ncall-command: execute\nexecute-app-name: set\ncontent-type: text/plain\ncontent-length: 11\n\nivr_lang=en"
    )  # byte for byte what the recording sent for `set` with a body


def test_frame_reader_refuses_cr_in_headers():
    try:
        FrameReader().feed(b"Content-Type: command/reply\r\n\r\n\n\n")
    except ProtocolError:
        return
    raise AssertionError("a CR in a header line was accepted")


def test_url_encoding_leaves_encoded_percent_alone():
    # FreeSWITCH issue #85: '%' followed by two upper-case hex digits is not encoded
    assert url_encode("100%25 x%zz") == "100%25%20x%25zz"
    assert url_decode("tone_stream%3A//%25(400,100,440)%3Bloops%3D2") == "tone_stream://%(400,100,440);loops=2"


def test_greenswitch_internals_the_glue_relies_on():
    assert greenswitch.__name__ == "greenswitch"
    init = inspect.getsource(ESLProtocol.__init__)
    for name in ("_commands_sent", "_esl_event_queue", "_lingering", "_run"):
        assert f"self.{name}" in init, name
    assert issubclass(Session, OutboundSession)
    assert "sock_file" in inspect.getsource(OutboundSession.__init__)
    assert "receive_events" in inspect.getsource(ESLProtocol.start_event_handlers)
