"""Secrets resolved by the process are scrubbed from its log lines and CLI errors, even
when a peer's answer quotes them back."""

from __future__ import annotations

import io
import logging

import structlog

from pbxctl.site.model import SecretRef
from pbxctl.site.secrets import REDACTED, redact, resolve_secret
from pbxctl.service.logs import configure_logging


def test_resolved_secrets_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("PBXCTL_TEST_REDACT", "env-secret-3kq")
    (tmp_path / "s").write_text("file-secret-9zp\n")
    resolve_secret(SecretRef(env="PBXCTL_TEST_REDACT"), "x", tmp_path)
    resolve_secret(SecretRef(file="s"), "x", tmp_path)
    resolve_secret("literal-secret-1ab", "x", tmp_path)
    resolve_secret("12345", "x", tmp_path)  # too short to redact: it would blank out numbers
    text = "ESL said -ERR (auth env-secret-3kq) file-secret-9zp literal-secret-1ab queue 12345"
    assert redact(text) == f"ESL said -ERR (auth {REDACTED}) {REDACTED} {REDACTED} queue 12345"


def test_log_lines_are_redacted(monkeypatch):
    stream = io.StringIO()
    resolve_secret("log-secret-77Hx", "x", None)
    configure_logging("json")
    handler = logging.getLogger().handlers[0]
    handler.stream = stream
    try:
        structlog.get_logger("pbxctl.test").warning("delivery_failed", error="535 no, not with log-secret-77Hx",
                                                    targets=["hook log-secret-77Hx"])
        logging.getLogger("aiohttp.test").warning("library says log-secret-77Hx")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = []
    out = stream.getvalue()
    assert "log-secret-77Hx" not in out
    assert out.count(REDACTED) == 3, out
