"""`apply` (and `diff`) into an Asterisk whose operator already has a queue of a site
queue's name: refused before anything is written, the name and the operator's line given."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pbxctl.cli import app

from helpers.site_files import copy_example

runner = CliRunner()


def operator_config(directory: Path, queues_conf: str) -> Path:
    config = directory / "asterisk"
    config.mkdir()
    for name in ("extensions.conf", "queuerules.conf", "features.conf"):
        (config / name).write_text("; the operator's\n")
    (config / "queues.conf").write_text(queues_conf)
    return config


def test_apply_says_which_queue_name_is_taken(tmp_path):
    site = copy_example(tmp_path)
    config = operator_config(tmp_path, "[general]\npersistentmembers = yes\n\n[support]\nstrategy = ringall\n")
    before = {p.name: p.read_text() for p in config.iterdir()}
    result = runner.invoke(app, ["apply", "-s", str(site), "--config-dir", str(config), "--no-reload"])
    assert result.exit_code != 0
    assert f"queue name 'support' (queues.support) is taken: the operator's own config defines [support] at {config / 'queues.conf'}:4" in result.output
    assert "nothing was written" in result.output
    assert {p.name: p.read_text() for p in config.iterdir()} == before
    shown = runner.invoke(app, ["diff", "-s", str(site), "--config-dir", str(config)])
    assert "queue name 'support'" in shown.output


def test_a_queue_in_an_included_file_counts_and_pbxctls_own_file_does_not(tmp_path):
    site = copy_example(tmp_path)
    config = operator_config(
        tmp_path,
        '[general]\n#include "queues-local/*.conf"\n#include "queues_pbxctl.conf"\n',
    )
    (config / "queues-local").mkdir()
    (config / "queues-local" / "sales.conf").write_text("; ours\n[sales_east](some-template)\nstrategy = linear\n")
    (config / "queues_pbxctl.conf").write_text("[support]\n")  # a previous apply's: not the operator's
    result = runner.invoke(app, ["apply", "-s", str(site), "--config-dir", str(config), "--no-reload"])
    assert result.exit_code != 0
    assert f"queue name 'sales_east' (queues.sales_east) is taken: the operator's own config defines [sales_east] at {config / 'queues-local' / 'sales.conf'}:2" in result.output
    assert "'support'" not in result.output


def test_no_clash_applies(tmp_path):
    site = copy_example(tmp_path)
    config = operator_config(tmp_path, "[general]\n\n[markq]\nstrategy = ringall\n")
    result = runner.invoke(app, ["apply", "-s", str(site), "--config-dir", str(config), "--no-reload"])
    assert result.exit_code == 0, result.output
    assert (config / "queues_pbxctl.conf").exists()
