"""The Event Socket wire format, as FreeSWITCH 1.10.12 writes it: pure functions, no sockets.

Facts it relies on (tests/fixtures/esl/, recorded from a real FreeSWITCH 1.10.12):
- a frame is header lines ending in LF (never CRLF), a blank line, then exactly
  `Content-Length` body bytes with nothing after them;
- header order differs by frame type, and a header may repeat (`Hangup-Cause` twice in a
  CHANNEL_HANGUP_COMPLETE), so headers are an ordered list of pairs, not a dict;
- plain event bodies are header lines whose values are URL-encoded; a BACKGROUND_JOB body
  carries its own Content-Length and a second body;
- JSON events are one object, every value a string, the nested body under `_body`;
- the reply to an outbound `connect` is a header block of URL-encoded channel data.

The service (through greenswitch_glue) and the tests' Event Socket double both use this
module, so the bytes the tests check are the bytes production parses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

Headers = list[tuple[str, str]]

MAX_HEADER_BYTES = 1 << 20  # a channel-data block is ~4 KB; anything near this is garbage


class ProtocolError(ValueError):
    """Bytes that are not Event Socket framing (CR in a header, no ': ', bad length)."""


# switch_url_encode() (switch_utils.c): space, " # & + : ; < = > ? @ [ \ ] ^ ` { | } and
# bytes below ' ' or above '~' become %XX. '%' is left alone when two upper-case hex digits
# follow (FreeSWITCH issue #85: its encoder takes such text as already encoded), so decoding
# must tolerate a bare '%'. Checked against every recorded event (tests/test_esl_double.py).
_NEEDS_ENCODING = re.compile(r'[^\x21-\x7e]|["#&+:;<=>?@\[\\\]^`{|}]|%(?![0-9A-F]{2})')


def url_encode(value: str) -> str:
    return _NEEDS_ENCODING.sub(_percent, value)


def _percent(match: re.Match) -> str:
    return "".join(f"%{b:02X}" for b in match.group(0).encode("utf-8", "surrogateescape"))


def url_decode(value: str) -> str:
    return unquote(value, encoding="utf-8", errors="surrogateescape") if "%" in value else value


@dataclass
class Frame:
    """One frame as sent: its header lines in order and its body bytes."""

    headers: Headers
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def content_type(self) -> str:
        return self.get("Content-Type", "") or ""

    def encode(self) -> bytes:
        return encode_frame(self.headers, self.body)


def encode_frame(headers: Headers, body: bytes = b"") -> bytes:
    """Header lines as given (the caller owns order and Content-Length), blank line, body."""
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    return head.encode("utf-8") + b"\n" + body


def parse_header_block(text: str) -> Headers:
    headers: Headers = []
    for line in text.split("\n"):
        if not line:
            continue
        if "\r" in line:
            raise ProtocolError(f"CR in header line {line!r}: Event Socket lines end in LF only")
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"header line without ':' {line!r}")
        headers.append((key, value))
    return headers


class FrameReader:
    """Splits a byte stream into frames: feed() what arrived, get back the whole frames."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: Frame | None = None
        self._need = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            if self._pending is None:
                end = self._buf.find(b"\n\n")
                if end < 0:
                    if len(self._buf) > MAX_HEADER_BYTES:
                        raise ProtocolError("header block too large")
                    return frames
                text = self._buf[:end].decode("utf-8", "surrogateescape")
                del self._buf[: end + 2]
                frame = Frame(parse_header_block(text))
                length = frame.get("Content-Length")
                if not length:
                    frames.append(frame)
                    continue
                if not length.isdigit():
                    raise ProtocolError(f"Content-Length {length!r}")
                self._pending, self._need = frame, int(length)
            if len(self._buf) < self._need:
                return frames
            self._pending.body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            frames.append(self._pending)
            self._pending = None

    @property
    def idle(self) -> bool:
        """No partial frame buffered."""
        return self._pending is None and not self._buf


# --- events -----------------------------------------------------------------------------------


