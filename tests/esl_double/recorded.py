"""Event templates from the outbound IVR recording: the double's events are these recorded
events with the call's own values put in, so their headers (names, order, encoding) are the
ones FreeSWITCH 1.10.12 sent."""

from __future__ import annotations

import functools
import uuid as uuidlib

from pbxctl.freeswitch.esl_protocol import Event, FrameReader, channel_data, event_of

from .transcript import FIXTURES

RECORDED_UUID = "7542ab42-3e05-489e-ad6a-90734b7e9491"  # the -b leg that ran the socket app
RECORDED_A_LEG = "4f2bd900-f7ad-42cd-bbdc-8201009ef264"
RECORDED_CALLER = "5550199"
CONNECT_TAIL = ("Content-Type", "Reply-Text", "Socket-Mode", "Control")


@functools.lru_cache(maxsize=1)
def _frames():
    return FrameReader().feed((FIXTURES / "freeswitch-1.10.12-outbound-ivr.bin").read_bytes())


@functools.lru_cache(maxsize=1)
def templates() -> dict[tuple[str, str], Event]:
    out: dict[tuple[str, str], Event] = {}
    for frame in _frames():
        if frame.content_type == "text/event-plain":
            event = event_of(frame)
            out.setdefault((event.name, event.get("Application", "")), event)
    return out


@functools.lru_cache(maxsize=1)
def channel_template() -> list[tuple[str, str]]:
    frame = next(f for f in _frames() if f.get("Event-Name") == "CHANNEL_DATA")
    return [(k, v) for k, v in channel_data(frame).headers if k not in CONNECT_TAIL]


class CallValues:
    """The values of one double call that replace the recorded call's."""

    def __init__(self, caller: str, destination: str):
        self.uuid = str(uuidlib.uuid4())
        self.a_leg = str(uuidlib.uuid4())
        self.caller = caller
        self.destination = destination

    def fill(self, headers: list[tuple[str, str]], variables: dict[str, str]) -> list[tuple[str, str]]:
        out = []
        for key, value in headers:
            if key.startswith("variable_esltest"):
                continue
            value = value.replace(RECORDED_UUID, self.uuid).replace(RECORDED_A_LEG, self.a_leg)
            if value == RECORDED_CALLER:
                value = self.caller
            if key.endswith("Destination-Number"):
                value = self.destination
            if key.startswith("variable_") and key.removeprefix("variable_") in variables:
                continue  # re-added below with the channel's current value
            out.append((key, value))
        at = next((i for i, (k, _) in enumerate(out) if k == "variable_current_application_data"), len(out))
        out[at:at] = [(f"variable_{k}", v) for k, v in variables.items()]
        return out

    def channel_data(self, variables: dict[str, str]) -> list[tuple[str, str]]:
        return self.fill(channel_template(), variables)

    def event(self, name: str, variables: dict[str, str], app: str = "", data: str = "", **extra: str) -> Event:
        t = templates()
        template = t.get((name, app)) or t.get((name, "set")) or t[(name, "")]
        headers = self.fill(template.headers, variables)
        replace = {"Application": app, "Application-Data": data, "Application-UUID": str(uuidlib.uuid4())} if app else {}
        replace.update({k.replace("_", "-"): v for k, v in extra.items()})
        headers = [(k, replace.get(k, v)) for k, v in headers]
        return Event(headers)
