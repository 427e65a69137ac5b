"""Where Asterisk would find a prompt, looked up on this machine's filesystem.

Asterisk reports its own paths (`core show settings`); when it runs in a chroot or a
container whose /etc/asterisk is this machine's `pbx.asterisk.config_dir`, its paths are
read under the same prefix, and its absolute symlinks (Debian's sounds/en ->
/etc/alternatives/...) inside it too."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


def pbx_root(config_dir: Path, asterisk_config_dir: str) -> Path:
    """The directory that is `/` for Asterisk: `config_dir` minus Asterisk's own
    configuration directory, or `/` when they do not line up."""
    ours = PurePosixPath(os.path.abspath(config_dir))
    theirs = PurePosixPath(asterisk_config_dir)
    if theirs.is_absolute() and len(ours.parts) >= len(theirs.parts) and ours.parts[-(len(theirs.parts) - 1):] == theirs.parts[1:]:
        return Path(*ours.parts[: len(ours.parts) - len(theirs.parts) + 1])
    return Path("/")


def resolve_in_root(root: Path, path: str, hops: int = 40) -> Path:
    """`path` as Asterisk sees it, on this machine: under `root`, symlinks followed and
    absolute ones taken as relative to `root`."""
    parts = [p for p in PurePosixPath(path).parts if p != "/"]
    resolved: list[str] = []
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        here = root.joinpath(*resolved, part)
        if hops > 0 and here.is_symlink():
            hops -= 1
            target = os.readlink(here)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in PurePosixPath(target).parts if p != "/"] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def prompt_paths(name: str, data_dir: str, language: str) -> list[str]:
    """The paths (without format extension) Asterisk tries for `name`, in its order:
    the language, the language without its region, no language, then `en`."""
    if name.startswith("/"):
        return [name]
    sounds = f"{data_dir.rstrip('/')}/sounds"
    languages = [language, language.split("_")[0]]
    paths = [f"{sounds}/{lang}/{name}" for lang in dict.fromkeys(languages) if lang]
    paths.append(f"{sounds}/{name}")
    if "en" not in languages:
        paths.append(f"{sounds}/en/{name}")
    return paths


def find_prompt(root: Path, candidates: list[str]) -> Path | None:
    """The first file NAME.<format> for any candidate path."""
    for candidate in candidates:
        folder, _, stem = candidate.rpartition("/")
        directory = resolve_in_root(root, folder or "/")
        try:
            for entry in sorted(directory.iterdir()):
                if entry.stem == stem and entry.suffix and entry.is_file():
                    return entry
        except OSError:
            continue
    return None
