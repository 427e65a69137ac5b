"""Every file of the hostile corpus (tests/hostile/, written by
scripts/make-hostile-corpus.py) through the CLI, with a time and a memory bound each.

Site files: `pbxctl validate`, then `pbxctl generate` when it validates. The batches
run in two subprocesses (one per core) under RLIMIT_AS, many files per process through
the installed entry point (tests/hostile_runner.py times each step); a sample also runs
as one `pbxctl` process per file under the same limit.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hostile_checks import (
    check_asterisk_files,
    check_file_problem_lines,
    check_freeswitch_files,
    check_problem_lines,
    read_generated,
)
from hostile_sites import base_sites, dump

from pbxctl.render.asterisk import generate_asterisk
from pbxctl.render.freeswitch import generate_freeswitch
from pbxctl.site.load import load_site

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "hostile"
SITES = sorted((CORPUS / "sites").glob("*.yaml"))
PBXCTL = Path(sys.executable).with_name("pbxctl")

# A step of one small file: far below a second on an idle machine; the bound leaves room
# for a loaded CI machine, not for a hang or a blow-up.
STEP_SECONDS = 1.5
# Address space of each batch process, and how much one step may grow its peak RSS.
ADDRESS_SPACE = 1 << 30
STEP_GROWTH_KB = 100 * 1024


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_batches(jobs: list[dict], tmp_path: Path, batches: int = 2) -> list[dict]:
    """Jobs split over `batches` runner processes running at once."""
    parts = [jobs[i::batches] for i in range(batches)]

    def run(i: int) -> list[dict]:
        spec = tmp_path / f"jobs-{i}.json"
        spec.write_text(json.dumps(parts[i]), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, str(HERE / "hostile_runner.py"), str(spec)],
            capture_output=True, text=True, timeout=300, preexec_fn=_limit_memory,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(batches) as pool:
        return [result for part in pool.map(run, range(batches)) for result in part]


def check_bounded(result: dict) -> None:
    where = f"{' '.join(result['argv'])}"
    assert result["code"] in (0, 1), f"{where}: {result['code']}\n{result['stderr'][-2000:]}"
    assert "Traceback" not in result["stderr"], f"{where}\n{result['stderr'][-2000:]}"
    assert result["seconds"] < STEP_SECONDS, f"{where}: {result['seconds']:.2f} s"
    assert result["grew_kb"] < STEP_GROWTH_KB, f"{where}: peak memory grew by {result['grew_kb']} kB"


def error_lines(stderr: str) -> list[str]:
    """The problem lines, without the closing 'FILE: N errors, nothing written'."""
    return [line for line in stderr.splitlines() if not line.endswith(", nothing written")]


@pytest.fixture(scope="module")
def site_results(tmp_path_factory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("corpus")
    jobs = [
        {"id": str(path), "steps": [["validate", "-s", str(path)], ["generate", "-s", str(path), "--out", str(tmp / f"out-{i}")]]}
        for i, path in enumerate(SITES)
    ]
    by_file: dict[str, list[dict]] = {}
    for result in run_batches(jobs, tmp):
        result["out"] = str(tmp / f"out-{SITES.index(Path(result['id']))}")
        by_file.setdefault(result["id"], []).append(result)
    return by_file


def test_the_corpus_covers_both_backends_and_both_outcomes(site_results):
    assert len(SITES) >= 300
    outcomes = {(path.name.split("-")[1], site_results[str(path)][0]["code"]) for path in SITES}
    assert {("asterisk", 0), ("asterisk", 1), ("freeswitch", 0), ("freeswitch", 1), ("bytes", 1)} <= outcomes


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """The two base sites the corpus was built from, as files."""
    directory = tmp_path_factory.mktemp("bases")
    shutil.copy(CORPUS / "sites" / "postcodes.csv", directory)
    out = {}
    for backend, data in base_sites().items():
        out[backend] = directory / f"base-{backend}.yaml"
        out[backend].write_text(dump(data), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def base_renders(bases) -> dict[str, dict[str, str]]:
    return {"asterisk": generate_asterisk(load_site(bases["asterisk"])),
            "freeswitch": generate_freeswitch(load_site(bases["freeswitch"]))}


@pytest.mark.parametrize("path", SITES, ids=[p.name for p in SITES])
def test_corpus_site_is_refused_cleanly_or_generates_what_the_pbx_reads(site_results, base_renders, path: Path):
    results = site_results[str(path)]
    for result in results:
        check_bounded(result)
    validate = results[0]
    if validate["code"] == 1:
        assert len(results) == 1
        if "-bytes-" in path.name:
            check_file_problem_lines(str(path), error_lines(validate["stderr"]))
        else:
            check_problem_lines(str(path), error_lines(validate["stderr"]))
        return
    assert "ok (site" in validate["stdout"]
    generate = results[1]
    assert generate["code"] == 0, generate["stderr"]
    loaded = load_site(path)
    files = read_generated(Path(generate["out"]))
    backend = loaded.site.pbx.backend
    check = check_asterisk_files if backend == "asterisk" else check_freeswitch_files
    check(files, loaded.site, base_renders[backend], same_shape=False)


def test_a_sample_as_one_process_per_file_under_the_memory_limit():
    for path in SITES[::40]:
        proc = subprocess.run([str(PBXCTL), "validate", "-s", str(path)], capture_output=True, text=True,
                              timeout=20, preexec_fn=_limit_memory)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        if proc.returncode == 1 and "-bytes-" not in path.name:
            check_problem_lines(str(path), error_lines(proc.stderr))


def test_a_hostile_file_name_is_shown_escaped_in_every_header(tmp_path: Path, bases):
    site = tmp_path / "we;ird\n[evil]\x1b.yaml"
    shutil.copy(bases["asterisk"], site)
    shutil.copy(CORPUS / "sites" / "postcodes.csv", tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([str(PBXCTL), "generate", "-s", str(site), "--out", str(out)], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    for name, text in read_generated(out).items():
        assert text.splitlines()[0].startswith("; Generated by pbxctl from we\\;ird\\x0a[evil]\\x1b.yaml (sha256 "), name
    loaded = load_site(site)
    check_asterisk_files(read_generated(out), loaded.site, generate_asterisk(loaded), same_shape=True)
