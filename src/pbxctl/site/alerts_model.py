"""The `alerts:` section of a site file: where alerts go (targets) and when (SLA rules).

    alerts:
      targets:
        oncall_mail:
          email: {to: [oncall@example.com], host: smtp.example.com, port: 587, starttls: true,
                  username: pbxctl, password: {env: PBXCTL_SMTP_PASSWORD}, sender: pbxctl@example.com}
        ops_hook:
          webhook: {url: {env: PBXCTL_OPS_HOOK_URL}, headers: {Authorization: {file: ops.token}}}
          timeout: 5
        sms:
          command: [/usr/local/bin/send-sms, "+4790000000"]
      rules:
        - queue: support
          when: {longest_wait_over: 120}
          for: 2m
          cooldown: 15m
          hours: office
          during: [open]
          notify: [oncall_mail, sms]

Checks that need the rest of the site (known queue, hours and categories, targets named
by `notify`, unique rule names) belong in pbxctl.site.checks, like the other references.
"""

from __future__ import annotations

import re
from typing import Annotated, Callable, Union

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, model_validator

from pbxctl.alerts.channels import CommandTarget, EmailTarget, Target, WebhookTarget
from pbxctl.domain.opening_hours import OpeningHours
from pbxctl.domain.sla_rules import Kind, SlaRule, active_during
from pbxctl.site.model import Model, Port, Secret, SecretRef
from pbxctl.site.values import Host, Ident, Text

# --- value types --------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?")


