"""Calls with caller, agent, supervisor and third-party legs on the sandbox Asterisk, for
tests/test_supervision_asterisk.py.

Every phone is a Local channel: its ;1 half is what Asterisk's queue, ChanSpy or Dial
sees; its ;2 half runs a test-only dialplan that stands for the handset. Handsets answer
(and then send silence frames, as RTP would, so that whispered audio has frames to ride
on), ring, or are busy, as AstDB pbxctl_sv/<ext> says. What a handset hears can be
recorded (MixMonitor of its received audio) and searched for the agent notice's MF tone
(700 + 900 Hz, Goertzel): that is how a test knows who heard it. DTMF "pressed" on a
handset is AMI PlayDTMF on its ;2 half, which the ;1 half receives as if from the phone.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import struct
import time
import uuid
from pathlib import Path

from helpers.queue_calls import TimedRecorder, install_dialplan_file

TEST_DIALPLAN_FILE = "extensions_pbxctl_sv_test.conf"
PHONES = "pbxctl-sv-phones"
CALLERS = "pbxctl-sv-callers"
DIAL = "pbxctl-sv-dial"
DB_FAMILY = "pbxctl_sv"
NOTICE_HZ = (700, 900)   # MF digit 1: the agent notice
RATE = 8000

TEST_DIALPLAN = f"""\
; Written by pbxctl's tests/helpers/supervision_lab.py for tests/test_supervision_asterisk.py.
; Handsets of the test site's agents, supervisors and third parties; nothing here belongs
; to a site.

; A desk phone. AstDB {DB_FAMILY}/<ext>: answer, busy, or anything else: ring.
[{PHONES}]
exten => _X.,1,NoOp(pbxctl test phone ${{EXTEN}})
 same => n,Set(MODE=${{DB({DB_FAMILY}/${{EXTEN}})}})
 same => n,GotoIf($["${{MODE}}" = "answer"]?answer)
 same => n,GotoIf($["${{MODE}}" = "busy"]?busy)
 same => n,Ringing()
 same => n,Wait(120)
 same => n,Hangup()
 same => n(busy),Busy(5)
 same => n,Hangup()
 same => n(answer),Answer()
 same => n,Goto({CALLERS},talk,1)

; The site's internal and outbound context: dials the extension's phone.
[{DIAL}]
exten => _X.,1,Dial(Local/${{EXTEN}}@{PHONES}/n,60)
 same => n,Hangup()

