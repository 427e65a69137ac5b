#!/usr/bin/env python3
"""Record the raw AMI byte stream of the sandbox Asterisk under queue load.

The recording (tests/fixtures/ami/queue_load.ami[.gz]) feeds tests/test_queue_state.py and
scripts/bench_ami_events.py. It is every byte Asterisk sent after the Login response on
a connection with events on: first the answers to a QueueStatus and a CoreShowChannels
sent right after login (what the controller does after each (re)connect), then the
events of about a minute of queue traffic.

The sandbox is shared: run this under its lock, which it holds for about three minutes:

    flock /tmp/pbxctl-sandbox.use .venv/bin/python scripts/record_ami_events.py

What it does:
  1. installs [pbxctl-bench-agents] (extensions_pbxctl_bench.conf, #included once from
     the sandbox's extensions.conf) and applies scripts/bench_queue_site.yaml with
     pbxctl's own apply (3 queues, 6 agents whose devices are Local channels into the
     bench context: they ring 0.5-6.5 s, talk 1-4 s);
  2. starts a few callers, then logs in the recording connection and asks for
     QueueStatus and CoreShowChannels;
  3. originates ~110 callers (Local channels into the generated pbxctl-queue,<queue>,1)
     over about a minute, a quarter of them hanging up after 2-12 s (abandons); adds,
     pauses (with a reason), re-penalises and removes members on the way; pausing both
     members of bench_vip makes it empty (LEAVEEMPTY / JOINEMPTY);
  4. waits until every caller is gone, stops recording, and puts the sandbox's previous
     generated files back (reloaded), so whatever site was applied is as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gzip
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pbxctl.apply.asterisk_apply import apply_asterisk
from pbxctl.apply.files import atomic_write, plan_asterisk_include, read_text
from pbxctl.asterisk.ami_client import AmiClient, AmiError
from pbxctl.asterisk.ami_protocol import encode_action, parse_message
from pbxctl.render.asterisk import EXTENSIONS_FILE, QUEUERULES_FILE, QUEUES_FILE
from pbxctl.site.load import load_site

REPO = Path(__file__).resolve().parents[1]
SANDBOX = REPO / "scripts" / "asterisk-sandbox"
SITE = REPO / "scripts" / "bench_queue_site.yaml"
OUT_DIR = REPO / "tests" / "fixtures" / "ami"
BENCH_FILE = "extensions_pbxctl_bench.conf"
GZIP_ABOVE = 1_000_000

QUEUES = {"bench_sales": 0.45, "bench_support": 0.40, "bench_vip": 0.15}
FRODE = "Local/9106@pbxctl-bench-agents/n"
AGENT = "Local/{ext}@pbxctl-bench-agents/n"

BENCH_DIALPLAN = """\
; Written by pbxctl's scripts/record_ami_events.py for recording queue load; not used
; by pbxctl itself. Safe to leave in place (nothing routes here but the bench site).

[pbxctl-bench-agents]
; A bench "agent": rings for 0.5-6.5 s (ring time is 5-6 s, so some ring out),
; answers, talks for 1-4 s and hangs up.
exten => _91XX,1,Ringing()
 same => n,Wait(${MATH(${RAND(5,65)}/10)})
 same => n,Answer()
 same => n,Wait(${MATH(${RAND(10,40)}/10)})
 same => n,Hangup()
