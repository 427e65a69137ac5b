"""What pbxctl creates is not readable by everyone: generated files at most 0640 (0644
only where the PBX's own file is world-readable, so that the PBX can still read them),
backups 0600 in a 0700 directory, a new SQLite database 0600 — under a permissive umask."""

from __future__ import annotations

import os
import stat

import pytest
from typer.testing import CliRunner

from pbxctl.cli import app
from pbxctl.storage.db import new_engine

from helpers.site_files import copy_example

runner = CliRunner()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o000)
    yield
    os.umask(old)


def config_dir(tmp_path, operator_mode: int):
    config = tmp_path / "asterisk"
    config.mkdir()
    for name in ("extensions.conf", "queues.conf", "queuerules.conf", "features.conf"):
        (config / name).write_text("; the operator's\n")
        os.chmod(config / name, operator_mode)
    return config


@pytest.mark.parametrize("operator_mode, generated", [(0o640, 0o640), (0o600, 0o600), (0o664, 0o644), (0o666, 0o644)])
def test_generated_files_and_backups(tmp_path, open_umask, operator_mode, generated):
    site = copy_example(tmp_path)
    config = config_dir(tmp_path, operator_mode)
    first = runner.invoke(app, ["apply", "-s", str(site), "--config-dir", str(config), "--no-reload"])
    assert first.exit_code == 0, first.output
    for name in ("extensions_pbxctl.conf", "queues_pbxctl.conf", "queuerules_pbxctl.conf", "features_pbxctl.conf"):
        assert mode(config / name) == generated, name
    site.write_text(site.read_text().replace("ring_time: 15", "ring_time: 16"))
    second = runner.invoke(app, ["apply", "-s", str(site), "--config-dir", str(config), "--no-reload"])
    assert second.exit_code == 0, second.output
    backups = list((config / "pbxctl-backup").iterdir())
    assert len(backups) == 2  # the include lines added, then the changed queue
    for backup in backups:
        assert mode(backup) == 0o700
        assert {mode(f) for f in backup.iterdir()} == {0o600}


def test_a_new_sqlite_database_is_private(tmp_path, open_umask):
    path = tmp_path / "books" / "site.db"
    engine = new_engine(f"sqlite:///{path}")
    with engine.connect():
        pass
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o750
    for extra in (path.with_name("site.db-wal"), path.with_name("site.db-shm")):
        if extra.exists():
            assert mode(extra) == 0o600
