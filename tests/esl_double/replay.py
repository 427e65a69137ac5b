"""Replays a recording's client side against the double and returns what the double sent.

The content FreeSWITCH chose (api bodies, Job-UUIDs, which events happened, the channel's
data) is taken from the recording; everything else — which reply, which headers in which
order, URL-encoding, JSON, Content-Length, the disconnect notices, whether an event is
delivered at all on this subscription — is the double's. The tests compare the result
with the recorded bytes, so any byte the double gets wrong fails.
"""

from __future__ import annotations

from pbxctl.freeswitch.esl_protocol import Frame, FrameReader, channel_data, event_of

from .engine import SHUTTING_DOWN, Inbound, Outbound
from .transcript import Entry

CONNECT_TAIL = ("Content-Type", "Reply-Text", "Socket-Mode", "Control")


def _frame(data: bytes) -> Frame:
    (frame,) = FrameReader().feed(data)
    return frame


def _count(data: bytes) -> int:
    return len(FrameReader().feed(data))


class _Content:
    """What FreeSWITCH answered to the command being replayed."""

    def __init__(self) -> None:
        self.frame: Frame | None = None

    def api(self, _command: str) -> str:
        assert self.frame is not None and self.frame.content_type == "api/response", self.frame
        return self.frame.body.decode("utf-8")

    def job_uuid(self) -> str:
        assert self.frame is not None
        return self.frame.get("Job-UUID") or ""


def replay(entries: list[Entry], password: str = "ClueCon") -> tuple[bytes, list[str]]:
    """(bytes the double sent on this connection, its violations)."""
    content = _Content()
    fs_frames = [e for e in entries if e.sent_by_freeswitch]
    outbound = not (fs_frames and _frame(fs_frames[0].data).content_type == "auth/request")
    engine: Inbound | Outbound
    if outbound:
        engine = Outbound(_recorded_channel(fs_frames), content.api, lambda app, arg, lock: None)
    else:
        engine = Inbound(password, content.api, content.job_uuid)
    out = b""
    pending: list[bytes] = []
    skip = 0
    for entry in entries:
        if not entry.sent_by_freeswitch:
            pending.append(entry.data)
            continue
        if skip:
            skip -= 1
            continue
        frame = _frame(entry.data)
        kind = frame.content_type
        if kind == "auth/request":
            out += engine.greeting()
        elif kind in ("command/reply", "api/response") and pending:
            content.frame = frame
            produced = engine.receive(pending.pop(0))
            skip = _count(produced) - 1
            out += produced
        elif kind.startswith("text/event-"):
            out += engine.emit(event_of(frame))
        elif kind == "text/disconnect-notice":
            out += _notice(engine, frame)
        else:
            raise AssertionError(f"recorded frame the replay cannot place: {frame.headers}")
    return out, engine.violations


def _notice(engine: Inbound | Outbound, frame: Frame) -> bytes:
    if isinstance(engine, Outbound):
        if frame.get("Content-Disposition") == "linger":
            return engine.hangup_notice(frame.get("Channel-Name") or "")
        return engine.never_connected()
    if frame.body.decode() == SHUTTING_DOWN:
        return engine.shutdown()
    return engine.auth_timeout()


def _recorded_channel(fs_frames: list[Entry]) -> list[tuple[str, str]]:
    for entry in fs_frames:
        frame = _frame(entry.data)
        if frame.get("Event-Name") == "CHANNEL_DATA" and frame.content_type == "command/reply":
            return [(k, v) for k, v in channel_data(frame).headers if k not in CONNECT_TAIL]
        uuid = frame.get("Controlled-Session-UUID")
        if uuid:
            return [("variable_uuid", uuid)]
    return []
