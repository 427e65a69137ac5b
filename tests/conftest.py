"""Shared fixtures. Tests marked `asterisk` run against the real sandbox Asterisk that
scripts/asterisk-sandbox installs and starts; they fail, never skip, when it is not there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.sandbox import SANDBOX
from helpers.site_files import REPO, install_custom_prompts, point_at_sandbox


@pytest.fixture(autouse=True)
def _one_sites_secrets():
    """Each test redacts only the secrets it resolved itself (a process serves one site)."""
    from pbxctl.site.secrets import forget_secrets

    forget_secrets()
    yield


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


@pytest.fixture
def example_site(sandbox, tmp_path) -> Path:
    """conf/example.yaml pointed at this machine's sandbox."""
    text = point_at_sandbox((REPO / "conf" / "example.yaml").read_text(), sandbox)
    site = tmp_path / "example.yaml"
    site.write_text(text)
    install_custom_prompts(sandbox["root"], text)
    (tmp_path / "postcodes.csv").write_text((REPO / "conf" / "postcodes.csv").read_text())
    return site
