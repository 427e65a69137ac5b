"""A real call into an entry number, typing digits at each prompt, followed over AMI to
where the IVR sends it: `pbxctl ivr test --call` and the end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid

from pbxctl.asterisk import wire
from pbxctl.asterisk.ami_events import EventRecorder, EventTimeout
from pbxctl.asterisk.wire import CONTEXTS


def is_ivr_channel(event: dict) -> bool:
    return event.get("Channel", "").endswith(";2")


async def place_call(rec: EventRecorder, entry: str, caller: str, digits: list[str], at: str | None = None) -> str:
    """Originate a call into `entry`; type each item of `digits` at the next Read prompt.
    Returns the IVR-side channel name."""
    await rec.send({
        "Action": "Originate", "ActionID": f"t-{uuid.uuid4().hex[:8]}",
        "Channel": f"Local/{entry}@{CONTEXTS.entries}", "Application": "Wait", "Data": "30",
        "CallerID": f"Test <{caller}>" if caller else "", "Async": "true",
        **({"Variable": f"{wire.AT}={at}"} if at else {}),
    })
    first = await rec.wait_for(lambda e: e.get("Event") == "Newexten" and is_ivr_channel(e) and e.get("Context") == CONTEXTS.entries)
    channel = first["Channel"]
    def is_read(e: dict) -> bool:
        return e.get("Event") == "Newexten" and e.get("Channel") == channel and e.get("Application") == "Read"

    for prompt, item in enumerate(digits, start=1):
        await _nth(rec, is_read, prompt)
        await asyncio.sleep(0.3)
        for digit in item:
            await rec.send({"Action": "PlayDTMF", "Channel": channel, "Digit": digit, "Duration": "120", "Receive": "true"})
            await asyncio.sleep(0.25)
        if item and len(item) > 1:
            await rec.send({"Action": "PlayDTMF", "Channel": channel, "Digit": "#", "Duration": "120", "Receive": "true"})
    return channel


async def _nth(rec, predicate, n, timeout=20):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if sum(1 for e in rec.events if predicate(e)) >= n:
            return
        await asyncio.sleep(0.05)
    raise EventTimeout(f"prompt {n} never came; last events {[e.get('Event') for e in rec.events[-30:]]}")


async def outcome(rec: EventRecorder, channel: str, timeout: float = 25) -> str:
    """Where the IVR sent the call: queue:NAME (Queue() started: whether the queue then
    takes the caller is the queue's business), voicemail:BOX, hangup."""
    def final(e):
        return (
            e.get("Channel") == channel
            and e.get("Event") == "Newexten"
            and (e.get("Application") in ("Queue", "VoiceMail") or e.get("Context") in (CONTEXTS.hangup, CONTEXTS.transfer))
        )
    event = await rec.wait_for(final, timeout)
    await rec.send({"Action": "Hangup", "Channel": channel})
    if event.get("Application") == "Queue":
        return f"queue:{event['AppData'].split(',')[0]}"
    if event.get("Context") == CONTEXTS.transfer:
        return f"transfer:{event['Extension']}"
    if event.get("Application") == "VoiceMail":
        return f"voicemail:{event['AppData'].split('@')[0]}"
    return "hangup"
