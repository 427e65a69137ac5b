"""One line per check, and what the whole run means for the exit status."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    status: str  # OK | WARN | FAIL
    name: str  # what was checked, e.g. "ami", "include extensions.conf"
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


def ok(name: str, detail: str) -> Check:
    return Check(OK, name, detail)


def warn(name: str, detail: str) -> Check:
    return Check(WARN, name, detail)


def fail(name: str, detail: str) -> Check:
    return Check(FAIL, name, detail)


def exit_status(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


def summary(checks: list[Check]) -> str:
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL)}
    verdict = "not ready" if counts[FAIL] else "ready"
    return f"{verdict}: {counts[OK]} ok, {counts[WARN]} warnings, {counts[FAIL]} failures"
