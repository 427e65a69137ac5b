"""Shared fixtures. Tests marked `asterisk` run against the real sandbox Asterisk that
scripts/asterisk-sandbox installs and starts; they fail, never skip, when it is not there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SANDBOX = REPO / "scripts" / "asterisk-sandbox"


@pytest.fixture(scope="session")
def sandbox() -> dict[str, Path]:
    """The running sandbox Asterisk: started here if it is not running (idempotent)."""
    started = subprocess.run([str(SANDBOX), "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        pytest.fail(f"the sandbox Asterisk could not be started:\n{started.stdout}\n{started.stderr}")
    root = Path(subprocess.run([str(SANDBOX), "path"], capture_output=True, text=True, check=True).stdout.strip())
    state = root.parent
    return {"root": root, "config_dir": root / "etc" / "asterisk", "secret_file": state / "ami.secret"}


@pytest.fixture
def ami_secret(sandbox) -> str:
    return sandbox["secret_file"].read_text().strip()


def sandbox_rx(command: str) -> str:
    return subprocess.run([str(SANDBOX), "rx", command], capture_output=True, text=True, check=True, timeout=30).stdout


def point_at_sandbox(text: str, sandbox: dict[str, Path]) -> str:
    """A site file's sandbox paths made this machine's (its dir may be overridden)."""
    text = text.replace("/var/lib/pbxctl-sandbox/root/etc/asterisk", str(sandbox["config_dir"]))
    return text.replace("/var/lib/pbxctl-sandbox/ami.secret", str(sandbox["secret_file"]))


@pytest.fixture
def example_site(sandbox, tmp_path) -> Path:
    """conf/example.yaml pointed at this machine's sandbox."""
    text = point_at_sandbox((REPO / "conf" / "example.yaml").read_text(), sandbox)
    site = tmp_path / "example.yaml"
    site.write_text(text)
    install_custom_prompts(sandbox["root"], text)
    (tmp_path / "postcodes.csv").write_text((REPO / "conf" / "postcodes.csv").read_text())
    return site



def install_custom_prompts(root: Path, site_text: str) -> None:
    """The example's own recordings (custom/...) stand for the operator's: give the
    sandbox a second of silence under each name, so Read() and Playback() behave as
    they do with real recordings (a missing prompt makes Read() return at once)."""
    import re
    import shutil

    silence = root / "usr/share/asterisk/sounds/en_US_f_Allison/silence/1.gsm"
    target_dir = root / "usr/local/share/asterisk/sounds"
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(re.findall(r"custom/([A-Za-z0-9_.-]+)", site_text))):
        target = target_dir / f"{name}.gsm"
        if not target.exists():
            shutil.copy(silence, target)


def copy_example(directory: Path) -> Path:
    """conf/example.yaml and its CSV, copied to `directory` (no PBX involved)."""
    import shutil

    for name in ("example.yaml", "postcodes.csv"):
        shutil.copy(REPO / "conf" / name, directory / name)
    return directory / "example.yaml"
