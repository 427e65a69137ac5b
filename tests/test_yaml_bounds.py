"""Hostile YAML: alias bombs, alias loops, deep nesting and huge files end in one clear
`FILE:LINE` error (or validate, for a huge file of comments), never a RecursionError, a
traceback, a hang or gigabytes of memory.

Each case runs `pbxctl validate` in a subprocess under a wall-clock timeout and an
address-space limit: a guard against hangs and bombs, not a speed test (the figures are
in docs/benchmarks.md).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pbxctl.site.yaml_source import MAX_ALIAS_VALUES, MAX_ALIASES, MAX_CONTENT_BYTES, MAX_DEPTH, MAX_FILE_BYTES

PBXCTL = Path(sys.executable).with_name("pbxctl")
TIMEOUT_S = 30
ADDRESS_SPACE = 1536 * 1024 * 1024

HEAD = """\
site: test
numbering:
  country_code: "47"
pbx:
  backend: asterisk
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PBXCTL), "validate", "-s", str(path)],
        capture_output=True, text=True, timeout=TIMEOUT_S, preexec_fn=_limit_memory,
    )


def refused(path: Path) -> list[str]:
    """The problem lines of a file that must be refused cleanly."""
    done = validate(path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert lines[-1] == f"{path}: 1 error, nothing written"
    return lines[:-1]


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        here = chr(ord("a") + i)
        lines.append(f"{here}: &{here} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "description: x\nbomb:\n" + "".join(f"  {line}\n" for line in lines)


def test_alias_bomb(tmp_path: Path):
    path = tmp_path / "bomb.yaml"
    path.write_text(HEAD + billion_laughs())
    [line] = refused(path)
    # the first alias of level f (9^6 values) passes the limit; the error names its line
    assert line == f"{path}:13 bomb.f[0]: aliases expand to more than {MAX_ALIAS_VALUES} values"


def test_too_many_aliases(tmp_path: Path):
    path = tmp_path / "aliases.yaml"
    items = "".join("  - *x\n" for _ in range(MAX_ALIASES + 1))
    path.write_text(HEAD + "anchor: &x hello\nmany:\n" + items)
    [line] = refused(path)
    assert line == f"{path}:8 many[{MAX_ALIASES}]: more than {MAX_ALIASES} aliases"


@pytest.mark.parametrize(
    "text, where",
    [
        ("loop: &a [*a]\n", "6 loop[0]"),
        ("loop: &a {x: *a}\n", "6 loop.x"),
        ("loop: &a\n  <<: *a\n  x: 1\n", "7 loop"),
    ],
    ids=["sequence", "mapping", "merge"],
)
def test_alias_loops(tmp_path: Path, text: str, where: str):
    path = tmp_path / "loop.yaml"
    path.write_text(HEAD + text)
    assert refused(path) == [f"{path}:{where}: an alias refers to a value that contains it (a loop)"]


def test_undefined_alias_in_a_merge_pair_is_a_syntax_error(tmp_path: Path):
    """`&b` is defined after its use: YAML has no forward references."""
    path = tmp_path / "forward.yaml"
    path.write_text(HEAD + "one: &a {<<: *b}\n")
    assert refused(path) == [f"{path}:6: YAML syntax error: found undefined alias 'b'"]


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_flows(tmp_path: Path, depth: int):
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "deep: " + "[" * depth + "]" * depth + "\n")
    assert refused(path) == [
        f"{path}:6: YAML syntax error: while increasing flow level exceeded maximum nesting depth"
    ]


def test_nested_deeper_than_a_site_needs(tmp_path: Path):
    """Below libyaml's own limit of 1 000 levels, above the builder's."""
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "deep: " + "{a: " * 500 + "x" + "}" * 500 + "\n")
    [line] = refused(path)
    assert line == f"{path}:6 deep" + ".a" * (MAX_DEPTH - 1) + f": nested more than {MAX_DEPTH} levels deep"


def test_deeply_nested_blocks(tmp_path: Path):
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "deep:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)))
    [line] = refused(path)
    assert "exceeded maximum nesting depth" in line or f"nested more than {MAX_DEPTH} levels deep" in line


def test_file_over_the_size_limit(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    with path.open("w") as fh:
        fh.write(HEAD)
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written to disk
    assert refused(path) == [f"{path}: file is larger than {MAX_FILE_BYTES // 2**20} MB; not a site file"]


def test_fifty_megabytes_of_yaml(tmp_path: Path):
    path = tmp_path / "fifty.yaml"
    row = "  - 0123456789012345678901234567890123456789012345678901234567890123456789\n"
    path.write_text(HEAD + "description: x\nbulk:\n" + row * (50 * 2**20 // len(row)))
    assert refused(path) == [
        f"{path}: more than {MAX_CONTENT_BYTES // 2**20} MB of YAML (comments apart); not a site file"
    ]


def test_tens_of_megabytes_of_comments_still_validate(tmp_path: Path):
    path = tmp_path / "comments.yaml"
    comment = "# " + "x" * 77 + "\n"
    text = HEAD.replace("pbx:\n", comment * (200_000) + "pbx:\n") + comment * 200_000
    path.write_text(text)
    assert len(text) > 30 * 2**20
    done = validate(path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"{path}: ok (site test, asterisk;")


def test_a_fifo_is_not_read(tmp_path: Path):
    import os

    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert refused(path) == [f"{path}: not a regular file"]
