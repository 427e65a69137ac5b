"""`pbxctl doctor` against the real sandbox Asterisk: all OK after `apply` with the
service running, and the FAIL line an engineer needs for each thing that is wrong."""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbxctl.cli import app
from pbxctl.storage.db import engine_for

from helpers.agiservice import ServiceThread
from helpers.sandbox import ami_user, readme_ami_user, sandbox_rx

pytestmark = pytest.mark.asterisk
runner = CliRunner()

MAILBOXES = ("100", "200")  # the example's voicemail destinations
MAILBOX_NOTE = "; pbxctl doctor test mailbox"


def doctor(site: Path) -> tuple[int, list[str]]:
    """Exit status and doctor's lines (the test's own service thread logs to the same
    captured stdout: its lines are left out)."""
    result = runner.invoke(app, ["doctor", "-s", str(site)])
    ours = re.compile(r"^(OK   |WARN |FAIL |ready: |not ready: )")
    return result.exit_code, [line for line in result.output.splitlines() if ours.match(line)]


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


@contextlib.contextmanager
def mailboxes_in_sandbox(config_dir: Path, boxes: tuple[str, ...]):
    """The operator's voicemail.conf with `boxes` added to [default], put back afterwards."""
    path = config_dir / "voicemail.conf"
    original = path.read_text()
    lines = [f"{box} => 4242,pbxctl test {box} {MAILBOX_NOTE}" for box in boxes]
    path.write_text(re.sub(r"^\[default\]\n", lambda m: m.group(0) + "\n".join(lines) + "\n", original, count=1, flags=re.M))
    sandbox_rx("voicemail reload")
    try:
        yield
    finally:
        path.write_text(original)
        sandbox_rx("voicemail reload")


@contextlib.contextmanager
def moved_away(path: Path):
    aside = path.with_name(path.name + ".doctor-test")
    path.rename(aside)
    try:
        yield
    finally:
        aside.rename(path)


@contextlib.contextmanager
def edited(path: Path, old: str, new: str):
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new))
    try:
        yield
    finally:
        path.write_text(original)


@contextlib.contextmanager
def variant_of(live_site: Path, directory: Path, pattern: str, replacement: str):
    """The live site with one change that is not in any generated file (an AMI login
    detail). The generated files carry the YAML's hash, so they are written from the
    variant (no reload: only that hash differs) and from the live site again after."""
    directory.mkdir()
    shutil.copy(live_site.parent / "postcodes.csv", directory)
    site = directory / live_site.name
    text = live_site.read_text()
    site.write_text(re.sub(pattern, replacement, text))
    assert site.read_text() != text
    assert runner.invoke(app, ["apply", "-s", str(site), "--no-reload"]).exit_code == 0
    try:
        yield site
    finally:
        assert runner.invoke(app, ["apply", "-s", str(live_site), "--no-reload"]).exit_code == 0


@pytest.fixture
def live_site(example_site, sandbox, tmp_path, monkeypatch):
    """The example applied to the sandbox, its mailboxes present, its database created and
    pbxctl's FastAGI service listening: a site ready to go live."""
    result = runner.invoke(app, ["apply", "-s", str(example_site)])
    assert result.exit_code == 0, result.output
    database = tmp_path / "oslo.db"
    monkeypatch.setenv("PBXCTL_DATABASE_URL", f"sqlite:///{database}")
    engine_for(f"sqlite:///{database}")
    service = ServiceThread(example_site, database).start()
    try:
        with mailboxes_in_sandbox(sandbox["config_dir"], MAILBOXES):
            yield example_site
    finally:
        service.stop()


def test_all_ok_after_apply(live_site):
    status, lines = doctor(live_site)
    checks = lines[:-1]
    assert status == 0, "\n".join(lines)
    assert all(line.startswith("OK   ") for line in checks), "\n".join(lines)
    names = {line[5:].split(":", 1)[0] for line in checks}
    assert {
        "ami", "ami write privilege", "ami read privilege", "asterisk version", "loaded in asterisk", "fastagi",
        "include extensions.conf", "include queues.conf", "include queuerules.conf", "include features.conf",
        "generated extensions_pbxctl.conf", "generated queues_pbxctl.conf", "generated queuerules_pbxctl.conf",
        "generated features_pbxctl.conf", "hours office", "database", "voicemail 100", "voicemail 200",
        "prompt custom/welcome", "prompt custom/lunch", "prompt queue-periodic-announce",
    } <= names
    assert lines[-1] == f"ready: {len(checks)} ok, 0 warnings, 0 failures"


