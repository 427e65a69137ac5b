"""Shared fixtures. Tests marked `asterisk` run against the real sandbox Asterisk that
scripts/asterisk-sandbox installs and starts; they fail, never skip, when it is not there."""

from __future__ import annotations

import asyncio
import subprocess
from contextlib import contextmanager
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
    text = text.replace("/var/lib/pbxctl-sandbox/root/var/log/asterisk", str(sandbox["root"] / "var/log/asterisk"))
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


def copy_example(directory: Path, name: str = "example.yaml") -> Path:
    """conf/example.yaml (or conf/NAME) and its CSV, copied to `directory` (no PBX involved)."""
    import shutil

    for file in (name, "postcodes.csv"):
        shutil.copy(REPO / "conf" / file, directory / file)
    return directory / name


@contextmanager
def applied_test_site(sandbox: dict[str, Path], site_file: Path, install_dialplan, db_family: str):
    """`site_file` applied to the sandbox with pbxctl's own apply, after the test-only
    dialplan (`install_dialplan(config_dir)`); yields the loaded site. Afterwards the
    generated files that were there before are put back and reloaded, and the test's AstDB
    family is dropped."""
    from pbxctl.apply.asterisk_apply import RELOAD_COMMANDS, apply_asterisk
    from pbxctl.asterisk.ami_client import AmiClient
    from pbxctl.render.asterisk import generate_asterisk
    from pbxctl.site.load import load_site

    config_dir = sandbox["config_dir"]
    secret = sandbox["secret_file"].read_text().strip()
    loaded = load_site(site_file)
    before = {name: (config_dir / name).read_bytes() for name in generate_asterisk(loaded) if (config_dir / name).exists()}
    install_dialplan(config_dir)

    async def apply():
        async with AmiClient("127.0.0.1", 5038, "pbxctl", secret) as ami:
            await apply_asterisk(loaded, config_dir, ami)
            await ami.command("dialplan reload")  # the test dialplan, even when the site did not change

    async def put_back():
        async with AmiClient("127.0.0.1", 5038, "pbxctl", secret) as ami:
            for command in RELOAD_COMMANDS:
                await ami.command(command)
            await ami.action({"Action": "DBDelTree", "Family": db_family})

    asyncio.run(apply())
    try:
        yield loaded
    finally:
        for name, data in before.items():
            (config_dir / name).write_bytes(data)
        asyncio.run(put_back())
