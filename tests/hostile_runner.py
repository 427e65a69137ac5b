"""Run many pbxctl command lines in one Python process, each timed, through the
installed `pbxctl` entry point (so startup is paid once, not per file).

    python tests/hostile_runner.py JOBS.json   ->   one JSON result per step on stdout

A job is {"id": ..., "steps": [[arg, ...], ...]}: its steps run in order until one exits
non-zero. Each step gets a watchdog (SIGALRM): a step that hangs is reported as
"timeout" instead of holding the batch. The parent (tests/test_hostile_corpus.py) sets
the memory limit (RLIMIT_AS) and judges the results.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import sys
import time
import traceback
from importlib.metadata import entry_points

WATCHDOG_S = 10


class Hung(Exception):
    pass


def _alarm(signum, frame):
    raise Hung()


def run_step(main, argv: list[str]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["pbxctl", *argv]
    code: object = 0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    signal.alarm(WATCHDOG_S)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if exc.code is not None else 0
    except Hung:
        code = "timeout"
    except BaseException:  # a traceback is a finding, reported as such
        code = "traceback"
        err.write(traceback.format_exc())
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - start
    grew_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return {"argv": argv, "code": code, "seconds": seconds, "grew_kb": grew_kb,
            "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    [pbxctl] = [e for e in entry_points(group="console_scripts") if e.name == "pbxctl"]
    cli = pbxctl.load()
    signal.signal(signal.SIGALRM, _alarm)
    jobs = json.loads(open(sys.argv[1], encoding="utf-8").read())
    results = []
    for job in jobs:
        for argv in job["steps"]:
            result = run_step(cli, argv)
            result["id"] = job["id"]
            results.append(result)
            if result["code"] != 0:
                break
    sys.__stdout__.write(json.dumps(results))


if __name__ == "__main__":
    main()
