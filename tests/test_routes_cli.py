"""`pbxctl routes import|export`: row-level errors, nothing written on bad input, round trips."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pbxctl.cli import app

from conftest import copy_example
from pbxctl.site.load import load_site

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_import_rejects_bad_rows_and_keeps_the_file(tmp_path):
    site = copy_example(tmp_path)
    before = (tmp_path / "postcodes.csv").read_bytes()
    bad = tmp_path / "routes.csv"
    bad.write_text("value,destination\n0001-0999,queue:sales_east\n12a4,queue:support\n0500,queue:support\n2000,queue:nowhere\n")
    result = runner.invoke(app, ["routes", "import", "postcodes", str(bad), "-s", str(site)])
    assert result.exit_code == 1
    assert "routes.csv:3: value '12a4' is not digits" in result.output
    assert "routes.csv:4: value '0500' overlaps '0001-0999' (routes.csv:2)" in result.output
    assert "routes.csv:5: unknown queue 'nowhere'" in result.output
    assert "nothing imported" in result.output
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
