"""The sandbox Asterisk from tests: its CLI, and a test site applied to it and taken back."""

from __future__ import annotations

import asyncio
import subprocess
from contextlib import contextmanager
from pathlib import Path

from helpers.site_files import REPO

SANDBOX = REPO / "scripts" / "asterisk-sandbox"


def sandbox_rx(command: str) -> str:
    return subprocess.run([str(SANDBOX), "rx", command], capture_output=True, text=True, check=True, timeout=30).stdout


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


@contextmanager
def ami_user(sandbox: dict[str, Path], secret: str, name: str, read: str, write: str):
    """A second AMI user in the sandbox (manager.d), as an operator might make it."""
    conf = sandbox["config_dir"] / "manager.d" / f"{name}.conf"
    conf.write_text(
        f"; Test-only (tests/helpers/sandbox.py)\n[{name}]\nsecret = {secret}\n"
        f"deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\nread = {read}\nwrite = {write}\n"
    )
    sandbox_rx("manager reload")
    try:
        yield name
    finally:
        conf.unlink()
        sandbox_rx("manager reload")


def readme_ami_user() -> tuple[str, str]:
    """(read, write) of the AMI user the README's install section gives, as written there."""
    import re

    text = (REPO / "README.md").read_text()
    block = text[text.index("**An AMI user**"):]
    block = block[:block.index("```", block.index("```ini") + 6)]
    read = re.search(r"^\s*read = (.+)$", block, re.M)
    write = re.search(r"^\s*write = (.+)$", block, re.M)
    assert read and write, block
    return read.group(1).strip(), write.group(1).strip()
