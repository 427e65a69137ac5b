"""Resolve secrets given as {env: NAME}, {file: PATH} or (warned about) literally."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pbxctl.site.model import Secret


class SecretUnavailable(Exception):
    pass


# A secret is a line of text: anything bigger is not the file that was meant.
SECRET_FILE_LIMIT = 64 * 1024

# Every secret this process has resolved, so that what it prints and logs can be scrubbed
# of them: pbxctl never puts one in a message itself, but a peer's answer quoted in an
# error (an SMTP reply, an Event Socket Reply-Text, a webhook's body) may echo it back.
_RESOLVED: set[str] = set()
REDACTED = "<redacted>"
# Shorter values (a 4-digit PIN, a word) would blank out ordinary numbers and words; a PIN
# goes to no peer that could echo it anyway.
REDACT_MIN_LENGTH = 6


def remember_secret(value: str) -> str:
    if len(value) >= REDACT_MIN_LENGTH:
        _RESOLVED.add(value)
    return value


def forget_secrets() -> None:
    """For tests, which resolve many sites' secrets in one process."""
    _RESOLVED.clear()


def redact(text: str) -> str:
    """`text` with every resolved secret replaced by <redacted>."""
    for value in sorted(_RESOLVED, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def resolve_secret(secret: Secret | None, what: str, base_dir: Path) -> str:
    if secret is None:
        raise SecretUnavailable(f"no {what} configured in the site file")
    if isinstance(secret, str):
        return remember_secret(secret)
    if secret.env is not None:
        value = os.environ.get(secret.env)
        if not value:
            raise SecretUnavailable(f"{what}: environment variable {secret.env} is not set")
        return remember_secret(value)
    path = (base_dir / secret.file).resolve()  # type: ignore[operator]
    value = read_secret_file(path, what).strip()
    if not value:
        raise SecretUnavailable(f"{what}: {path} is empty")
    return remember_secret(value)


def read_secret_file(path: Path, what: str) -> str:
    """The text of a regular file of at most SECRET_FILE_LIMIT bytes. A FIFO, a device or a
    directory is refused without being read (a FIFO would block the service forever, a
    device could stream without end); O_NONBLOCK keeps a file swapped for a FIFO after the
    check from blocking the open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SecretUnavailable(f"{what}: cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretUnavailable(f"{what}: {path} is not a regular file; give a file that holds the secret")
        if info.st_size > SECRET_FILE_LIMIT:
            raise SecretUnavailable(f"{what}: {path} is {info.st_size} bytes; a secret file holds at most "
                                    f"{SECRET_FILE_LIMIT // 1024} KiB")
        data = os.read(fd, SECRET_FILE_LIMIT + 1)
    except OSError as exc:
        raise SecretUnavailable(f"{what}: cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > SECRET_FILE_LIMIT:  # it grew after the check
        raise SecretUnavailable(f"{what}: {path} holds more than {SECRET_FILE_LIMIT // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailable(f"{what}: {path} is not UTF-8 text") from None
