#!/usr/bin/env python3
"""The fault suite, by hand: `pbxctl serve asterisk` on tests/sites/faults.yaml against the
real sandbox Asterisk, calls through its IVR and queue while each fault is injected, and a
report: calls kept / dropped, IVR decisions that fell back (and how long the longest
took from its AGI step), the time until the service's live state equals Asterisk's
again, and the books reconciled with Asterisk's queue_log (no stint lost, none doubled).

Faults (--faults, comma-separated, or all): sigkill (the service SIGKILLed, down for
--hold s, then started again, as systemd's Restart= does); ami_cut (the AMI link cut
through a local proxy and refused for --hold s); asterisk_restart (Asterisk stopped and
started again: the calls it hangs up itself are counted as dropped by the PBX); db_locked
(the books' SQLite database write-locked by another process for --hold s); disk_full
(the tmpfs under that database filled to the last byte for --hold s, then freed);
postgres_down (the books in a PostgreSQL server of the lab's own, stopped for --hold s
and started again). The SQLite faults share one lab (one service, one database), the
PostgreSQL fault has its own; each lab's books are reconciled with queue_log at its end.

Run as root (mount, a private PostgreSQL cluster) with the sandbox lock held:

    flock /tmp/pbxctl-sandbox.use .venv/bin/python scripts/fault_suite.py [--calls 50] [--hold 10] [--faults all] [--json]

Exit status 0 when no call was dropped by pbxctl and the books reconcile exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.fault_lab import FAULTS, FaultLab, HOLD_S, report_json  # noqa: E402


def sandbox() -> dict:
    tool = REPO / "scripts" / "asterisk-sandbox"
    subprocess.run([str(tool), "start"], check=True, capture_output=True, timeout=900)
    root = Path(subprocess.run([str(tool), "path"], capture_output=True, text=True, check=True).stdout.strip())
    return {"root": root, "config_dir": root / "etc" / "asterisk", "secret_file": root.parent / "ami.secret"}


@contextmanager
def workdir(keep: Path | None, storage: str):
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="pbxctl-faults-") as tmp:
            yield Path(tmp)
        return
    path = keep / storage
    path.mkdir(parents=True, exist_ok=True)
    yield path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10, help="calls per fault (default 10)")
    parser.add_argument("--hold", type=float, default=10.0, help="how long each fault lasts, s (default 10)")
    parser.add_argument("--faults", default="sigkill,ami_cut,db_locked",
                        help=f"which, comma-separated, or all ({','.join(FAULTS)})")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    parser.add_argument("--keep", type=Path, help="keep the labs' files (sites, service logs) under this directory")
    args = parser.parse_args()
    names = list(FAULTS) if args.faults == "all" else args.faults.split(",")
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    box = sandbox()
    secret = box["secret_file"].read_text().strip()
    started = time.monotonic()
    load = os.getloadavg()
    results, reckonings, logged = [], [], {}
    for storage in dict.fromkeys(FAULTS[n] for n in names):
        with workdir(args.keep, storage) as tmp, FaultLab(box, tmp, secret, storage=storage) as lab:
            for name in (n for n in names if FAULTS[n] == storage):
                print(f"{name}: {args.calls} calls, fault for {args.hold:g} s ...", flush=True)
                results.append(asyncio.run(lab.run_fault(name, args.calls, args.hold, offset=1000 * len(results))))
                print("  " + results[-1].line(), flush=True)
            reckonings.append(lab.reckon())
            for event, n in lab.service_log_lines("ami_link_down", "ami_link_up", "books_write_failed",
                                                  "books_batch_not_stored", "queue_calls_not_saved", "decision").items():
                logged[event] = logged.get(event, 0) + n
    print()
    print(f"fault suite on {platform.node()} ({os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"at the start), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{time.monotonic() - started:.0f} s; {args.calls} calls per fault, faults of {args.hold:g} s; "
          f"dialplan hold {HOLD_S:.3f} s")
    for r in results:
        print("  " + r.line())
    for reckoning in reckonings:
        print("  " + reckoning.line())
    print(f"  service log: {logged}")
    if args.json:
        print(report_json(results, reckonings))
    good = all(not r.dropped for r in results) and all(r.exact for r in reckonings)
    print("OK" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
