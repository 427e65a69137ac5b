"""The fault suite's lab: `pbxctl serve asterisk` on tests/sites/faults.yaml (its AMI link
through a proxy that can be cut, its books in a SQLite file that can be locked), calls
placed through the real sandbox Asterisk while a fault is injected, and the reckoning
afterwards: every call kept (answered by an agent), the IVR's decision or its fallback
within the time box, the service's live state equal to Asterisk's again, and the books
equal to Asterisk's own queue_log — no stint lost, none doubled.

Used by scripts/fault_suite.py (by hand, with a report) and
tests/test_fault_suite_asterisk.py (a shorter form). The sandbox lock must be held.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from pbxctl.asterisk.wire import CONTEXTS, agi_hold_s

from helpers.controller_harness import AmiProxy, Service, free_port
from helpers.ivr_lab import IvrCall, follow, originate, wait_until
from helpers.queue_calls import DB_FAMILY, TimedRecorder, install_test_dialplan
from helpers.sandbox import applied_test_site
from helpers.site_files import REPO, point_at_sandbox

SITE = REPO / "tests" / "sites" / "faults.yaml"
ENTRY = "7300"
QUEUE = "fq"
AGENT_EXTENSIONS = ("7311", "7312", "7313", "7314", "7315", "7316")
TIME_BOX_S = 1.0
HOLD_S = float(agi_hold_s(TIME_BOX_S))
NODE = "sandbox"


@dataclass
class FaultResult:
    fault: str
    calls: int
    kept: int = 0                      # answered by an agent (queue_log CONNECT)
    dropped: list[str] = field(default_factory=list)
    fell_back: int = 0                 # took the entry's fallback (the service did not decide)
    longest_fallback_s: float = 0.0    # AGI step start -> [pbxctl-fallback]
    recovered_in_s: float | None = None  # fault over -> the service's state equals Asterisk's
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        recovered = "-" if self.recovered_in_s is None else f"{self.recovered_in_s:.1f} s"
        return (f"{self.fault:<12} calls {self.calls:>3}  kept {self.kept:>3}  dropped {len(self.dropped):>2}  "
                f"fell back {self.fell_back:>3} (longest {self.longest_fallback_s:.2f} s)  state again in {recovered}"
                + (f"  [{'; '.join(self.notes)}]" if self.notes else ""))


@dataclass
class Reckoning:
    """The books against queue_log, for the lab's calls."""
    calls: int
    stints_in_queue_log: int
    stints_in_books: int
    missing: list[str]      # callid: in queue_log, not (all) in the books
    doubled: list[str]      # callid: more stints in the books than in queue_log
    different: list[str]    # callid: same count, other queues/outcomes

    @property
    def exact(self) -> bool:
        return not (self.missing or self.doubled or self.different)

    def line(self) -> str:
        return (f"books: {self.calls} calls, {self.stints_in_queue_log} stints in queue_log, "
                f"{self.stints_in_books} in the books; missing {len(self.missing)}, doubled {len(self.doubled)}, "
                f"different {len(self.different)}")


