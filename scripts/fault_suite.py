#!/usr/bin/env python3
"""The fault suite, by hand: `pbxctl serve asterisk` on tests/sites/faults.yaml against the
real sandbox Asterisk, calls through its IVR and queue while each fault is injected, and a
report: calls kept / dropped, IVR decisions that fell back (and how long the longest
took from its AGI step), the time until the service's live state equals Asterisk's
again, and the books reconciled with Asterisk's queue_log (no stint lost, none doubled).

Faults covered: SIGKILL of the service (down for --hold s, then started again, as
systemd's Restart= does); the AMI link cut through a local proxy and refused for --hold s;
the books' SQLite database write-locked by another process for --hold s. Not covered
here: an Asterisk restart, a full filesystem, PostgreSQL stopped.

Hold the sandbox lock:

    flock /tmp/pbxctl-sandbox.use .venv/bin/python scripts/fault_suite.py [--calls 10] [--hold 10] [--json]

Exit status 0 when every call was kept and the books reconcile exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.fault_lab import FaultLab, HOLD_S, report_json  # noqa: E402


def sandbox() -> dict:
    tool = REPO / "scripts" / "asterisk-sandbox"
    subprocess.run([str(tool), "start"], check=True, capture_output=True, timeout=900)
    root = Path(subprocess.run([str(tool), "path"], capture_output=True, text=True, check=True).stdout.strip())
    return {"root": root, "config_dir": root / "etc" / "asterisk", "secret_file": root.parent / "ami.secret"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10, help="calls per fault (default 10)")
    parser.add_argument("--hold", type=float, default=10.0, help="how long each fault lasts, s (default 10)")
    parser.add_argument("--faults", default="sigkill,ami_cut,db_locked", help="which, comma-separated")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    args = parser.parse_args()
    box = sandbox()
    secret = box["secret_file"].read_text().strip()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pbxctl-faults-") as tmp, FaultLab(box, Path(tmp), secret) as lab:
        results = []
        for n, name in enumerate(args.faults.split(",")):
            inject = getattr(lab, name)
            print(f"{name}: {args.calls} calls, fault for {args.hold:g} s ...", flush=True)
            results.append(asyncio.run(lab.run_fault(name, inject, args.calls, args.hold, offset=1000 * n)))
            print("  " + results[-1].line(), flush=True)
        reckoning = lab.reckon()
        logged = lab.service_log_lines("ami_link_down", "ami_link_up", "books_write_failed", "decision")
    print()
    print(f"fault suite on {platform.node()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{time.monotonic() - started:.0f} s; dialplan hold {HOLD_S:.3f} s")
    for r in results:
        print("  " + r.line())
    print("  " + reckoning.line())
    print(f"  service log: {logged}")
    if args.json:
        print(report_json(results, reckoning))
    good = all(not r.dropped for r in results) and reckoning.exact
    print("OK" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