def test_missing_prompt(live_site, sandbox):
    lunch = sandbox["root"] / "usr/local/share/asterisk/sounds/lunch.gsm"
    with moved_away(lunch):
        status, lines = doctor(live_site)
    assert status == 1
    sounds = sandbox["root"] / "usr/share/asterisk/sounds"
    assert failures(lines) == [
        f"FAIL prompt custom/lunch: no sound file custom/lunch.* under {sounds} "
        "(named by ivrs.main.elements.lunch_message.prompt)"
    ]
    assert lines[-1].startswith("not ready: ") and lines[-1].endswith(", 1 failures")


def test_removed_include_line(live_site, sandbox):
    queuerules = sandbox["config_dir"] / "queuerules.conf"
    with edited(queuerules, '#include "queuerules_pbxctl.conf"', ""):
        status, lines = doctor(live_site)
    assert status == 1
    assert failures(lines) == [
        f'FAIL include queuerules.conf: {queuerules} has no `#include "queuerules_pbxctl.conf"`: `pbxctl apply` adds it'
    ]


def test_stale_generated_files(live_site):
    """The YAML changed after the last apply: every generated file names the old hash."""
    assert "no change" in runner.invoke(app, ["diff", "-s", str(live_site)]).output
    with edited(live_site, "ring_time: 12", "ring_time: 14"):
        status, lines = doctor(live_site)
    assert status == 1
    stale = [line for line in failures(lines) if line.startswith("FAIL generated ")]
    assert [line.split(":", 1)[0] for line in stale] == [
        "FAIL generated extensions_pbxctl.conf", "FAIL generated queues_pbxctl.conf",
        "FAIL generated queuerules_pbxctl.conf", "FAIL generated features_pbxctl.conf",
    ]
    assert all(re.search(r": stale: written from sha256 [0-9a-f]{16}, example\.yaml is now sha256 [0-9a-f]{16}: run `pbxctl apply`$", line)
               for line in stale), stale
    # Only the generated files: Asterisk's loaded queues do not compare ring times.
    assert failures(lines) == stale


def test_missing_mailbox(example_site, sandbox, tmp_path, monkeypatch):
    assert runner.invoke(app, ["apply", "-s", str(example_site)]).exit_code == 0
    monkeypatch.setenv("PBXCTL_DATABASE_URL", f"sqlite:///{tmp_path / 'oslo.db'}")
    service = ServiceThread(example_site, tmp_path / "oslo.db").start()
    try:
        with mailboxes_in_sandbox(sandbox["config_dir"], ("100",)):
            status, lines = doctor(example_site)
    finally:
        service.stop()
    assert status == 1
    assert failures(lines) == [
        "FAIL voicemail 200: no mailbox 200@default in voicemail.conf "
        "(named by queues.sales_west.overflow, queues.sales_west.when_empty)"
    ]


def test_wrong_ami_secret(live_site, tmp_path):
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret-8f1c\n")
    with variant_of(live_site, tmp_path / "wrong", r"secret: \{file: [^}]+\}", f"secret: {{file: {wrong}}}") as site:
        status, lines = doctor(site)
    assert status == 1
    assert failures(lines) == ["FAIL ami: AMI login as 'pbxctl' at 127.0.0.1:5038 refused: Authentication failed"]
    assert "WARN ami: not checked without AMI: AMI privileges, Asterisk version, loaded configuration, " \
           "voicemail mailboxes, prompts" in lines
    assert not any("not-the-secret" in line for line in lines)


def test_missing_ami_privilege_is_named(live_site, sandbox, ami_secret, tmp_path):
    """No `agent` class, read or write."""
    user = "pbxctl-doctor-test"
    with ami_user(sandbox, ami_secret, user, "system,call,user,dialplan", "system,call,command,reporting,originate,config"):
        with variant_of(live_site, tmp_path / "limited", r"username: pbxctl", f"username: {user}") as site:
            status, lines = doctor(site)
    assert status == 1
    assert failures(lines) == [
        f"FAIL ami write privilege: AMI user '{user}' lacks write privilege 'agent': it may not run "
        "QueueAdd (agent login), QueueRemove (agent logout), QueuePause (agent pause), "
        "QueueLog (the conference line in queue_log)",
        f"FAIL ami read privilege: AMI user '{user}' lacks read privilege 'agent': no queue and member events",
    ]


def test_the_readmes_minimal_ami_user_is_enough(live_site, sandbox, ami_secret, tmp_path):
    """Doctor's view; tests/test_ami_privileges_asterisk.py has the same user do the work."""
    user = "pbxctl-doctor-minimal"
    read, write = readme_ami_user()
    with ami_user(sandbox, ami_secret, user, read, write):
        with variant_of(live_site, tmp_path / "minimal", r"username: pbxctl", f"username: {user}") as site:
            status, lines = doctor(site)
    assert status == 0, "\n".join(lines)
    assert [line for line in lines if not line.startswith("OK")] == [lines[-1]]
