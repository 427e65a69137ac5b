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
