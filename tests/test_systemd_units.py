"""The systemd units in conf/systemd/, checked by systemd itself (`systemd-analyze
verify` and `security`). scripts/setup installs systemd when systemd-analyze is missing;
without it these tests fail, they do not skip."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = sorted((REPO / "conf" / "systemd").glob("*.service"))
INSTALLED_PBXCTL = "/opt/pbxctl/.venv/bin/pbxctl"
# This checkout's pbxctl, standing in for the installed one (verify checks ExecStart=).
THIS_PBXCTL = str(Path(sys.executable).parent / "pbxctl")


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing: run scripts/setup (it installs Debian's systemd)")
    return tool


def as_installed_here(unit: Path, directory: Path) -> Path:
    copy = directory / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED_PBXCTL, THIS_PBXCTL))
    return copy


def settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_there_are_units_for_both_backends():
    assert [u.name for u in UNITS] == ["pbxctl-asterisk.service", "pbxctl-freeswitch.service"]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_analyze_verify_accepts_the_unit(unit, tmp_path):
    result = subprocess.run(
        [systemd_analyze(), "verify", str(as_installed_here(unit, tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_verify_catches_a_broken_unit(tmp_path):
    """The check is real: systemd-analyze reports a misspelt directive (a warning: hence the
    empty stderr required above) and a missing program (an error)."""
    broken = tmp_path / "pbxctl-asterisk.service"
    broken.write_text((REPO / "conf/systemd/pbxctl-asterisk.service").read_text().replace("WatchdogSec=", "WatchdogSecs="))
    result = subprocess.run([systemd_analyze(), "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert re.search(r"Unknown key.*WatchdogSecs", result.stderr), result.stderr
    assert f"Command {INSTALLED_PBXCTL} is not executable" in result.stderr
    assert result.returncode != 0


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_runs_sandboxed_as_pbxctl(unit):
    s = settings(unit)
    expected = {
        "User": ["pbxctl"], "Group": ["pbxctl"],
        "Restart": ["on-failure"], "ProtectSystem": ["strict"], "ReadWritePaths": ["/var/lib/pbxctl"],
        "StateDirectory": ["pbxctl"], "NoNewPrivileges": ["yes"], "PrivateTmp": ["yes"], "ProtectHome": ["yes"],
        "CapabilityBoundingSet": [""], "UMask": ["0077"],
    }
    assert {key: s.get(key) for key in expected} == expected
    # both: only the main process pings (for `serve freeswitch`, while its children answer)
    assert (s["Type"], s["NotifyAccess"]) == (["notify"], ["main"])
    assert int(s["WatchdogSec"][0]) >= 5  # pings every WatchdogSec/2: room for a busy machine
    assert s["ExecStart"][0].startswith(INSTALLED_PBXCTL + " serve ")


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_rates_the_sandbox_exposure_low(unit, tmp_path):
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", str(as_installed_here(unit, tmp_path))],
        capture_output=True, text=True, timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert level is not None, result.stdout + result.stderr
    assert float(level.group(1)) <= 2.0, result.stdout
