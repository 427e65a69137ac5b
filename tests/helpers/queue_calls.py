"""Calls into the queues of tests/sites/queues.yaml on the sandbox Asterisk, observed over
AMI (tests/test_queue_strategies_asterisk.py).

- A test-only dialplan file, extensions_pbxctl_test.conf, #included once from the
  sandbox's extensions.conf: [pbxctl-test-agents] is every agent's phone (the site's
  agents are `Local/<ext>@pbxctl-test-agents`); it answers or keeps ringing according to
  the AstDB key pbxctl_test/<ext> the test sets over AMI (DBPut): `answer:<seconds>`
  answers and hangs up after that many seconds, anything else (or nothing) rings until
  the queue gives up. [pbxctl-test-exit] is the site's outbound context: a call sent to
  transfer:NUMBER ends there with a UserEvent naming the number and QUEUESTATUS.
- Callers are placed by AMI Originate of `Local/<queue>@pbxctl-queue` (the generated
  destination queue:NAME), each with its own caller number.
- What the queue rings is read back from AgentCalled events: members called within
  ROUND_GAP seconds of each other form one round (one attempt of app_queue's
  try_calling); rounds are seconds apart (ring time + retry).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pbxctl.asterisk.ami_events import EventRecorder
from pbxctl.asterisk.ami_protocol import parse_message
from pbxctl.domain.queue_strategy import MemberState, members_of
from pbxctl.site import model as m

TEST_DIALPLAN_FILE = "extensions_pbxctl_test.conf"
AGENTS_CONTEXT = "pbxctl-test-agents"
EXIT_CONTEXT = "pbxctl-test-exit"
RAISE_CONTEXT = "pbxctl-test-queue-raise"
DB_FAMILY = "pbxctl_test"
# AgentCalled events of one attempt come within milliseconds; attempts are >= 1 s apart.
ROUND_GAP = 0.4

TEST_DIALPLAN = f"""\
; Written by pbxctl's tests/helpers/queue_calls.py for tests/test_queue_strategies_asterisk.py.
; Test agents and a test exit; nothing here belongs to a site.

; An agent's phone. AstDB {DB_FAMILY}/<ext> = answer:<seconds> answers, talks that long and
; hangs up; anything else keeps ringing until the queue gives up on it.
[{AGENTS_CONTEXT}]
exten => _X.,1,NoOp(pbxctl test agent ${{EXTEN}})
 same => n,Set(MODE=${{DB({DB_FAMILY}/${{EXTEN}})}})
 same => n,GotoIf($["${{MODE:0:7}}" = "answer:"]?answer)
 same => n,Ringing()
 same => n,Wait(300)
 same => n,Hangup()
 same => n(answer),Answer()
 same => n,UserEvent(PbxctlTestAnswered,Agent: ${{EXTEN}})
 same => n,Wait(${{MODE:7}})
 same => n,Hangup()

; A generated queue run as the generated [pbxctl-queue-run] runs an escalating queue, but
; with QUEUE_RAISE_PENALTY initialised too (without it app_queue ignores the rules' `r`
; field): shows what the generated queue and rule do once the dialplan sets it.
[{RAISE_CONTEXT}]
exten => _[a-z].,1,Set(QUEUE_MAX_PENALTY=0)
 same => n,Set(QUEUE_RAISE_PENALTY=0)
 same => n,Queue(${{EXTEN}},t)
 same => n,Hangup()

