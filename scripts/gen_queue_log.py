#!/usr/bin/env python3
"""Write a synthetic queue_log shaped like the sandbox's (tests/fixtures/queue_log/
sandbox_calls.queue_log): pbxctl's PBXCTLENTRY/PBXCTLCALLER/PBXCTLEXIT lines, ENTERQUEUE,
members ringing out (RINGNOANSWER in ms), CONNECT, COMPLETECALLER/COMPLETEAGENT, ABANDON
(with RINGCANCELED), EXITWITHTIMEOUT into an overflow queue, blind transfers, and agents
pausing now and then, and the PBXCTLEND line the entry's hangup handler writes when the
call is over; calls overlap in time and lines are in time order, as Asterisk writes them.
About 8 lines per call.

Usage: scripts/gen_queue_log.py --calls 1000000 --out /tmp/queue_log [--seed 1] [--start EPOCH]
Prints the number of calls and lines, and a summary of outcomes (what the books must find).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys

QUEUES = ["support", "sales", "billing", "tech"]
OVERFLOW = {"support": "tech", "sales": "billing", "billing": "support", "tech": "support"}
AGENTS = [f"Agent {i:03d}" for i in range(60)]


def call_lines(rng: random.Random, uid: str, start: int, outcomes: dict) -> list[tuple[int, str]]:
    queue = rng.choice(QUEUES)
    number = f"+47{rng.randrange(20000000, 99999999)}"
    t = start
    out = [(t, f"{uid}|NONE|NONE|PBXCTLENTRY|+4721000000")]
    t += rng.randrange(3, 15)  # IVR
    stints = 0
    while True:
        stints += 1
        out.append((t, f"{uid}|{queue}|NONE|PBXCTLCALLER|{number}|Caller {uid[-4:]}"))
        out.append((t, f"{uid}|{queue}|NONE|ENTERQUEUE||{number}|{rng.randrange(1, 6)}"))
        entered = t
        roll = rng.random()
        rings = rng.randrange(0, 3)
        for _ in range(rings):
            t += 15
            out.append((t, f"{uid}|{queue}|{rng.choice(AGENTS)}|RINGNOANSWER|15000"))
        if roll < 0.70:
            agent = rng.choice(AGENTS)
            ring = rng.randrange(1, 10)
            t += ring
            out.append((t, f"{uid}|{queue}|{agent}|CONNECT|{t - entered}|{uid}1|{ring}"))
            talk = rng.randrange(20, 600)
            t += talk
            if rng.random() < 0.05:
                out.append((t, f"{uid}|{queue}|{agent}|BLINDTRANSFER|200|pbxctl-entries|{t - talk - entered}|{talk}|1"))
                outcomes["transferred"] += 1
            else:
                verb = "COMPLETECALLER" if rng.random() < 0.6 else "COMPLETEAGENT"
                out.append((t, f"{uid}|{queue}|{agent}|{verb}|{t - talk - entered}|{talk}|1"))
            outcomes["answered"] += 1
            break
        if roll < 0.85 or stints > 1:
            t += rng.randrange(1, 30)
            out.append((t, f"{uid}|{queue}|{rng.choice(AGENTS)}|RINGCANCELED|{rng.randrange(1, 9000)}"))
            out.append((t, f"{uid}|{queue}|NONE|ABANDON|1|1|{t - entered}"))
            outcomes["abandoned"] += 1
            break
        t += rng.randrange(5, 30)
        out.append((t, f"{uid}|{queue}|NONE|EXITWITHTIMEOUT|1|1|{t - entered}"))
        out.append((t, f"{uid}|{queue}|NONE|PBXCTLEXIT|TIMEOUT"))
        outcomes["timed_out"] += 1
        queue = OVERFLOW[queue]
    outcomes["stints"] += stints
    out.append((t, f"{uid}|NONE|NONE|PBXCTLEND|"))  # [pbxctl-call-end]: the caller hung up
    return out


def generate(calls: int, out, seed: int = 1, start: int = 1796083200) -> dict:
    rng = random.Random(seed)
    outcomes = {"calls": calls, "stints": 0, "answered": 0, "abandoned": 0, "timed_out": 0, "transferred": 0,
                "agent_events": 0, "lines": 0}
    pending: list[tuple[int, int, str]] = []
    seq = 0
    t = start
    write = out.write
    for i in range(calls):
        t += rng.choice((0, 0, 1, 1, 2, 3))  # about a call a second: a month of 1 M calls takes ~18 days
        while pending and pending[0][0] <= t:
            at, _, text = heapq.heappop(pending)
            write(f"{at}|{text}\n")
            outcomes["lines"] += 1
        uid = f"{t}.{i}"
        for at, text in call_lines(rng, uid, t, outcomes):
            seq += 1
            heapq.heappush(pending, (at, seq, text))
        if rng.random() < 0.02:
            agent, queue = rng.choice(AGENTS), rng.choice(QUEUES)
            seq += 1
            heapq.heappush(pending, (t, seq, f"NONE|{queue}|{agent}|PAUSE|lunch"))
            seq += 1
            heapq.heappush(pending, (t + 600, seq, f"NONE|{queue}|{agent}|UNPAUSE|"))
            outcomes["agent_events"] += 2
    while pending:
        at, _, text = heapq.heappop(pending)
        write(f"{at}|{text}\n")
        outcomes["lines"] += 1
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=1796083200)  # 2026-12-01 00:00 UTC
    args = parser.parse_args()
    with open(args.out, "w", buffering=1 << 20) as out:
        summary = generate(args.calls, out, args.seed, args.start)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