"""


def sandbox_paths() -> tuple[Path, Path]:
    root = Path(subprocess.run([str(SANDBOX), "path"], capture_output=True, text=True, check=True).stdout.strip())
    return root / "etc" / "asterisk", root.parent / "ami.secret"


def site_for(config_dir: Path, secret_file: Path, directory: Path) -> Path:
    text = SITE.read_text()
    text = text.replace("/var/lib/pbxctl-sandbox/root/etc/asterisk", str(config_dir))
    text = text.replace("/var/lib/pbxctl-sandbox/ami.secret", str(secret_file))
    path = directory / SITE.name
    path.write_text(text)
    return path


def install_bench_dialplan(config_dir: Path) -> None:
    like = config_dir / "extensions.conf"
    atomic_write(config_dir / BENCH_FILE, BENCH_DIALPLAN, like)
    include = plan_asterisk_include(like, BENCH_FILE)
    if include.changed:
        atomic_write(like, include.new, like)


class Recorder:
    """The recording connection: raw bytes after the Login response."""

    def __init__(self, secret: str):
        self.secret = secret
        self.data = bytearray()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", 5038)
        await self.reader.readline()  # greeting
        self.writer.write(
            encode_action({"Action": "Login", "Username": "pbxctl", "Secret": self.secret, "Events": "on", "ActionID": "rec-login"})
        )
        reply = parse_message(await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10))
        if reply.get("Response") != "Success":
            raise SystemExit(f"recording login refused: {reply}")
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while chunk := await self.reader.read(1 << 16):
            self.data += chunk

    async def send(self, fields: dict[str, str]) -> None:
        self.writer.write(encode_action(fields))
        await self.writer.drain()

    async def stop(self) -> bytes:
        await asyncio.sleep(0.5)  # what is in flight
        if self._task:
            self._task.cancel()
        self.writer.close()
        return bytes(self.data)


async def originate(ami: AmiClient, rng: random.Random, n: int) -> None:
    queue = rng.choices(list(QUEUES), weights=list(QUEUES.values()))[0]
    abandons = rng.random() < 0.25
    timeout_ms = rng.randint(2000, 12000) if abandons else 180_000
    number = f"4790{rng.randint(0, 999999):06d}"
    reply = (
        await ami.action(
            {
                "Action": "Originate",
                "Channel": f"Local/{queue}@pbxctl-queue/n",
                "Application": "Wait",
                "Data": str(rng.randint(3, 20)),  # the caller hangs up after this long talking
                "CallerID": f'"Bench caller {n}" <{number}>',
                "Timeout": str(timeout_ms),
                "Async": "true",
            }
        )
    )[0]
    if reply.get("Response") != "Success":
        print(f"originate {n} refused: {reply.get('Message')}", file=sys.stderr)


async def member_actions(ami: AmiClient, at: float) -> None:
    """Member changes at set times during the load (seconds after it starts)."""
    script = [
        (5, {"Action": "QueueAdd", "Queue": "bench_vip", "Interface": FRODE, "MemberName": "Frode Bench", "StateInterface": FRODE, "Penalty": "0"}),
        (6, {"Action": "QueueAdd", "Queue": "bench_sales", "Interface": FRODE, "MemberName": "Frode Bench", "StateInterface": FRODE, "Penalty": "1"}),
        (12, {"Action": "QueuePause", "Queue": "bench_vip", "Interface": AGENT.format(ext=9105), "Paused": "true", "Reason": "lunch"}),
        (14, {"Action": "QueuePause", "Queue": "bench_vip", "Interface": FRODE, "Paused": "true", "Reason": "meeting"}),
        (26, {"Action": "QueuePause", "Queue": "bench_vip", "Interface": AGENT.format(ext=9105), "Paused": "false"}),
        (27, {"Action": "QueuePause", "Queue": "bench_vip", "Interface": FRODE, "Paused": "false"}),
        (30, {"Action": "QueuePenalty", "Queue": "bench_sales", "Interface": AGENT.format(ext=9103), "Penalty": "0"}),
        (34, {"Action": "QueueMemberRingInUse", "Queue": "bench_sales", "Interface": FRODE, "RingInUse": "false"}),
        (40, {"Action": "QueuePause", "Interface": AGENT.format(ext=9101), "Paused": "true", "Reason": "break"}),
        (48, {"Action": "QueuePause", "Interface": AGENT.format(ext=9101), "Paused": "false"}),
        (50, {"Action": "QueueRemove", "Queue": "bench_sales", "Interface": FRODE}),
    ]
    for when, action in script:
        await asyncio.sleep(max(0.0, at + when - time.monotonic()))
        reply = (await ami.action(action))[0]
        if reply.get("Response") != "Success":
            print(f"{action['Action']} refused: {reply.get('Message')}", file=sys.stderr)


async def drained(ami: AmiClient, limit: float) -> bool:
    """Wait until no bench caller is queued and no bench channel is left."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        channels = await ami.action({"Action": "CoreShowChannels"})
        left = [
            m for m in channels
            if m.get("Event") == "CoreShowChannel"
            and ("@pbxctl-queue" in m.get("Channel", "") or "pbxctl-bench" in m.get("Channel", ""))
        ]
        if not left:
            return True
        await asyncio.sleep(2)
    return False


