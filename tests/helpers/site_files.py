"""Site files for tests: the example site copied, sandbox paths made this machine's,
the example's custom prompts stood in for."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def point_at_sandbox(text: str, sandbox: dict[str, Path]) -> str:
    """A site file's sandbox paths made this machine's (its dir may be overridden)."""
    text = text.replace("/var/lib/pbxctl-sandbox/root/etc/asterisk", str(sandbox["config_dir"]))
    text = text.replace("/var/lib/pbxctl-sandbox/root/var/log/asterisk", str(sandbox["root"] / "var/log/asterisk"))
    return text.replace("/var/lib/pbxctl-sandbox/ami.secret", str(sandbox["secret_file"]))


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
