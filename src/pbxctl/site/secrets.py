"""Resolve secrets given as {env: NAME}, {file: PATH} or (warned about) literally."""

from __future__ import annotations

import os
from pathlib import Path

from pbxctl.site.model import Secret


class SecretUnavailable(Exception):
    pass


def resolve_secret(secret: Secret | None, what: str, base_dir: Path) -> str:
    if secret is None:
        raise SecretUnavailable(f"no {what} configured in the site file")
    if isinstance(secret, str):
        return secret
    if secret.env is not None:
        value = os.environ.get(secret.env)
        if not value:
            raise SecretUnavailable(f"{what}: environment variable {secret.env} is not set")
        return value
    path = (base_dir / secret.file).resolve()  # type: ignore[operator]
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretUnavailable(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise SecretUnavailable(f"{what}: {path} is empty")
    return value
