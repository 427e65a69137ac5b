"""`pbxctl routes import|export`: row-level errors, nothing written on bad input, round trips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbxctl.cli import app

from helpers.site_files import copy_example
from pbxctl.site.load import load_site

REPO = Path(__file__).resolve().parents[1]
PBXCTL = Path(sys.executable).with_name("pbxctl")
runner = CliRunner()


def test_import_rejects_bad_rows_and_keeps_the_file(tmp_path, monkeypatch):
    """Each problem as FILE:LINE: message, the file named as given, no `pbxctl:` prefix."""
    site = copy_example(tmp_path)
    before = (tmp_path / "postcodes.csv").read_bytes()
    (tmp_path / "routes.csv").write_text(
        "value,destination\n0001-0999,queue:sales_east\n12a4,queue:support\n0500,queue:support\n2000,queue:nowhere\n"
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["routes", "import", "postcodes", "routes.csv", "-s", str(site)])
    assert result.exit_code == 1
    assert sorted(result.stderr.splitlines()) == [
        "routes.csv: 3 errors, nothing imported",
        "routes.csv:3: value '12a4' is not digits",
        "routes.csv:4: value '0500' overlaps '0001-0999' (routes.csv:2)",
        "routes.csv:5: unknown queue 'nowhere'",
    ]
    assert result.stderr.splitlines()[-1] == "routes.csv: 3 errors, nothing imported"
    assert (tmp_path / "postcodes.csv").read_bytes() == before


def test_import_then_export_round_trip_csv_and_excel(tmp_path):
    site = copy_example(tmp_path)
    new = tmp_path / "new.csv"
    new.write_text("value,destination\n0001-4999,queue:sales_east\n5000-9999,queue:sales_west\n")
    result = runner.invoke(app, ["routes", "import", "postcodes", str(new), "-s", str(site)])
    assert result.exit_code == 0, result.output
    assert "imported 2 values" in result.output
    loaded = load_site(site)
    assert loaded.route_lists["postcodes"].lookup("4999") == "queue:sales_east"
    assert loaded.route_lists["postcodes"].lookup("5000") == "queue:sales_west"
    xlsx = tmp_path / "out.xlsx"
    assert runner.invoke(app, ["routes", "export", "postcodes", str(xlsx), "-s", str(site)]).exit_code == 0
    back = runner.invoke(app, ["routes", "import", "postcodes", str(xlsx), "-s", str(site)])
    assert back.exit_code == 0, back.output
    csv_out = tmp_path / "out.csv"
    assert runner.invoke(app, ["routes", "export", "postcodes", str(csv_out), "-s", str(site)]).exit_code == 0
    assert csv_out.read_text() == "value,destination\n0001-4999,queue:sales_east\n5000-9999,queue:sales_west\n"


def test_unknown_list_and_inline_only_list(tmp_path):
    site = copy_example(tmp_path)
    result = runner.invoke(app, ["routes", "export", "nope", str(tmp_path / "x.csv"), "-s", str(site)])
    assert result.exit_code == 1 and "no routing list 'nope'" in result.output
    text = site.read_text().replace("    file: postcodes.csv", '    entries: {"0001-9999": "queue:support"}')
    site.write_text(text)
    new = tmp_path / "new.csv"
    new.write_text("0001-9999,queue:support\n")
    result = runner.invoke(app, ["routes", "import", "postcodes", str(new), "-s", str(site)])
    assert result.exit_code == 1 and "keeps its values inline" in result.output


def import_(tmp_path, site, name: str, *extra: str):
    """`pbxctl routes import postcodes NAME` run from the file's directory, as an operator
    types it; the list's own file must be untouched whenever the import fails."""
    before = (tmp_path / "postcodes.csv").read_bytes()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, ["routes", "import", "postcodes", name, "-s", str(site), *extra])
    finally:
        os.chdir(cwd)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code != 0:
        assert (tmp_path / "postcodes.csv").read_bytes() == before
    return result


FIFTEEN_ROWS = "".join(f"{n:04d},queue:support\n" for n in range(100, 115)).encode()


