"""`{file: PATH}` secrets are read safely: a FIFO, a device or a directory is refused
without blocking, a huge file without being read; a regular file (or a link to one) is
read and stripped."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pbxctl.site.model import SecretRef
from pbxctl.site.secrets import SECRET_FILE_LIMIT, SecretUnavailable, resolve_secret


def resolve_within(path, seconds: float = 3.0) -> str:
    """resolve_secret in a thread: a read that blocks fails the test instead of hanging it."""
    result: dict = {}

    def run():
        try:
            result["value"] = resolve_secret(SecretRef(file=str(path)), "pbx.asterisk.ami.secret", path.parent)
        except SecretUnavailable as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"reading {path} blocked for {seconds} s"
    assert time.monotonic() - started < seconds
    return result.get("value") or result["error"]


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "ami.secret"
    os.mkfifo(fifo)
    assert resolve_within(fifo) == f"pbx.asterisk.ami.secret: {fifo} is not a regular file; give a file that holds the secret"


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom"])
def test_an_endless_device_is_refused(path, tmp_path):
    link = tmp_path / "secret"
    link.symlink_to(path)
    assert "is not a regular file" in resolve_within(link)


def test_a_directory_is_refused(tmp_path):
    assert "is not a regular file" in resolve_within(tmp_path)


def test_a_huge_file_is_refused_unread(tmp_path):
    big = tmp_path / "secret"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024 ** 3)  # sparse: 2 GiB that would exhaust memory if read
    assert resolve_within(big) == (f"pbx.asterisk.ami.secret: {big} is {2 * 1024 ** 3} bytes; "
                                   f"a secret file holds at most {SECRET_FILE_LIMIT // 1024} KiB")


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path):
    real = tmp_path / "real.secret"
    real.write_text("s3cret-value\n")
    link = tmp_path / "link.secret"
    link.symlink_to(real)
    assert resolve_within(real) == "s3cret-value"
    assert resolve_within(link) == "s3cret-value"


def test_not_utf8_is_named(tmp_path):
    bad = tmp_path / "secret"
    bad.write_bytes(b"\xff\xfe\x00")
    assert resolve_within(bad) == f"pbx.asterisk.ami.secret: {bad} is not UTF-8 text"
