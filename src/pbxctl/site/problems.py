"""Validation problems, reported as `FILE:LINE key.path: message`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Literal

from pbxctl.site.values import shown

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            # A key may hold anything the YAML could spell: shown escaped, so one problem
            # stays one line.
            key = shown(part, keep='"')
            out += f'["{key}"]'
    return out


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        file = shown(self.file)
        where = file if self.line is None else f"{file}:{self.line}"
        prefix = "warning: " if self.severity == "warning" else ""
        # One problem, one line, whatever a library's message holds.
        message = shown(" ".join(part.strip() for part in self.message.splitlines()), backslash=False)
        if self.path:
            return f"{where} {self.path}: {prefix}{message}"
        return f"{where}: {prefix}{message}"


class SiteInvalid(Exception):
    """Raised with every problem found, so the engineer can fix them in one pass."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
