"""Planning and writing config files: pbxctl's own include files and the one include line
it adds to each operator file. Never replaces a file it did not write."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pbxctl.render.templates import is_pbxctl_file


class ApplyError(Exception):
    pass


@dataclass(frozen=True)
class FileChange:
    path: Path
    old: str | None
    new: str
    what: str  # 'generated' | 'include'

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        old = [] if self.old is None else self.old.splitlines(keepends=True)
        return "".join(
            difflib.unified_diff(
                old,
                self.new.splitlines(keepends=True),
                fromfile=str(self.path) if self.old is not None else "/dev/null",
                tofile=str(self.path),
            )
        )


@dataclass
class ApplyResult:
    changes: list[FileChange]
    backup_dir: Path | None = None
    reloaded: bool = False
    verified: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # what was sent to the PBX besides reloads

    @property
    def changed(self) -> list[FileChange]:
        return [c for c in self.changes if c.changed]


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ApplyError(f"{path}: cannot read: {exc.strerror}") from None


def plan_generated(directory: Path, files: dict[str, str]) -> list[FileChange]:
    changes = []
    for name, text in files.items():
        path = directory / name
        old = read_text(path)
        if old is not None and not is_pbxctl_file(old):
            raise ApplyError(
                f"{path} exists and was not written by pbxctl; it is left alone. Move it away to let pbxctl write it."
            )
        changes.append(FileChange(path, old, text, "generated"))
    return changes


INCLUDE_NOTE = "Added by pbxctl: its generated file, replaced by `pbxctl apply`."


def plan_asterisk_include(operator_file: Path, include_name: str) -> FileChange:
    """The operator's file with `#include "<include_name>"` appended once."""
    old = read_text(operator_file)
    pattern = re.compile(rf'^\s*#\s*(try)?include\s+"?{re.escape(include_name)}"?\s*$', re.MULTILINE)
    if old is not None and pattern.search(old):
        return FileChange(operator_file, old, old, "include")
    base = old or ""
    if base and not base.endswith("\n"):
        base += "\n"
    new = f'{base}\n; {INCLUDE_NOTE}\n#include "{include_name}"\n'
    return FileChange(operator_file, old, new, "include")


# Generated files at most rw-r----- (owner and the PBX's group); backups of what they
# replaced only for their owner.
GENERATED_MODE = 0o640
BACKUP_MODE = 0o600
BACKUP_DIR_MODE = 0o700


def write_changes(changes: list[FileChange], backup_root: Path, like: Path | None) -> Path | None:
    """Back up what is replaced, then write each changed file atomically. Returns the
    backup directory (None when nothing existed before)."""
    # Every file must be writable as UTF-8 before the first is written: never half a set.
    for change in changes:
        try:
            change.new.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApplyError(
                f"{change.path}: character U+{ord(change.new[exc.start]):04X} cannot be written as UTF-8; nothing was written"
            ) from None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    backup_dir = backup_root / stamp
    used_backup = False
    for change in changes:
        if not change.changed:
            continue
        if change.old is not None:
            backup_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(backup_dir, BACKUP_DIR_MODE)
            kept = backup_dir / change.path.name
            shutil.copy2(change.path, kept)
            os.chmod(kept, BACKUP_MODE)
            used_backup = True
        atomic_write(change.path, change.new, like if change.old is None else change.path)
    return backup_dir if used_backup else None


def atomic_write(path: Path, text: str, like: Path | None) -> None:
    tmp = path.with_name(f".{path.name}.pbxctl-tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _copy_owner_and_mode(like, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ApplyError(f"{path}: cannot write: {exc.strerror}") from None


def _copy_owner_and_mode(like: Path | None, target: Path) -> None:
    """The PBX runs as its own user: new files get the owner and group of its files, and
    their read bits — never more: no write for group or others, no execute. (Others may
    read only if they may read the PBX's own file: some boxes' Asterisk reads a root-owned
    0644 config as "other", and would lose a 0640 file.) With no such file: 0640."""
    if like is None or not like.exists():
        os.chmod(target, GENERATED_MODE)
        return
    st = like.stat()
    if os.geteuid() == 0:
        os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, st.st_mode & (GENERATED_MODE | stat.S_IROTH))


def restore(changes: list[FileChange], like: Path | None) -> None:
    """Put back what was there before `changes` were written."""
    for change in changes:
        if not change.changed:
            continue
        if change.old is None:
            change.path.unlink(missing_ok=True)
        else:
            atomic_write(change.path, change.old, change.path)
