"""The routing-list files of the hostile corpus (tests/hostile/routes/) through the CLI:
as the file a site's routing list names (`pbxctl validate`), and as the file of
`pbxctl routes import`. Each step is bounded in time and memory (tests/hostile_runner.py
under RLIMIT_AS, as for the site corpus); nothing may end in a traceback, a refusal
names the file (and the line where there is one), and an import that succeeds leaves a
site that still validates.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hostile_checks import check_problem_lines
from test_hostile_corpus import CORPUS, check_bounded, error_lines, run_batches

ROUTES = CORPUS / "routes"
DATA = sorted(p for p in ROUTES.iterdir() if p.name != "site.yaml")
# Files that hold no row: an import of them would empty the list.
EMPTY = {"empty.csv", "header-only.csv", "blank-lines.csv"}


def _site_with(directory: Path, data: Path | None) -> Path:
    """routes/site.yaml in `directory`, its list `postcodes` held in a copy of `data`
    (good.csv when None)."""
    directory.mkdir()
    data = data or ROUTES / "good.csv"
    name = "postcodes" + data.suffix
    shutil.copy(data, directory / name)
    site = directory / "site.yaml"
    site.write_text((ROUTES / "site.yaml").read_text(encoding="utf-8").replace("postcodes.csv", name), encoding="utf-8")
    return site


@pytest.fixture(scope="module")
def route_results(tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    tmp = tmp_path_factory.mktemp("routes")
    jobs = []
    for i, data in enumerate(DATA):
        as_list = _site_with(tmp / f"list-{i}", data)
        jobs.append({"id": f"validate {data.name}", "steps": [["validate", "-s", str(as_list)]]})
        importing = _site_with(tmp / f"import-{i}", None)
        jobs.append({"id": f"import {data.name}", "steps": [
            ["routes", "import", "postcodes", str(data), "-s", str(importing)],
            ["validate", "-s", str(importing)],
        ]})
    by_id: dict[str, list[dict]] = {}
    for result in run_batches(jobs, tmp):
        by_id.setdefault(result["id"], []).append(result)
    return by_id


@pytest.mark.parametrize("data", DATA, ids=[p.name for p in DATA])
def test_a_routing_list_file_is_read_or_refused_with_its_place(route_results, data: Path):
    [result] = route_results[f"validate {data.name}"]
    check_bounded(result)
    if result["code"] == 1:
        check_problem_lines(result["argv"][-1], error_lines(result["stderr"]))
    else:
        assert "ok (site routes" in result["stdout"], result


@pytest.mark.parametrize("data", DATA, ids=[p.name for p in DATA])
def test_routes_import_of_a_hostile_file_is_refused_with_its_place_or_leaves_a_valid_site(route_results, data: Path):
    results = route_results[f"import {data.name}"]
    for result in results:
        check_bounded(result)
    imported = results[0]
    if imported["code"] == 0:
        assert data.name not in EMPTY, "an import that empties the list must be refused"
        assert results[1]["code"] == 0, results[1]["stderr"]
        return
    lines = [line for line in imported["stderr"].splitlines() if line and line != "nothing imported"]
    assert lines, imported
    place = re.compile(rf"({re.escape(str(data))}|{re.escape(data.name)})(:\d+)?: \S")
    for line in lines:
        assert line.isprintable(), repr(line)
        assert place.match(line), f"not FILE:LINE: message: {line!r}"