; A phone that answers at once (callers, and an agent's second line).
[{CALLERS}]
exten => _X.,1,Answer()
 same => n,Goto(talk,1)
exten => talk,1,UserEvent(PbxctlSvAnswered,Phone: ${{CHANNEL}})
 same => n(loop),Playback(silence/10)
 same => n,Goto(loop)
"""


def install_test_dialplan(config_dir: Path) -> bool:
    return install_dialplan_file(config_dir, TEST_DIALPLAN_FILE, TEST_DIALPLAN, "test phones")


def is_ours(channel: str) -> bool:
    return channel.startswith("Local/") and "@pbxctl-" in channel


def _power(samples, freq: float) -> float:
    k = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return max(0.0, s1 * s1 + s2 * s2 - k * s1 * s2)


def count_beeps(samples, window: int = 400) -> int:
    """Bursts (>= 100 ms) in which both MF frequencies stand out: the notice's beeps."""
    beeps, run = 0, 0
    for i in range(0, len(samples) - window, window):
        chunk = samples[i:i + window]
        on = all(math.sqrt(_power(chunk, f)) / window > 300 for f in NOTICE_HZ)
        run = run + 1 if on else 0
        if run == 2:   # two 50 ms windows in a row
            beeps += 1
    return beeps


def handset(channel: str) -> str:
    """The ;2 half (the handset) of a Local channel's ;1 half."""
    assert channel.endswith(";1"), channel
    return channel[:-1] + "2"


class Lab(TimedRecorder):
    """One AMI connection recording every event (stamped `_t`), plus the moves a test makes."""

    def __init__(self, secret: str, root: Path | None = None):
        super().__init__(secret)
        self.root = root
        self._numbers = itertools.count(int(time.time()) % 10000 * 100)

    async def ok(self, fields: dict) -> dict:
        reply = (await self.action(fields))[0]
        assert reply.get("Response") == "Success", (fields, reply)
        return reply

    # -- phones
    async def phone(self, extension: str, mode: str) -> None:
        """answer | ring | busy, from the next call on."""
        await self.ok({"Action": "DBPut", "Family": DB_FAMILY, "Key": extension, "Val": mode})

    async def press(self, channel_1: str, digits: str) -> None:
        """Digits pressed on the handset of this Local ;1 channel."""
        for digit in digits:
            await self.ok({"Action": "PlayDTMF", "Channel": handset(channel_1), "Digit": digit, "Duration": "120"})
            await asyncio.sleep(0.25)

    async def start_hearing(self, channel_1: str) -> str:
        """Record what this leg's handset hears from now on."""
        name = f"/tmp/pbxctl-sv-{uuid.uuid4().hex[:10]}"
        await self.ok({"Action": "MixMonitor", "Channel": handset(channel_1), "File": f"{name}-both.wav",
                       "Options": f"r({name}-rx.wav)"})
        return name

    async def beeps_heard(self, channel_1: str, name: str) -> int:
        """Stop recording; how many notice beeps the handset heard."""
        await self.ok({"Action": "StopMixMonitor", "Channel": handset(channel_1)})
        assert self.root is not None
        path = self.root / name.lstrip("/")
        path = path.with_name(path.name + "-rx.wav")
        for _ in range(50):
            if path.exists():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        data = path.read_bytes()[44:]
        samples = struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2])
        for p in path.parent.glob(path.name.replace("-rx.wav", "-*")):
            p.unlink()
        return count_beeps(samples)

    async def hang_up_handset(self, channel_1: str) -> None:
        await self.hang_up(handset(channel_1))

    async def hang_up(self, channel: str) -> None:
        await self.action({"Action": "Hangup", "Channel": channel})

    # -- calls
    async def call_queue(self, queue: str, timeout: float = 15) -> dict:
        """A caller into queue; returns the AgentConnect event once an agent answered."""
        number = f"4790{next(self._numbers):06d}"
        start = len(self.events)
        await self.ok({
            "Action": "Originate", "Channel": f"Local/{number}@{CALLERS}/n", "Context": "pbxctl-queue",
            "Exten": queue, "Priority": "1", "CallerID": f"<{number}>", "Async": "true",
        })
        return await self.wait_from(start, lambda e: e.get("Event") == "AgentConnect" and e.get("CallerIDNum") == number, timeout)

    async def dial_from(self, extension: str, digits: str, context: str = "pbxctl-features") -> str:
        """A desk phone with this caller number dials `digits`; the ;1 channel running them."""
        start = len(self.events)
        await self.ok({
            "Action": "Originate", "Channel": f"Local/{extension}@{CALLERS}/n", "Context": context,
            "Exten": digits, "Priority": "1", "CallerID": f"<{extension}>", "Async": "true",
        })
        event = await self.wait_from(start, lambda e: e.get("Event") == "Newexten" and e.get("Exten") == digits
                                     and e.get("Context") == context, 10)
        return event["Channel"]

    async def wait_from(self, start: int, predicate, timeout: float = 15.0) -> dict:
        return await self.wait_for(predicate, timeout, start)

    def mark(self) -> int:
        return len(self.events)

    async def channels(self) -> list[dict]:
        return [e for e in await self.action({"Action": "CoreShowChannels"}) if e.get("Event") == "CoreShowChannel"]

    async def channel(self, name: str) -> dict | None:
        return next((c for c in await self.channels() if c.get("Channel") == name), None)

    async def none_left(self, timeout: float = 10.0) -> None:
        """CoreShowChannels shows none of the test's channels (waits for teardown)."""
        deadline = time.monotonic() + timeout
        left: list[str] = []
        while time.monotonic() < deadline:
            left = [c["Channel"] for c in await self.channels() if is_ours(c.get("Channel", ""))]
            if not left:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"channels left behind: {left}")

    async def clear(self) -> None:
        """Hang up whatever a failed test left (so the next one starts clean)."""
        for c in await self.channels():
            if is_ours(c.get("Channel", "")):
                await self.hang_up(c["Channel"])