def write(name: str, data: bytes | None = None):
    def make(directory: Path) -> None:
        if data is None:
            (directory / name).mkdir()
        else:
            (directory / name).write_bytes(data)
    return make


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("routes.csv", write("routes.csv", b"value,destination\n" + FIFTEEN_ROWS + b"5003,queue:sal\xe9s\n"),
         "routes.csv:17: not UTF-8 (byte 0xe9)"),
        # lines end at \r\n, \r and \n; a quoted newline continues a row; a form feed is text
        ("routes.csv", write("routes.csv", b'value,destination\r\n"0100\n",queue:support\r0200,queue:support\f\n\f\n12a4,queue:support\n'),
         "routes.csv:6: value '12a4' is not digits"),
        ("routes.csv", lambda d: None, "routes.csv: not found (looked at {d}/routes.csv)"),
        ("routes.csv", write("routes.csv"), "routes.csv: is a directory, not a file"),
        ("routes.csv", write("routes.csv", b"0100," + b"q" * 5000 + b"\n"), "routes.csv:1: a field of 5000 characters; at most 1000"),
        ("routes.csv", write("routes.csv", b'0100,"queue:support\n' + b"x" * 200_000), "routes.csv:1: a field longer than 131072 characters"),
        ("routes.xlsx", write("routes.xlsx", b"PK\x03\x04 cut short"),
         "routes.xlsx: is not an Excel workbook (an .xlsx file is a zip archive; this one is not)"),
    ],
    ids=["not-utf8", "odd-line-ends", "missing", "directory", "long-field", "unbalanced-quote", "broken-xlsx"],
)
def test_import_refuses_what_it_cannot_read(tmp_path, name, make, message):
    site = copy_example(tmp_path)
    make(tmp_path)
    result = import_(tmp_path, site, name)
    assert result.exit_code == 1
    assert result.stderr == message.format(d=tmp_path) + f"\n{name}: 1 error, nothing imported\n"


def test_import_of_a_fifo_does_not_hang(tmp_path):
    """The real command in a subprocess: a FIFO nobody writes to must not block it."""
    site = copy_example(tmp_path)
    os.mkfifo(tmp_path / "routes.csv")
    before = (tmp_path / "postcodes.csv").read_bytes()
    done = subprocess.run(
        [str(PBXCTL), "routes", "import", "postcodes", "routes.csv", "-s", str(site)],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr == "routes.csv: is a FIFO (named pipe), not a regular file\nroutes.csv: 1 error, nothing imported\n"
    assert (tmp_path / "postcodes.csv").read_bytes() == before


@pytest.mark.parametrize("text", ["", "value,destination\n", "\n\nvalue;destination\r\n\r\n"], ids=["empty", "header-only", "header-and-blank-lines"])
def test_import_that_would_empty_the_list_needs_allow_empty(tmp_path, text):
    site = copy_example(tmp_path)
    (tmp_path / "routes.csv").write_text(text)
    refused = import_(tmp_path, site, "routes.csv")
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "routes.csv: no values (the file is empty or has only a header); importing it would leave routing "
        "list postcodes with no values: give --allow-empty if that is what you want",
        "routes.csv: 1 error, nothing imported",
    ]
    allowed = import_(tmp_path, site, "routes.csv", "--allow-empty")
    assert allowed.exit_code == 0, allowed.output
    assert "imported 0 values into routing list postcodes" in allowed.stdout
    assert (tmp_path / "postcodes.csv").read_text() == "value,destination\n"
    assert len(load_site(site).route_lists["postcodes"]) == 0


def test_an_empty_import_names_the_inline_values_it_would_leave(tmp_path):
    site = copy_example(tmp_path)
    site.write_text(site.read_text().replace("    file: postcodes.csv\n", '    file: postcodes.csv\n    entries: {"99999": hangup}\n'))
    (tmp_path / "routes.csv").write_text("value,destination\n")
    refused = import_(tmp_path, site, "routes.csv")
    assert refused.exit_code == 1
    assert "importing it would leave routing list postcodes with only its 1 inline value:" in refused.stderr