class Event:
    """An event with decoded values. `headers` keeps repeats and order; `body` is the nested
    body (BACKGROUND_JOB's result, a log line), decoded text.

    Values read off the wire are URL-decoded when first asked for: a channel event has ~100
    headers and a service reads a handful, and decoding them all was most of its CPU."""

    __slots__ = ("_raw", "_decoded", "_index", "body")

    def __init__(self, headers: Headers, body: str | None = None, encoded: bool = False):
        self._raw = headers
        self._decoded: Headers | None = None if encoded else headers
        self.body = body
        index: dict[str, str] = {}
        for key, value in headers:
            index.setdefault(key, value)
        self._index = _Decoding(index) if encoded else index

    @property
    def headers(self) -> Headers:
        if self._decoded is None:
            self._decoded = [(k, url_decode(v)) for k, v in self._raw]
        return self._decoded

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and (self.headers, self.body) == (other.headers, other.body)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._raw)} headers)"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._index.get(name, default)

    @property
    def index(self) -> "dict[str, str]":
        """Name -> first value (decoded), read-only by convention."""
        return self._index

    def __getitem__(self, name: str) -> str:
        return self._index[name]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    @property
    def name(self) -> str:
        return self._index.get("Event-Name", "")

    @property
    def subclass(self) -> str:
        return self._index.get("Event-Subclass", "")


class _Decoding(dict):
    """A name -> raw value dict that hands out URL-decoded values (decoded once)."""

    def __getitem__(self, key: str) -> str:
        value = dict.__getitem__(self, key)
        if "%" in value:
            value = url_decode(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: str | None = None) -> str | None:
        return self[key] if key in self else default


def parse_plain_event(body: bytes) -> Event:
    text = body.decode("utf-8", "surrogateescape")
    head, sep, rest = text.partition("\n\n")
    event = Event(parse_header_block(head), encoded=True)
    length = event.get("Content-Length")
    if length is not None and length.isdigit():
        event.body = rest.encode("utf-8", "surrogateescape")[: int(length)].decode("utf-8", "surrogateescape")
    return event


def encode_plain_event(event: Event) -> bytes:
    """The inverse of parse_plain_event: values URL-encoded, a blank line, the nested body."""
    head = "".join(f"{k}: {url_encode(v)}\n" for k, v in event.headers)
    out = head.encode("utf-8", "surrogateescape") + b"\n"
    if event.body is not None:
        out += event.body.encode("utf-8", "surrogateescape")
    return out


def parse_json_event(body: bytes) -> Event:
    # object_pairs_hook keeps repeated keys: FreeSWITCH writes Hangup-Cause twice.
    pairs = json.loads(body.decode("utf-8"), object_pairs_hook=list)
    headers = [(k, v) for k, v in pairs if k != "_body"]
    nested = next((v for k, v in pairs if k == "_body"), None)
    return Event(headers, nested)


def encode_json_event(event: Event) -> bytes:
    """cJSON's unformatted output: no spaces, '/' and non-ASCII as is, `_body` last."""
    pairs = list(event.headers)
    if event.body is not None:
        pairs.append(("_body", event.body))
    text = "{" + ",".join(f"{_json_str(k)}:{_json_str(v)}" for k, v in pairs) + "}"
    return text.encode("utf-8")


def _json_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def event_of(frame: Frame) -> Event:
    """The event a text/event-plain or text/event-json frame carries."""
    if frame.content_type == "text/event-plain":
        return parse_plain_event(frame.body)
    if frame.content_type == "text/event-json":
        return parse_json_event(frame.body)
    raise ProtocolError(f"not an event frame: {frame.content_type!r}")


def event_frame(event: Event, fmt: str) -> Frame:
    """An event as FreeSWITCH frames it: Content-Length first, then Content-Type."""
    body = encode_plain_event(event) if fmt == "plain" else encode_json_event(event)
    return Frame([("Content-Length", str(len(body))), ("Content-Type", f"text/event-{fmt}")], body)


def channel_data(frame: Frame) -> Event:
    """The channel variables of an outbound session, from the reply to `connect`."""
    return Event(frame.headers, encoded=True)


# --- commands ---------------------------------------------------------------------------------


def command(text: str) -> bytes:
    if "\n" in text or "\r" in text:
        raise ValueError(f"a command is one line: {text!r}")
    return text.encode("utf-8") + b"\n\n"


def sendmsg_execute(app: str, arg: str = "", event_lock: bool = False, uuid: str = "") -> bytes:
    """`sendmsg execute`. The argument goes as a text/plain body (as recorded for `set`), so
    it may hold anything, newlines included."""
    lines = [f"sendmsg {uuid}".rstrip(), "call-command: execute", f"execute-app-name: {app}"]
    if event_lock:
        lines.append("event-lock: true")
    if not arg:
        return ("\n".join(lines) + "\n\n").encode("utf-8")
    body = arg.encode("utf-8")
    lines += ["content-type: text/plain", f"content-length: {len(body)}"]
    return ("\n".join(lines) + "\n\n").encode("utf-8") + body
