"""The command line: exit codes, messages, and that a broken site writes nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pbxctl.cli import app

from helpers.site_files import copy_example

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_validate_example_is_clean():
    result = runner.invoke(app, ["validate", "-s", str(REPO / "conf" / "example.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok (site oslo, asterisk; 3 queues, 6 agents, 2 IVRs, 3 entry numbers, 0 warnings)" in result.output


def test_validate_reports_every_error_with_file_line_and_path(tmp_path):
    site = copy_example(tmp_path)
    text = site.read_text()
    text = text.replace("{agent: ingrid, priority: 0}", "{agent: ingrid, priority: -1}")
    text = text.replace("ring_time: 20", "ring_time: twenty")
    site.write_text(text)
    result = runner.invoke(app, ["validate", "-s", str(site)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    prio_line = next(i for i, l in enumerate(text.splitlines(), 1) if "priority: -1" in l)
    ring_line = next(i for i, l in enumerate(text.splitlines(), 1) if "ring_time: twenty" in l)
    assert f"{site}:{prio_line} queues.support.members[0].priority: must be 0 or more" in lines
    assert f"{site}:{ring_line} queues.sales_west.ring_time: must be a whole number, not 'twenty'" in lines
    assert lines[-1] == f"{site}: 2 errors, nothing written"


def test_generate_writes_nothing_for_a_broken_site(tmp_path):
    site = copy_example(tmp_path)
    site.write_text(site.read_text().replace("queue:support", "queue:nowhere", 1))
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", "-s", str(site), "--out", str(out)])
    assert result.exit_code == 1
    assert "unknown queue 'nowhere'" in result.output
    assert not out.exists()


def test_generate_is_deterministic_and_keeps_foreign_files(tmp_path):
    site = copy_example(tmp_path)
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        result = runner.invoke(app, ["generate", "-s", str(site), "--out", str(out)])
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out1.iterdir())
    assert names == ["extensions_pbxctl.conf", "features_pbxctl.conf", "queuerules_pbxctl.conf", "queues_pbxctl.conf"]
    for name in names:
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()
    again = runner.invoke(app, ["generate", "-s", str(site), "--out", str(out1)])
    assert again.output.count("(unchanged)") == 4
    (out2 / "queues_pbxctl.conf").write_text("[mine]\n")
    refused = runner.invoke(app, ["generate", "-s", str(site), "--out", str(out2)])
    assert refused.exit_code == 1 and "was not written by pbxctl" in refused.output
    assert (out2 / "queues_pbxctl.conf").read_text() == "[mine]\n"


def test_generate_freeswitch_target(tmp_path):
    site = copy_example(tmp_path, "example-freeswitch.yaml")
    out = tmp_path / "fs"
    result = runner.invoke(app, ["generate", "-s", str(site), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("queues", "agents", "tiers"):
        assert (out / "autoload_configs" / "pbxctl" / f"callcenter-{name}.xml").is_file()
    assert (out / "dialplan" / "pbxctl" / "pbxctl.xml").is_file()


def test_freeswitch_target_rejects_what_mod_callcenter_cannot_do(tmp_path):
    site = copy_example(tmp_path)
    out = tmp_path / "fs"
    result = runner.invoke(app, ["generate", "-s", str(site), "--out", str(out), "--target", "freeswitch"])
    assert result.exit_code == 1
    assert "queues.sales_east.waiting: 'music_then_ringing' is not available on freeswitch" in result.output
    assert not out.exists()


def test_freeswitch_apply_names_a_missing_config_dir(tmp_path):
    # apply itself is tested against the Event Socket double in tests/test_freeswitch_apply.py
    site = copy_example(tmp_path, "example-freeswitch.yaml")
    result = runner.invoke(app, ["apply", "-s", str(site), "--config-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert f"FreeSWITCH config directory {tmp_path / 'nope'} does not exist" in result.output


def test_site_comes_from_the_environment(tmp_path):
    site = copy_example(tmp_path)
    result = runner.invoke(app, ["validate"], env={"PBXCTL_SITE": str(site)})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{site}: ok (site oslo")


def test_a_command_without_a_site_says_how_to_give_one():
    result = runner.invoke(app, ["validate"], env={"PBXCTL_SITE": None})
    assert result.exit_code == 1
    assert result.stderr == "pbxctl: which site? give -s SITE.yaml (or set PBXCTL_SITE)\n"


def test_positional_site_still_works_with_a_warning(tmp_path):
    """The form before -s (one release): the same result, and a warning on stderr only."""
    site = copy_example(tmp_path)
    old = runner.invoke(app, ["validate", str(site)])
    new = runner.invoke(app, ["validate", "-s", str(site)])
    assert old.exit_code == new.exit_code == 0
    assert old.stdout == new.stdout
    assert old.stderr == "warning: 'pbxctl validate SITE.yaml' is deprecated; use 'pbxctl validate -s SITE.yaml'\n"
    assert new.stderr == ""
    out = tmp_path / "out"
    generated = runner.invoke(app, ["generate", str(site), "--out", str(out)])
    assert generated.exit_code == 0, generated.output
    assert "'pbxctl generate SITE.yaml' is deprecated; use 'pbxctl generate -s SITE.yaml'" in generated.stderr
    assert (out / "queues_pbxctl.conf").is_file()
    served = runner.invoke(app, ["serve", "asterisk", str(tmp_path / "missing.yaml")])
    assert "'pbxctl serve asterisk SITE.yaml' is deprecated; use 'pbxctl serve asterisk -s SITE.yaml'" in served.stderr


def test_positional_site_wins_over_the_environment_but_not_over_s(tmp_path):
    site = copy_example(tmp_path)
    other = tmp_path / "other.yaml"
    from_env = runner.invoke(app, ["validate", str(site)], env={"PBXCTL_SITE": str(other)})
    assert from_env.exit_code == 0, from_env.output
    both = runner.invoke(app, ["validate", str(site), "-s", str(other)])
    assert both.exit_code == 1
    assert f"pbxctl: two site files given ({site} and -s {other}); give one, with -s" in both.stderr
