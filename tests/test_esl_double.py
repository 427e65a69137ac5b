"""The Event Socket double against the real FreeSWITCH 1.10.12 recordings, byte for byte."""

from __future__ import annotations

import pytest

from pbxctl.freeswitch.esl_protocol import FrameReader, event_frame, event_of

from esl_double.engine import Inbound, Outbound
from esl_double.replay import replay
from esl_double.transcript import FIXTURES, connections, read_transcript, received

TRANSCRIPTS = sorted(p.name for p in FIXTURES.glob("freeswitch-1.10.12-*.txt"))
# Which .bin holds which connection of which transcript (README.md of the fixtures).
BINS = {
    ("freeswitch-1.10.12-outbound-ivr.txt", "OUT"): "freeswitch-1.10.12-outbound-ivr.bin",
    ("freeswitch-1.10.12-outbound-ivr.txt", "A"): "freeswitch-1.10.12-outbound-ivr-control.bin",
    ("freeswitch-1.10.12-outbound-server-silent.txt", "OUT"): "freeswitch-1.10.12-outbound-server-silent.bin",
    ("freeswitch-1.10.12-outbound-server-silent.txt", "A"): "freeswitch-1.10.12-outbound-server-silent-control.bin",
    ("freeswitch-1.10.12-outbound-close-early.txt", "OUT2"): "freeswitch-1.10.12-outbound-close-early-call2.bin",
    ("freeswitch-1.10.12-outbound-close-early.txt", "A"): "freeswitch-1.10.12-outbound-close-early-control.bin",
}
# Refusals a recording provokes on purpose: the double must refuse them too.
REFUSED = {("freeswitch-1.10.12-inbound-session.txt", "C"): ["'api status' before auth"]}
# The recorder stopped reading before FreeSWITCH's last frame (the notice after +OK bye).
CUT_SHORT = {("freeswitch-1.10.12-outbound-close-early.txt", "A")}
CONNECTIONS = [(t, c) for t in TRANSCRIPTS for c in connections(read_transcript(t))]


def recorded_bytes(transcript: str, conn: str) -> bytes:
    name = BINS.get((transcript, conn))
    if name is None and transcript == "freeswitch-1.10.12-inbound-session.txt":
        return b""  # its .bin (inbound-recv) is all four connections in one file
    name = name or transcript.replace(".txt", ".bin")
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("transcript,conn", CONNECTIONS, ids=[f"{t[19:-4]}-{c}" for t, c in CONNECTIONS])
def test_replay_is_byte_for_byte(transcript, conn):
    entries = connections(read_transcript(transcript))[conn]
    expected = received(entries)
    raw = recorded_bytes(transcript, conn)
    if raw:
        assert raw == expected, "transcript and .bin disagree"
    produced, violations = replay(entries)
    assert violations == REFUSED.get((transcript, conn), [])
    if (transcript, conn) in CUT_SHORT:
        assert len(produced) > len(expected)
        produced = produced[: len(expected)]
    if produced != expected:
        at = next(i for i, (a, b) in enumerate(zip(produced + b"\0", expected + b"\0")) if a != b)
        pytest.fail(f"first differing byte at {at}:\n double: {produced[max(0, at - 80):at + 80]!r}\n record: {expected[max(0, at - 80):at + 80]!r}")


def test_the_old_session_bin_is_its_four_connections():
    conns = connections(read_transcript("freeswitch-1.10.12-inbound-session.txt"))
    assert b"".join(received(conns[c]) for c in "ABCD") == (FIXTURES / "freeswitch-1.10.12-inbound-recv.bin").read_bytes()


@pytest.mark.parametrize("transcript", TRANSCRIPTS)
def test_every_recorded_event_reencodes_to_its_bytes(transcript):
    """URL-encoding and JSON exactly as FreeSWITCH writes them, for every event recorded."""
    for entry in read_transcript(transcript):
        if not entry.sent_by_freeswitch:
            continue
        (frame,) = FrameReader().feed(entry.data)
        if frame.content_type.startswith("text/event-"):
            fmt = frame.content_type.removeprefix("text/event-")
            assert event_frame(event_of(frame), fmt).encode() == entry.data