class FaultLab:
    def __init__(self, sandbox: dict, workdir: Path, secret: str, talk_s: float = 3.0):
        self.sandbox, self.workdir, self.secret, self.talk_s = sandbox, workdir, secret, talk_s
        self.queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
        self.db = workdir / "faults.db"
        self.proxy = AmiProxy()
        self.fastagi = free_port()
        base = point_at_sandbox(SITE.read_text(), sandbox).replace("port: 4573", f"port: {self.fastagi}")
        self.applied = workdir / "faults.yaml"
        self.applied.write_text(base)
        self.http = free_port()
        self.serve_site = workdir / "faults-serve.yaml"
        self.serve_site.write_text(
            base.replace("      port: 5038\n", f"      port: {self.proxy.port}\n")
            + f"\nstorage: {{url: 'sqlite:///{self.db}', node: {NODE}}}\nservice: {{host: 127.0.0.1, port: {self.http}}}\n"
        )
        self._stack = ExitStack()
        self.service: Service | None = None
        self.calls: list[IvrCall] = []
        self._offset = 0

    # -- set-up
    def __enter__(self) -> "FaultLab":
        try:
            self.proxy.start()
            self._stack.callback(self.proxy.stop)
            self._stack.enter_context(applied_test_site(self.sandbox, self.applied, install_test_dialplan, DB_FAMILY))
            self._offset = self.queue_log.stat().st_size if self.queue_log.exists() else 0
            self.service = Service(self.serve_site)
            self._stack.callback(self.service.stop)
            self.service.start()
            self.service.wait(lambda doc: any(q["name"] == QUEUE and q["agents"]["logged_in"] == len(AGENT_EXTENSIONS)
                                              for q in doc["queues"]), 20, "the queue's members seen")
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    async def agents_answer(self, rec: TimedRecorder) -> None:
        for ext in AGENT_EXTENSIONS:
            await rec.action({"Action": "DBPut", "Family": DB_FAMILY, "Key": ext, "Val": f"answer:{self.talk_s:g}"})

    # -- faults: each injects, waits `hold_s`, ends the fault, and says when it ended
    def sigkill(self, hold_s: float) -> float:
        """SIGKILL, down for `hold_s`, started again (as systemd's Restart= would)."""
        assert self.service is not None and self.service.proc is not None
        self.service.proc.send_signal(signal.SIGKILL)
        self.service.proc.wait(5)
        self.service.log.close()
        time.sleep(hold_s)
        self.service.start(wait_up=False)
        return time.monotonic()

    def ami_cut(self, hold_s: float) -> float:
        """Every AMI connection cut and new ones refused for `hold_s` (Asterisk out of reach)."""
        self.proxy.refuse()
        self.proxy.cut()
        time.sleep(hold_s)
        self.proxy.restore()
        return time.monotonic()

    def db_locked(self, hold_s: float) -> float:
        """Another process holds the books' SQLite database write-locked for `hold_s`."""
        conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(hold_s)
        conn.execute("ROLLBACK")
        conn.close()
        return time.monotonic()

    # -- one fault with calls in flight
    async def run_fault(self, name: str, inject, calls: int, hold_s: float, spread_s: float = 4.0,
                        offset: int = 0) -> FaultResult:
        """`calls` calls into the entry over `spread_s` s; the fault starts 1 s in."""
        result = FaultResult(name, calls)
        async with TimedRecorder(self.secret) as rec:
            await self.agents_answer(rec)

            async def fault() -> float:
                await asyncio.sleep(1.0)
                return await asyncio.to_thread(inject, hold_s)

            faulting = asyncio.create_task(fault())
            placed: list[IvrCall] = []
            started = time.monotonic()
            for i in range(calls):
                placed += await originate(rec, ENTRY, [f"+4722{offset + i:06d}"])
                await asyncio.sleep(max(0.0, started + (i + 1) * spread_s / calls - time.monotonic()))
            ended = await faulting
            result.recovered_in_s = await self.state_matches(rec, ended)
            await wait_until(rec, placed, lambda c: c.hung_up_at is not None, hold_s + 60,
                             "every call over (answered, talked, hung up)")
            follow(rec, placed)
            for call in placed:
                if call.fell_back_at is not None:
                    result.fell_back += 1
                    if call.agi_starts:
                        result.longest_fallback_s = max(result.longest_fallback_s, call.fell_back_at - call.agi_starts[-1])
        self.calls += placed
        connected = self.queue_log_stints()
        for call in placed:
            stints = connected.get(call.uniqueid, [])
            if any(outcome == "answered" for _, outcome in stints):
                result.kept += 1
            else:
                result.dropped.append(f"{call.caller} {call.uniqueid} {stints}")
        return result

    async def state_matches(self, rec: TimedRecorder, since: float, timeout: float = 10.0) -> float | None:
        """Seconds from `since` until the service's view of the queue (waiting callers and
        logged-in members) equals Asterisk's QueueStatus, sampled every 0.2 s."""
        deadline = since + timeout
        while time.monotonic() < deadline:
            try:
                doc = await asyncio.to_thread(self.service.status)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            if doc["ami"]["up"]:
                ours = next((q for q in doc["queues"] if q["name"] == QUEUE), None)
                reply = await rec.action({"Action": "QueueStatus", "Queue": QUEUE})
                theirs_waiting = sorted(e.get("Uniqueid", "") for e in reply if e.get("Event") == "QueueEntry")
                theirs_members = sum(1 for e in reply if e.get("Event") == "QueueMember")
                if ours is not None and sorted(c["uniqueid"] for c in ours["callers"]) == theirs_waiting \
                        and ours["agents"]["logged_in"] == theirs_members:
                    return time.monotonic() - since
            await asyncio.sleep(0.2)
        return None

    # -- the reckoning
    def queue_log_stints(self) -> dict[str, list[tuple[str, str]]]:
        """callid -> [(queue, outcome)] as Asterisk's queue_log tells it (since the lab began):
        one stint per ENTERQUEUE, ended by CONNECT (answered), ABANDON, EXITWITHTIMEOUT,
        EXITEMPTY or EXITWITHKEY."""
        ends = {"CONNECT": "answered", "ABANDON": "abandoned", "EXITWITHTIMEOUT": "timed_out",
                "EXITEMPTY": "exit_empty", "EXITWITHKEY": "exit_key"}
        stints: dict[str, list[list[str]]] = {}
        with open(self.queue_log, "rb") as fh:
            fh.seek(self._offset)
            for raw in fh:
                parts = raw.decode(errors="replace").rstrip("\n").split("|")
                if len(parts) < 5:
                    continue
                callid, queue, event = parts[1], parts[2], parts[4]
                if event == "ENTERQUEUE":
                    stints.setdefault(callid, []).append([queue, ""])
                elif event in ends and stints.get(callid) and not stints[callid][-1][1]:
                    stints[callid][-1][1] = ends[event]
        return {k: [(q, o) for q, o in v] for k, v in stints.items()}

    def books_stints(self) -> dict[str, list[tuple[str, str]]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT callid, queue, outcome FROM books_queue_stints WHERE node = ? "
                                "ORDER BY callid, entered_at", (NODE,)).fetchall()
        finally:
            conn.close()
        out: dict[str, list[tuple[str, str]]] = {}
        for callid, queue, outcome in rows:
            out.setdefault(callid, []).append((queue, outcome))
        return out

    def reckon(self, timeout: float = 30.0) -> Reckoning:
        """The books against queue_log for every call of the lab, once the books have caught
        up (or `timeout` passed)."""
        ids = {c.uniqueid for c in self.calls}
        deadline = time.monotonic() + timeout
        while True:
            log = {k: v for k, v in self.queue_log_stints().items() if k in ids}
            books = {k: v for k, v in self.books_stints().items() if k in ids}
            settled = all(len(books.get(k, [])) >= len(v) for k, v in log.items())
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        missing = sorted(k for k, v in log.items() if len(books.get(k, [])) < len(v))
        doubled = sorted(k for k, v in books.items() if len(v) > len(log.get(k, [])))
        different = sorted(k for k, v in log.items() if len(books.get(k, [])) == len(v)
                           and sorted(books[k]) != sorted(v))
        return Reckoning(len(ids), sum(map(len, log.values())), sum(map(len, books.values())),
                         missing, doubled, different)

    def service_log_lines(self, *events: str) -> dict[str, int]:
        text = self.service.log_path.read_text(errors="replace") if self.service else ""
        return {e: text.count(f"event='{e}'") + text.count(f'"event": "{e}"') for e in events}


def report_json(results: list[FaultResult], reckoning: Reckoning) -> str:
    return json.dumps({"faults": [r.__dict__ for r in results], "books": reckoning.__dict__}, indent=2)