; Where transfer:NUMBER of the test site lands (the site's outbound_context).
[{EXIT_CONTEXT}]
exten => _X.,1,UserEvent(PbxctlTestExit,Number: ${{EXTEN}},QueueStatus: ${{QUEUESTATUS}})
 same => n,Hangup()
"""


def install_dialplan_file(config_dir: Path, name: str, text: str, note: str) -> bool:
    """Write a test-only dialplan file and #include it once from extensions.conf, owned and
    moded like extensions.conf. True when something changed (a dialplan reload is due)."""
    operator = config_dir / "extensions.conf"
    target = config_dir / name
    changed = False
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
        changed = True
    include = f'#include "{name}"'
    current = operator.read_text()
    if include not in current.splitlines():
        operator.write_text(current + ("" if current.endswith("\n") else "\n") + f"\n; Added by pbxctl's tests: {note}.\n{include}\n")
        changed = True
    st = operator.stat()
    shutil.chown(target, st.st_uid, st.st_gid)
    target.chmod(st.st_mode & 0o777)
    return changed


def install_test_dialplan(config_dir: Path) -> bool:
    return install_dialplan_file(config_dir, TEST_DIALPLAN_FILE, TEST_DIALPLAN, "test agents")


def interface(ext: str) -> str:
    return f"Local/{ext}@{AGENTS_CONTEXT}"


def extension_of(interface_name: str) -> str:
    return interface_name.split("/", 1)[1].split("@", 1)[0]


def is_ours(channel: str) -> bool:
    """Channels these tests create: test agents and callers into the test site's queues."""
    return channel.startswith("Local/") and ("@pbxctl-test-" in channel or (channel.startswith("Local/q_") and "@pbxctl-queue-" in channel))


class TimedRecorder(EventRecorder):
    """EventRecorder that stamps each event with its arrival time (`_t`, monotonic s) and
    can wait for the response to an action."""

    async def _pump(self) -> None:
        while True:
            block = await self._reader.readuntil(b"\r\n\r\n")
            event: dict = parse_message(block)
            event["_t"] = time.monotonic()
            self.events.append(event)

    async def action(self, fields: dict[str, str], timeout: float = 10.0) -> list[dict]:
        """Send an action; return its response and, for a list action, its events up to
        the completion event."""
        action_id = f"t-{uuid.uuid4().hex[:10]}"
        start = len(self.events)
        await self.send({**fields, "ActionID": action_id})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [e for e in self.events[start:] if e.get("ActionID") == action_id]
            if mine:
                first = mine[0]
                listing = first.get("EventList") == "start" or "will follow" in first.get("Message", "")
                if not listing or first.get("Response") != "Success":
                    return mine
                if any(e.get("EventList") == "Complete" or e.get("Event", "").endswith("Complete") for e in mine[1:]):
                    return mine
            await asyncio.sleep(0.02)
        raise AssertionError(f"no complete answer to {fields.get('Action')} within {timeout} s")


@dataclass
class Round:
    """Members rung together in one attempt, and when (s after the caller joined)."""

    at: float
    members: frozenset[str]
    events: list[dict] = field(repr=False, default_factory=list)


@dataclass
class Call:
    number: str
    queue: str
    placed_at: float
    channel: str | None = None  # the caller's channel running the queue (Local/...;2)


class Lab:
    """One AMI connection (a TimedRecorder) and the test site's agents and queues."""

    def __init__(self, rec: TimedRecorder, site: m.Site):
        self.rec = rec
        self.site = site
        self.names = {agent.extension: key for key, agent in site.agents.items()}  # 7001 -> a1
        self.exts = {key: agent.extension for key, agent in site.agents.items()}  # a1 -> 7001
        self._numbers = itertools.count(int(time.time()) % 100000 * 10)
        self._epoch_offset = time.time() - time.monotonic()

    def epoch(self, t: float) -> float:
        """An event's arrival time (`_t`) on the wall clock Asterisk counts in."""
        return t + self._epoch_offset

    # -- agents --------------------------------------------------------------------
    async def answers(self, agent: str, talk: float = 0.3) -> None:
        """The agent (a1...) answers from now on and hangs up after `talk` seconds."""
        reply = await self.rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": self.exts[agent], "Val": f"answer:{talk}"})
        assert reply[0].get("Response") == "Success", reply

    async def rings(self, *agents: str) -> None:
        """These agents (default: all) let their phone ring, never answering."""
        for agent in agents or tuple(self.exts):
            reply = await self.rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": self.exts[agent], "Val": "ring"})
            assert reply[0].get("Response") == "Success", reply

    async def pause(self, queue: str, *agents: str, paused: bool = True) -> None:
        for agent in agents:
            reply = await self.rec.action({
                "Action": "QueuePause", "Queue": queue, "Interface": interface(self.exts[agent]),
                "Paused": "true" if paused else "false", "Reason": "pbxctl test",
            })
            assert reply[0].get("Response") == "Success", reply

    async def reset(self, queue: str) -> None:
        """Calls taken and last call of every member back to none (AMI QueueReset); every
        member unpaused."""
        reply = await self.rec.action({"Action": "QueueReset", "Queue": queue})
        assert reply[0].get("Response") == "Success", reply
        paused = [self.names[extension_of(mem["Location"])] for mem in await self.members(queue) if mem.get("Paused") == "1"]
        await self.pause(queue, *paused, paused=False)

    async def members(self, queue: str) -> list[dict]:
        reply = await self.rec.action({"Action": "QueueStatus", "Queue": queue})
        return [mem for mem in reply if mem.get("Event") == "QueueMember" and mem.get("Queue") == queue]

    async def states(self, queue: str) -> list[MemberState]:
        """The queue's members as the reference sees them, read from QueueStatus: calls
        taken, last call end (epoch s), available = not paused and not on a call."""
        status = {self.names[extension_of(mem["Location"])]: mem for mem in await self.members(queue)}
        return members_of(
            self.site,
            queue,
            calls={agent: int(mem["CallsTaken"]) for agent, mem in status.items()},
            last_call_end={agent: float(mem["LastCall"]) for agent, mem in status.items() if mem["LastCall"] != "0"},
            unavailable=[agent for agent, mem in status.items() if mem["Paused"] == "1" or mem["InCall"] == "1" or mem["Status"] not in ("0", "1")],
        )

    async def wait_idle(self, queue: str, timeout: float = 5) -> None:
        """Until app_queue sees every member of `queue` not in use and not on a call."""
        deadline = time.monotonic() + timeout
        while True:
            busy = [mem["Name"] for mem in await self.members(queue) if mem["Status"] != "1" or mem["InCall"] != "0"]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{queue}: members still busy after {timeout} s: {busy}")
            await asyncio.sleep(0.05)

    def agent_of(self, event: dict) -> str:
        """The site's agent key (a1...) of an AgentCalled/AgentRingNoAnswer/... event."""
        return self.names[extension_of(event["Interface"])]

    # -- callers ---------------------------------------------------------------------
    async def call(self, queue: str, context: str = "pbxctl-queue", number: str | None = None) -> Call:
        """Originate a caller into queue:NAME (`context`: the generated destination
        context); returns once its channel runs there (not necessarily joined: joining
        may be refused). Each caller has a number of its own unless `number` is given."""
        number = number or f"55{next(self._numbers):07d}"[-9:]
        call = Call(number, queue, time.monotonic())
        start = len(self.rec.events)  # a number given twice: this call's events, not the last one's
        reply = await self.rec.action({
            "Action": "Originate", "Channel": f"Local/{queue}@{context}", "Application": "Wait", "Data": "120",
            "CallerID": f"Test <{number}>", "Timeout": "120000", "Async": "true",
        })
        assert reply[0].get("Response") == "Success", reply
        first = await self.rec.wait_for(
            lambda e: e.get("Event") == "Newexten" and e.get("Context") == context and e.get("Exten") == queue
            and e.get("CallerIDNum") == number and e.get("Channel", "").endswith(";2"),
            timeout=10, start=start,
        )
        call.channel = first["Channel"]
        return call

    async def joined(self, call: Call, timeout: float = 5) -> dict:
        """The caller's first QueueCallerJoin."""
        return await self.rec.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Channel") == call.channel, timeout)

    async def joined_queue(self, call: Call, queue: str, timeout: float = 5) -> dict:
        return await self.rec.wait_for(
            lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Channel") == call.channel and e.get("Queue") == queue, timeout
        )

    async def exited(self, call: Call, timeout: float = 15) -> dict:
        """The caller reaching [pbxctl-test-exit] (a transfer:NUMBER destination): the
        UserEvent with Number and QueueStatus."""
        return await self.rec.wait_for(
            lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "PbxctlTestExit" and e.get("Channel") == call.channel, timeout
        )

    async def left(self, call: Call, timeout: float = 15, queue: str | None = None) -> dict:
        return await self.rec.wait_for(
            lambda e: e.get("Event") == "QueueCallerLeave" and e.get("Channel") == call.channel and queue in (None, e.get("Queue")), timeout
        )

    async def answered_by(self, call: Call, timeout: float = 20) -> str:
        """Wait for the call to be answered and to end (AgentComplete); the agent (a1...)."""
        done = await self.rec.wait_for(lambda e: e.get("Event") == "AgentComplete" and e.get("Channel") == call.channel, timeout)
        return self.agent_of(done)

    def of(self, call: Call, name: str, queue: str | None = None) -> list[dict]:
        return [e for e in self.rec.events if e.get("Event") == name and e.get("Channel") == call.channel and (queue is None or e.get("Queue") == queue)]

    async def wait_rounds(self, call: Call, n: int, timeout: float = 20, queue: str | None = None) -> list[Round]:
        """Wait until the caller has been offered to members in `n` rounds, and the n-th
        round is complete; return the rounds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rounds = self.rounds(call, queue)
            if len(rounds) >= n and time.monotonic() - rounds[n - 1].events[-1]["_t"] > ROUND_GAP:
                return rounds[:n]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{call.queue}: {n} rounds expected within {timeout} s, got {[sorted(r.members) for r in self.rounds(call, queue)]}")

    def join_epoch(self, call: Call, queue: str | None = None) -> float:
        return self.epoch(self.of(call, "QueueCallerJoin", queue)[0]["_t"])

    def rounds(self, call: Call, queue: str | None = None) -> list[Round]:
        """AgentCalled events of this caller grouped into rounds by arrival time."""
        called = sorted(self.of(call, "AgentCalled", queue), key=lambda e: e["_t"])
        join = self.of(call, "QueueCallerJoin", queue)
        origin = join[0]["_t"] if join else call.placed_at
        rounds: list[Round] = []
        for event in called:
            if rounds and event["_t"] - rounds[-1].events[-1]["_t"] <= ROUND_GAP:
                rounds[-1].events.append(event)
                rounds[-1].members = rounds[-1].members | {self.agent_of(event)}
            else:
                rounds.append(Round(event["_t"] - origin, frozenset({self.agent_of(event)}), [event]))
        return rounds

    async def hang_up(self, call: Call) -> None:
        await self.rec.send({"Action": "Hangup", "Channel": call.channel})
        await self.rec.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == call.channel, timeout=5)

    # -- channels ------------------------------------------------------------------------
    async def our_channels(self) -> list[str]:
        reply = await self.rec.action({"Action": "CoreShowChannels"})
        return [e["Channel"] for e in reply if e.get("Event") == "CoreShowChannel" and is_ours(e.get("Channel", ""))]

    async def settle(self, timeout: float = 5) -> list[str]:
        """Wait until no channel of ours is left; return those still there after `timeout`."""
        deadline = time.monotonic() + timeout
        left = await self.our_channels()
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            left = await self.our_channels()
        return left

    async def hang_up_leftovers(self) -> list[str]:
        left = await self.our_channels()
        for channel in left:
            await self.rec.send({"Action": "Hangup", "Channel": channel})
        if left:
            await self.settle()
        return left
