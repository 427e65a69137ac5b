"""Where alerts go: e-mail, webhook, command. Resolved values (secrets already read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_TIMEOUT = 10.0  # seconds; every delivery is time-boxed, one slow target must not stall the rest


@dataclass
class EmailTarget:
    to: list[str]
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "pbxctl@localhost"
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""  # the target's name in the site file, for logs

    def label(self) -> str:
        return f"email {','.join(self.to)} via {self.host}:{self.port}"


@dataclass
class WebhookTarget:
    url: str
    # Often carry tokens (Authorization): kept out of repr and logs.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""

    def label(self) -> str:
        # Scheme and host only in logs and messages: tokens live in the path too (Slack's
        # /services/T…/B…/SECRET, Discord's /webhooks/ID/TOKEN), in the query and user:password@.
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return f"webhook {parts.scheme}://{host}" + ("/…" if parts.path not in ("", "/") else "")


@dataclass
class CommandTarget:
    argv: list[str]
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""

    def label(self) -> str:
        # Only the program: later arguments may hold phone numbers or API keys.
        return f"command {self.argv[0] if self.argv else '(empty)'}"


Target = EmailTarget | WebhookTarget | CommandTarget