async def record(ami: AmiClient, secret: str, calls: int, seconds: float, seed: int) -> bytes:
    rng = random.Random(seed)
    n = 0
    # A few callers before recording starts: the QueueStatus answer then lists some.
    for _ in range(6):
        n += 1
        await originate(ami, rng, n)
    await asyncio.sleep(4)
    recorder = Recorder(secret)
    await recorder.start()
    await recorder.send({"Action": "QueueStatus", "ActionID": "rec-queuestatus"})
    await recorder.send({"Action": "CoreShowChannels", "ActionID": "rec-channels"})
    start = time.monotonic()
    members = asyncio.create_task(member_actions(ami, start))
    gap = seconds / calls
    for i in range(calls):
        await asyncio.sleep(max(0.0, start + i * gap + rng.uniform(-gap / 2, gap / 2) - time.monotonic()))
        n += 1
        await originate(ami, rng, n)
    await members
    if not await drained(ami, 120):
        print("warning: bench channels still up after 120 s; recording stops anyway", file=sys.stderr)
    await asyncio.sleep(4)  # wrap-up ends, last member status events
    await ami.action({"Action": "QueueRemove", "Queue": "bench_vip", "Interface": FRODE})
    await asyncio.sleep(1)
    return await recorder.stop()


def save(data: bytes) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    plain, packed = OUT_DIR / "queue_load.ami", OUT_DIR / "queue_load.ami.gz"
    if len(data) > GZIP_ABOVE:
        packed.write_bytes(gzip.compress(data, 9, mtime=0))
        plain.unlink(missing_ok=True)
        return packed
    plain.write_bytes(data)
    packed.unlink(missing_ok=True)
    return plain


def summary(data: bytes) -> str:
    counts: collections.Counter[str] = collections.Counter()
    for block in data.split(b"\r\n\r\n"):
        for line in block.split(b"\r\n"):
            if line.startswith(b"Event: "):
                counts[line[7:].decode()] += 1
                break
    total = sum(counts.values())
    keys = [
        "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer", "AgentConnect",
        "AgentComplete", "AgentDump", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved",
        "QueueMemberPenalty", "QueueMemberRinginuse", "UserEvent", "Hangup", "QueueEntry", "QueueMember", "CoreShowChannel",
    ]
    return f"{total} events, {len(data)} bytes\n" + "\n".join(f"  {k:22} {counts[k]}" for k in keys)


async def main_async(args: argparse.Namespace) -> None:
    config_dir, secret_file = sandbox_paths()
    secret = secret_file.read_text().strip()
    generated = {name: read_text(config_dir / name) for name in (EXTENSIONS_FILE, QUEUES_FILE, QUEUERULES_FILE)}
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_site(site_for(config_dir, secret_file, Path(tmp)))
        install_bench_dialplan(config_dir)
        async with AmiClient("127.0.0.1", 5038, "pbxctl", secret) as ami:
            try:
                await apply_asterisk(loaded, config_dir, ami)
                await ami.command("dialplan reload")  # the bench contexts
                data = await record(ami, secret, args.calls, args.seconds, args.seed)
            finally:
                # The example site (or whatever was applied) back as it was.
                for name, text in generated.items():
                    if text is not None:
                        atomic_write(config_dir / name, text, config_dir / name)
                try:
                    await ami.action({"Action": "QueueRemove", "Queue": "bench_vip", "Interface": FRODE})
                    for command in ("dialplan reload", "queue reload all"):
                        await ami.command(command)
                except AmiError as exc:
                    print(f"warning: reloading the previous configuration failed: {exc}", file=sys.stderr)
    path = save(data)
    print(f"wrote {path.relative_to(REPO)}: {summary(data)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=110)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=4)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