def _parse_duration(value: object) -> object:
    """120, "120", "90s", "2m", "2 min", "1h30m" -> seconds. Anything else is left for
    the int validator to reject with its usual message."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    m = _DURATION.fullmatch(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"{value!r} is not a duration (seconds, or like 90s, 2m, 1h30m)")
    h, mins, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mins * 60 + s


# Rule timings: whole seconds, up to a day.
Duration = Annotated[int, BeforeValidator(_parse_duration), Field(ge=0, le=86400)]
Timeout = Annotated[int, Field(ge=1, le=300)]


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _regex(regex: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


# No whitespace at all: a newline in an address would add mail headers.
EmailAddress = Annotated[
    str, BeforeValidator(_strip), AfterValidator(_regex(r"[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9.-]+", "an e-mail address"))
]
HttpUrl = Annotated[str, BeforeValidator(_strip), AfterValidator(_regex(r"https?://[^\s]+", "an http:// or https:// URL"))]
HeaderName = Annotated[str, AfterValidator(_regex(r"[A-Za-z0-9-]{1,64}", "an HTTP header name"))]
HeaderValue = Annotated[str, AfterValidator(_regex(r"[^\r\n]*", "a single-line header value"))]
# Arguments go to exec directly (no shell), so only NUL and newlines are refused.
Argument = Annotated[str, AfterValidator(_regex(r"[^\x00\r\n]+", "a command argument (one line, not empty)"))]


def _secret_or_text(value: object) -> str:
    # Pick the branch from the input's shape, so a bad URL gets one message about the
    # URL rather than a second one saying it is not a {env: ...} mapping either.
    return "ref" if isinstance(value, dict) else "text"


# The URL of a chat webhook is often the secret itself (Slack, Teams): it may come from env/file.
UrlSecret = Annotated[
    Union[Annotated[SecretRef, Tag("ref")], Annotated[HttpUrl, Tag("text")]], Discriminator(_secret_or_text)
]
HeaderSecret = Annotated[
    Union[Annotated[SecretRef, Tag("ref")], Annotated[HeaderValue, Tag("text")]], Discriminator(_secret_or_text)
]

# Resolves a secret; the caller binds the site's directory: resolve_secret(s, what, base_dir).
Resolve = Callable[[Secret, str], str]


# --- targets --------------------------------------------------------------------------------


class TargetNotConfigured(ValueError):
    """An alert target with no way of delivery (validation refuses one; built by hand, it says so)."""


class EmailChannel(Model):
    to: Annotated[list[EmailAddress], Field(min_length=1)]
    host: Host = "127.0.0.1"
    port: Port = 25
    starttls: bool = False
    username: Text | None = None
    password: Secret | None = None
    sender: EmailAddress = "pbxctl@localhost"

    @model_validator(mode="after")
    def _login(self) -> "EmailChannel":
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password' to log in, or neither")
        return self


class WebhookChannel(Model):
    url: UrlSecret
    headers: dict[HeaderName, HeaderSecret] = {}


class AlertTarget(Model):
    """Exactly one of email, webhook, command; `timeout` bounds the whole delivery."""

    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    # argv of a program run without a shell; the event comes as JSON on stdin and in
    # PBXCTL_ALERT_KIND/QUEUE/RULE/MESSAGE/VALUE/THRESHOLD.
    command: Annotated[list[Argument], Field(min_length=1)] | None = None
    timeout: Timeout = 10

    @model_validator(mode="after")
    def _one_channel(self) -> "AlertTarget":
        given = [k for k in ("email", "webhook", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'email', 'webhook' or 'command'" + (f" (not {' and '.join(given)})" if given else "")
            )
        return self

    def channel(self, name: str, resolve: Resolve) -> Target:
        """The delivery target, secrets read through `resolve` (may raise SecretUnavailable)."""
        what = f"alerts.targets.{name}"
        if self.email is not None:
            e = self.email
            password = resolve(e.password, f"{what}.email.password") if e.password is not None else None
            return EmailTarget(list(e.to), e.host, e.port, e.starttls, e.username, password, e.sender, self.timeout, name)
        if self.webhook is not None:
            w = self.webhook
            url = resolve(w.url, f"{what}.webhook.url")
            headers = {k: resolve(v, f"{what}.webhook.headers.{k}") for k, v in w.headers.items()}
            return WebhookTarget(url, headers, self.timeout, name)
        if self.command is not None:
            return CommandTarget(list(self.command), self.timeout, name)
        raise TargetNotConfigured(f"{what}: none of email, webhook, command is set")


# --- rules ------------------------------------------------------------------------------------


class RuleCondition(Model):
    """Exactly one condition: `{longest_wait_over: 120}`, `{waiting_over: 5}`,
    `{logged_in_under: 2}` or `{none_logged_in: true}`."""

    longest_wait_over: Duration | None = None  # seconds, or 2m
    waiting_over: Annotated[int, Field(ge=0, le=100000)] | None = None
    logged_in_under: Annotated[int, Field(ge=1, le=100000)] | None = None
    none_logged_in: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "RuleCondition":
        if self.none_logged_in is False:
            raise ValueError("none_logged_in: false means no rule; write true or drop the rule")
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of longest_wait_over, waiting_over, logged_in_under, none_logged_in"
                + (f" (not {' and '.join(given)})" if given else "")
            )
        return self

    @property
    def kind(self) -> Kind:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)  # type: ignore[return-value]

    @property
    def threshold(self) -> int | None:
        return None if self.kind == "none_logged_in" else getattr(self, self.kind)


class AlertRule(Model):
    # Default name: QUEUE_KIND (e.g. support_longest_wait_over); give one when a queue
    # has two rules of the same kind.
    name: Ident | None = None
    queue: Ident
    when: RuleCondition
    # How long the condition must hold before the alert fires ("for" is a Python keyword).
    for_: Duration = Field(default=0, alias="for")
    cooldown: Duration = 900
    # Active only while `hours` says one of `during`; neither: always.
    hours: Ident | None = None
    during: list[Ident] = []
    notify: Annotated[list[Ident], Field(min_length=1)]

    @model_validator(mode="after")
    def _hours(self) -> "AlertRule":
        if self.hours is not None and not self.during:
            raise ValueError(f"'hours: {self.hours}' needs 'during' (the categories the rule is active in, e.g. [open])")
        if self.hours is None and self.during:
            raise ValueError("'during' needs 'hours' (the hours set its categories come from)")
        return self

    @property
    def rule_name(self) -> str:
        return self.name or f"{self.queue}_{self.when.kind}"

    def sla_rule(self, hours: dict[str, OpeningHours]) -> SlaRule:
        """The domain rule; `hours` are the site's compiled hours (LoadedSite.hours)."""
        active = active_during(hours[self.hours], self.during) if self.hours is not None else None
        return SlaRule(self.rule_name, self.queue, self.when.kind, self.when.threshold, self.for_, self.cooldown, active)


class Alerts(Model):
    targets: dict[Ident, AlertTarget] = {}
    rules: list[AlertRule] = []
