"""The fault suite's lab: `pbxctl serve asterisk` on tests/sites/faults.yaml (its AMI link
through a proxy that can be cut; its books in a SQLite file on a small tmpfs that can be
locked or filled, or in a PostgreSQL server of the lab's own that can be stopped), calls
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
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from pbxctl.asterisk.wire import agi_hold_s

from helpers.controller_harness import AmiProxy, Service, free_port
from helpers.fault_storage import PrivatePostgres, SmallFilesystem
from helpers.ivr_lab import IvrCall, follow, originate, wait_until
from helpers.queue_calls import DB_FAMILY, TimedRecorder, install_test_dialplan
from helpers.sandbox import SANDBOX, applied_test_site
from helpers.site_files import REPO, point_at_sandbox

SITE = REPO / "tests" / "sites" / "faults.yaml"
ENTRY = "7300"
QUEUE = "fq"
AGENT_EXTENSIONS = ("7311", "7312", "7313", "7314", "7315", "7316")
TIME_BOX_S = 1.0
HOLD_S = float(agi_hold_s(TIME_BOX_S))
NODE = "sandbox"
# Which storage each fault needs: one lab serves the SQLite faults, another PostgreSQL's.
FAULTS = {"sigkill": "sqlite", "ami_cut": "sqlite", "asterisk_restart": "sqlite", "db_locked": "sqlite",
          "disk_full": "sqlite", "postgres_down": "postgres"}
# What the service logs when it meets the fault (counted in its log while the fault lasts
# and until its state is back): the line that names it to an engineer.
NAMED_BY = {"ami_cut": ("ami_link_down", None), "asterisk_restart": ("ami_link_down", None),
            "disk_full": ("books_write_failed", "disk_full"), "postgres_down": ("books_write_failed", "database_unreachable")}
# Faults during which the live view misses events (the service or its AMI link down).
LINK_LOST = frozenset({"sigkill", "ami_cut", "asterisk_restart"})


@dataclass
class FaultResult:
    fault: str
    calls: int
    kept: int = 0                      # answered by an agent (queue_log CONNECT), talk not cut
    dropped: list[str] = field(default_factory=list)         # lost, and not by the PBX: pbxctl's doing
    dropped_by_pbx: list[str] = field(default_factory=list)  # cut by Asterisk itself (its restart)
    fell_back: int = 0                 # took the entry's fallback (the service did not decide)
    longest_fallback_s: float = 0.0    # AGI step start -> [pbxctl-fallback]
    recovered_in_s: float | None = None  # fault over -> the service's state equals Asterisk's
    named: int = 0                     # service log lines naming the fault (NAMED_BY)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        recovered = "-" if self.recovered_in_s is None else f"{self.recovered_in_s:.1f} s"
        by_pbx = f" (+{len(self.dropped_by_pbx)} by Asterisk)" if self.dropped_by_pbx else ""
        named = ""
        if self.fault in NAMED_BY:
            event, kind = NAMED_BY[self.fault]
            named = f"  logged {event}{f' fault={kind}' if kind else ''} x{self.named}"
        return (f"{self.fault:<16} calls {self.calls:>3}  kept {self.kept:>3}  dropped {len(self.dropped):>2}{by_pbx}  "
                f"fell back {self.fell_back:>3} (longest {self.longest_fallback_s:.2f} s)  state again in {recovered}"
                + named + (f"  [{'; '.join(self.notes)}]" if self.notes else ""))


@dataclass
class Reckoning:
    """The books against queue_log, for the lab's calls."""
    calls: int
    stints_in_queue_log: int
    stints_in_books: int
    missing: list[str]      # callid: in queue_log, not (all) in the books
    doubled: list[str]      # callid: more stints in the books than in queue_log
    different: list[str]    # callid: same count, other queues/outcomes
    storage: str = "sqlite"
    live_rows: int = 0                                      # queue_calls rows of the calls kept
    live_missing: list[str] = field(default_factory=list)   # kept, answered, no queue_calls row
    live_doubled: list[str] = field(default_factory=list)   # more than one queue_calls row

    @property
    def exact(self) -> bool:
        return not (self.missing or self.doubled or self.different or self.live_missing or self.live_doubled)

    def line(self) -> str:
        return (f"books ({self.storage}): {self.calls} calls, {self.stints_in_queue_log} stints in queue_log, "
                f"{self.stints_in_books} in the books; missing {len(self.missing)}, doubled {len(self.doubled)}, "
                f"different {len(self.different)}; live rows {self.live_rows} (missing {len(self.live_missing)}, "
                f"doubled {len(self.live_doubled)})")


@dataclass
class QueueLogView:
    """The lab's calls as Asterisk's queue_log tells them."""
    stints: dict[str, list[tuple[str, str]]]  # callid -> [(queue, outcome)]
    cut: set[str]                               # callids with a stint still going at a PBX restart


