"""Many IVR calls at once through the sandbox Asterisk, timed from AMI events: for the
frozen-service tests and the fault suite (scripts/fault_suite.py).

Callers are `Local/<entry>@pbxctl-entries` originated over AMI, each with its own caller
number, so that each IVR-side channel (`...;2`) is found by its CallerIDNum. Every step is
read back from Newexten events stamped with their arrival time (TimedRecorder `_t`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from pbxctl.asterisk.wire import CONTEXTS
from pbxctl.asterisk.live_call import is_ivr_channel

from helpers.queue_calls import TimedRecorder

# The caller numbers of lab calls: +4722 (Oslo, not on any list of the example site).
LAB_PREFIX = "+472299"


@dataclass
class IvrCall:
    caller: str
    channel: str = ""
    uniqueid: str = ""  # of the IVR-side channel: the callid of its queue_log lines
    # Arrival times (monotonic s) of the AGI steps this call ran in [pbxctl-decide], and of
    # its first step in [pbxctl-fallback] (None: never fell back).
    agi_starts: list[float] = field(default_factory=list)
    fell_back_at: float | None = None
    hung_up_at: float | None = None
    cut_by_pbx: bool = False  # still up when the PBX stopped (the fault suite's Asterisk restart)

    def held_for(self, since: float) -> float | None:
        """Seconds from the first AGI step that began after `since` to the fallback."""
        starts = [t for t in self.agi_starts if t >= since]
        if not starts or self.fell_back_at is None:
            return None
        return self.fell_back_at - starts[0]


def lab_callers(n: int, offset: int = 0) -> list[str]:
    return [f"{LAB_PREFIX}{offset + i:04d}" for i in range(n)]


def is_lab_channel(channel: str) -> bool:
    return channel.startswith("Local/") and f"@{CONTEXTS.entries}-" in channel


async def originate(rec: TimedRecorder, entry: str, callers: list[str], variables: str = "") -> list[IvrCall]:
    """One call into `entry` per caller number, all at once; returns when every IVR-side
    channel is known."""
    calls = [IvrCall(caller) for caller in callers]
    start = len(rec.events)
    for call in calls:
        await rec.send({
            "Action": "Originate", "Channel": f"Local/{entry}@{CONTEXTS.entries}", "Application": "Wait",
            "Data": "60", "CallerID": f"Lab <{call.caller}>", "Async": "true",
            **({"Variable": variables} if variables else {}),
        })
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        follow(rec, calls, start)
        if all(c.channel for c in calls):
            return calls
        await asyncio.sleep(0.05)
    missing = [c.caller for c in calls if not c.channel]
    raise AssertionError(f"calls never reached {CONTEXTS.entries}: {missing}")


def follow(rec: TimedRecorder, calls: list[IvrCall], start: int = 0) -> None:
    """Read the recorded events into `calls` (idempotent: recomputed from `start`)."""
    by_caller = {c.caller: c for c in calls}
    by_channel = {c.channel: c for c in calls if c.channel}
    for c in calls:
        c.agi_starts.clear()
    for event in rec.events[start:]:
        kind = event.get("Event")
        if kind == "Newexten" and is_ivr_channel(event) and event.get("Context") == CONTEXTS.entries:
            call = by_caller.get(event.get("CallerIDNum", ""))
            if call is not None and not call.channel:
                call.channel = event["Channel"]
                call.uniqueid = event.get("Uniqueid", "")
                by_channel[call.channel] = call
        call = by_channel.get(event.get("Channel", ""))
        if call is None:
            continue
        if kind == "Newexten" and event.get("Context") == CONTEXTS.decide and event.get("Application") == "AGI":
            call.agi_starts.append(event["_t"])
        elif kind == "Newexten" and event.get("Context") == CONTEXTS.fallback and call.fell_back_at is None:
            call.fell_back_at = event["_t"]
        elif kind == "Hangup" and call.hung_up_at is None:
            call.hung_up_at = event["_t"]


async def wait_until(rec: TimedRecorder, calls: list[IvrCall], done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        follow(rec, calls)
        if all(done(c) for c in calls):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"waited {timeout} s for {what}: " + ", ".join(f"{c.caller}={c}" for c in calls if not done(c)))


async def at_application(rec: TimedRecorder, calls: list[IvrCall], app: str, timeout: float = 20) -> None:
    """Until every call has started `app` (e.g. Read: waiting for the caller's digits)."""
    def there(c: IvrCall) -> bool:
        return any(e.get("Event") == "Newexten" and e.get("Channel") == c.channel and e.get("Application") == app
                   for e in rec.events)
    await wait_until(rec, calls, there, timeout, f"every call in {app}()")


async def press(rec: TimedRecorder, calls: list[IvrCall], digit: str) -> None:
    for call in calls:
        await rec.send({"Action": "PlayDTMF", "Channel": call.channel, "Digit": digit, "Duration": "120", "Receive": "true"})


async def channels(rec: TimedRecorder) -> list[dict]:
    """Asterisk's channels now (CoreShowChannels)."""
    return [e for e in await rec.action({"Action": "CoreShowChannels"}) if e.get("Event") == "CoreShowChannel"]


async def hang_up_all(rec: TimedRecorder, timeout: float = 10) -> list[str]:
    """Hang up every lab channel; return those still listed afterwards."""
    for ch in await channels(rec):
        if is_lab_channel(ch.get("Channel", "")):
            await rec.send({"Action": "Hangup", "Channel": ch["Channel"]})
    deadline = time.monotonic() + timeout
    while True:
        left = [ch["Channel"] for ch in await channels(rec) if is_lab_channel(ch.get("Channel", ""))]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)