class FaultLab:
    def __init__(self, sandbox: dict, workdir: Path, secret: str, talk_s: float = 3.0, storage: str = "sqlite"):
        self.sandbox, self.workdir, self.secret, self.talk_s = sandbox, workdir, secret, talk_s
        self.storage = storage
        self.queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
        self.dbfs = SmallFilesystem(workdir / "dbfs")
        self.db = self.dbfs.mountpoint / "faults.db"
        self.postgres: PrivatePostgres | None = None
        self.proxy = AmiProxy()
        self.fastagi = free_port()
        base = point_at_sandbox(SITE.read_text(), sandbox).replace("port: 4573", f"port: {self.fastagi}")
        self.applied = workdir / "faults.yaml"
        self.applied.write_text(base)
        self.http = free_port()
        self.serve_site = workdir / "faults-serve.yaml"
        self._base = base
        self._stack = ExitStack()
        self.service: Service | None = None
        self.calls: list[IvrCall] = []
        # Calls whose end the live view saw (its AMI link up, the service running): each
        # must have its one queue_calls row in the end, also when the database refused it.
        self.live_expected: set[str] = set()
        self._offset = 0

    @property
    def url(self) -> str:
        return self.postgres.url if self.postgres else f"sqlite:///{self.db}"

    # -- set-up
    def __enter__(self) -> "FaultLab":
        try:
            if self.storage == "postgres":
                self.postgres = self._stack.enter_context(PrivatePostgres())
            else:
                self._stack.enter_context(self.dbfs)
            self.serve_site.write_text(
                self._base.replace("      port: 5038\n", f"      port: {self.proxy.port}\n")
                + f"\nstorage: {{url: '{self.url}', node: {NODE}}}\nservice: {{host: 127.0.0.1, port: {self.http}}}\n"
            )
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

    @staticmethod
    def say(fault: str, what: str, **detail) -> None:
        """The lab's own log line for each fault begun and ended."""
        extra = " ".join(f"{k}={v}" for k, v in detail.items())
        print(f"{time.strftime('%H:%M:%S')} fault_{what} fault={fault} {extra}".rstrip(), flush=True)

    # -- faults: each injects, waits `hold_s`, ends the fault, and says when it ended
    def sigkill(self, hold_s: float) -> float:
        """SIGKILL, down for `hold_s`, started again (as systemd's Restart= would)."""
        assert self.service is not None and self.service.proc is not None
        self.say("sigkill", "injected", pid=self.service.proc.pid)
        self.service.proc.send_signal(signal.SIGKILL)
        self.service.proc.wait(5)
        self.service.log.close()
        time.sleep(hold_s)
        self.service.start(wait_up=False)
        self.say("sigkill", "ended", detail="service started again")
        return time.monotonic()

    def ami_cut(self, hold_s: float) -> float:
        """Every AMI connection cut and new ones refused for `hold_s` (Asterisk out of reach)."""
        self.say("ami_cut", "injected", proxy=self.proxy.port)
        self.proxy.refuse()
        self.proxy.cut()
        time.sleep(hold_s)
        self.proxy.restore()
        self.say("ami_cut", "ended")
        return time.monotonic()

    def asterisk_restart(self, hold_s: float) -> float:
        """Asterisk stopped (`core stop now`: it hangs up every call) and started again;
        `hold_s` is not used (the restart takes what it takes)."""
        self.say("asterisk_restart", "injected")
        done = subprocess.run([str(SANDBOX), "restart"], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        self.say("asterisk_restart", "ended", detail="AMI answers again")
        return time.monotonic()

    def db_locked(self, hold_s: float) -> float:
        """Another process holds the books' SQLite database write-locked for `hold_s`."""
        self.say("db_locked", "injected", database=self.db)
        conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(hold_s)
        conn.execute("ROLLBACK")
        conn.close()
        self.say("db_locked", "ended")
        return time.monotonic()

    def disk_full(self, hold_s: float) -> float:
        """The filesystem under the books' SQLite database filled to the last byte for
        `hold_s`, then freed. The WAL is checkpointed and truncated first (as a backup tool
        might): otherwise SQLite would go on reusing the WAL's pages and only a long fault
        would reach a write that needs a new block."""
        conn = sqlite3.connect(self.db, timeout=30)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        filled = self.dbfs.fill()
        self.say("disk_full", "injected", filesystem=self.dbfs.mountpoint, filled_bytes=filled,
                 available=self.dbfs.available())
        time.sleep(hold_s)
        self.dbfs.free()
        self.say("disk_full", "ended", available=self.dbfs.available())
        return time.monotonic()

    def postgres_down(self, hold_s: float) -> float:
        """The books' PostgreSQL server stopped (fast shutdown: open sessions ended) for
        `hold_s`, then started again."""
        assert self.postgres is not None
        self.postgres.stop()
        self.say("postgres_down", "injected", port=self.postgres.port)
        time.sleep(hold_s)
        self.postgres.start()
        self.say("postgres_down", "ended")
        return time.monotonic()

    # -- one fault with calls in flight
    async def run_fault(self, name: str, calls: int, hold_s: float, spread_s: float = 4.0,
                        offset: int = 0) -> FaultResult:
        """`calls` calls into the entry over `spread_s` s; the fault starts 1 s in. An
        Asterisk restart ends the lab's own AMI connection too: the calls are placed half
        before it, half after."""
        inject = getattr(self, name)
        log_from = self._service_log_size()
        if name == "asterisk_restart":
            result, placed = await self._run_restart(name, inject, calls, hold_s, spread_s, offset)
        else:
            result, placed = await self._run_in_one_link(name, inject, calls, hold_s, spread_s, offset)
        self.calls += placed
        view = self.queue_log_view()
        for call in placed:
            stints = view.stints.get(call.uniqueid, [])
            if call.cut_by_pbx or call.uniqueid in view.cut:
                result.dropped_by_pbx.append(f"{call.caller} {call.uniqueid} {stints}")
            elif any(outcome == "answered" for _, outcome in stints):
                result.kept += 1
                if name not in LINK_LOST:
                    self.live_expected.add(call.uniqueid)
            else:
                result.dropped.append(f"{call.caller} {call.uniqueid} {stints}")
        if name in NAMED_BY:
            result.named = self.service_log_count(*NAMED_BY[name], since=log_from)
        return result

    async def _place(self, rec: TimedRecorder, calls: int, spread_s: float, offset: int) -> list[IvrCall]:
        placed: list[IvrCall] = []
        started = time.monotonic()
        for i in range(calls):
            placed += await originate(rec, ENTRY, [f"+4722{offset + i:06d}"])
            await asyncio.sleep(max(0.0, started + (i + 1) * spread_s / calls - time.monotonic()))
        return placed

    async def _over(self, rec: TimedRecorder, placed: list[IvrCall], result: FaultResult, hold_s: float) -> None:
        await wait_until(rec, placed, lambda c: c.hung_up_at is not None, hold_s + 90,
                         "every call over (answered, talked, hung up)")
        follow(rec, placed)
        self._fallbacks(placed, result)

    @staticmethod
    def _fallbacks(placed: list[IvrCall], result: FaultResult) -> None:
        for call in placed:
            if call.fell_back_at is not None:
                result.fell_back += 1
                if call.agi_starts:
                    result.longest_fallback_s = max(result.longest_fallback_s, call.fell_back_at - call.agi_starts[-1])

    async def _run_in_one_link(self, name, inject, calls, hold_s, spread_s, offset):
        result = FaultResult(name, calls)
        async with TimedRecorder(self.secret) as rec:
            await self.agents_answer(rec)

            async def fault() -> float:
                await asyncio.sleep(1.0)
                return await asyncio.to_thread(inject, hold_s)

            faulting = asyncio.create_task(fault())
            placed = await self._place(rec, calls, spread_s, offset)
            ended = await faulting
            result.recovered_in_s = await self.state_matches(rec, ended)
            await self._over(rec, placed, result, hold_s)
        return result, placed

    async def _run_restart(self, name, inject, calls, hold_s, spread_s, offset):
        result = FaultResult(name, calls)
        before = calls // 2
        async with TimedRecorder(self.secret) as rec:
            await self.agents_answer(rec)
            first = await self._place(rec, before, spread_s / 2, offset)
            stopping = time.monotonic()
            ended = await asyncio.to_thread(inject, hold_s)
            follow(rec, first)
            for call in first:  # still up when Asterisk began to stop: it hung them up itself
                call.cut_by_pbx = call.hung_up_at is None or call.hung_up_at >= stopping
            self._fallbacks(first, result)
            if rec._task is not None and rec._task.done() and not rec._task.cancelled():
                rec._task.exception()  # the link Asterisk closed: expected, not an error
        async with TimedRecorder(self.secret) as rec:
            await self.agents_answer(rec)
            second = await self._place(rec, calls - before, spread_s / 2, offset + before)
            result.recovered_in_s = await self.state_matches(rec, ended)
            await self._over(rec, second, result, hold_s)
        return result, first + second

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
    def queue_log_view(self) -> QueueLogView:
        """callid -> [(queue, outcome)] as Asterisk's queue_log tells it (since the lab began):
        one stint per ENTERQUEUE, ended by CONNECT (answered), ABANDON, EXITWITHTIMEOUT,
        EXITEMPTY or EXITWITHKEY; a stint still waiting at a PBX restart (QUEUESTART) is
        lost, and a call waiting or talking then was cut by the PBX."""
        ends = {"CONNECT": "answered", "ABANDON": "abandoned", "EXITWITHTIMEOUT": "timed_out",
                "EXITEMPTY": "exit_empty", "EXITWITHKEY": "exit_key"}
        over = {"COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY",
                "BLINDTRANSFER", "ATTENDEDTRANSFER"}
        stints: dict[str, list[list[str]]] = {}
        going: set[str] = set()
        cut: set[str] = set()
        with open(self.queue_log, "rb") as fh:
            fh.seek(self._offset)
            for raw in fh:
                parts = raw.decode(errors="replace").rstrip("\n").split("|")
                if len(parts) < 5:
                    continue
                callid, queue, event = parts[1], parts[2], parts[4]
                if event == "QUEUESTART":
                    for open_stints in stints.values():
                        for stint in open_stints:
                            stint[1] = stint[1] or "lost"
                    cut |= going
                    going.clear()
                elif event == "ENTERQUEUE":
                    stints.setdefault(callid, []).append([queue, ""])
                    going.add(callid)
                elif event in ends and stints.get(callid) and not stints[callid][-1][1]:
                    stints[callid][-1][1] = ends[event]
                if event in over:
                    going.discard(callid)
        return QueueLogView({k: [(q, o) for q, o in v] for k, v in stints.items()}, cut)

    def queue_log_stints(self) -> dict[str, list[tuple[str, str]]]:
        return self.queue_log_view().stints

    def books_stints(self) -> dict[str, list[tuple[str, str]]]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT callid, queue, outcome FROM books_queue_stints WHERE node = :node "
                                         "ORDER BY callid, entered_at"), {"node": NODE}).fetchall()
        finally:
            engine.dispose()
        out: dict[str, list[tuple[str, str]]] = {}
        for callid, queue, outcome in rows:
            out.setdefault(callid, []).append((queue, outcome))
        return out
    def live_rows(self) -> dict[str, int]:
        """uniqueid -> rows in queue_calls (the live view's record of each ended queue call,
        written by the controller once a second and kept in memory while it cannot be)."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT uniqueid, COUNT(*) FROM queue_calls GROUP BY uniqueid")).fetchall()
        finally:
            engine.dispose()
        return dict(rows)

    def reckon(self, timeout: float = 30.0) -> Reckoning:
        """The books against queue_log for every call of the lab, once the books have caught
        up (or `timeout` passed); and the live rows: one per call kept, none twice."""
        ids = {c.uniqueid for c in self.calls}
        deadline = time.monotonic() + timeout
        while True:
            view = self.queue_log_view()
            log = {k: v for k, v in view.stints.items() if k in ids}
            books = {k: v for k, v in self.books_stints().items() if k in ids}
            answered = {k for k in log if k in self.live_expected}
            live = self.live_rows()
            settled = all(len(books.get(k, [])) >= len(v) for k, v in log.items()) and answered <= set(live)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        missing = sorted(k for k, v in log.items() if len(books.get(k, [])) < len(v))
        doubled = sorted(k for k, v in books.items() if len(v) > len(log.get(k, [])))
        different = sorted(k for k, v in log.items() if len(books.get(k, [])) == len(v)
                           and sorted(books[k]) != sorted(v))
        return Reckoning(len(ids), sum(map(len, log.values())), sum(map(len, books.values())),
                         missing, doubled, different, self.storage,
                         live_rows=sum(live.get(k, 0) for k in answered),
                         live_missing=sorted(answered - set(live)),
                         live_doubled=sorted(k for k in ids if live.get(k, 0) > 1))

    def _service_log_size(self) -> int:
        path = self.service.log_path if self.service else None
        return path.stat().st_size if path and path.exists() else 0

    def _service_log(self, since: int = 0) -> list[str]:
        if not self.service or not self.service.log_path.exists():
            return []
        with open(self.service.log_path, "rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace").splitlines()

    def service_log_count(self, event: str, fault: str | None = None, since: int = 0) -> int:
        """Lines of the service's log (from byte `since`) with this event (and fault=)."""
        def named(line: str) -> bool:  # structlog's key=value lines, or JSON ones
            if f"event='{event}'" not in line and f'"event": "{event}"' not in line:
                return False
            return fault is None or f"fault='{fault}'" in line or f'"fault": "{fault}"' in line
        return sum(1 for line in self._service_log(since) if named(line))

    def service_log_lines(self, *events: str) -> dict[str, int]:
        return {e: self.service_log_count(e) for e in events}


def report_json(results: list[FaultResult], reckonings: list[Reckoning]) -> str:
    return json.dumps({"faults": [r.__dict__ for r in results], "books": [r.__dict__ for r in reckonings]}, indent=2)
