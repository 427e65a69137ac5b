"""Deliver an SLA alert or recovery to every target, concurrently, each time-boxed.

`deliver` never raises (except when its caller cancels it): a dead SMTP relay must not
keep the webhook or the SMS gateway from hearing about a queue in trouble, and must not
take the controller down. Each failure comes back as a `DeliveryResult` whose error
names the target, and is logged. `deliver` logs the event itself once ("sla_alert" /
"sla_recovery"), so call it exactly once per event.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Iterable

import structlog

from pbxctl.alerts.channels import CommandTarget, EmailTarget, Target, WebhookTarget
from pbxctl.domain.sla_rules import AlertEvent

log = structlog.get_logger("pbxctl.alerts")


@dataclass
class DeliveryResult:
    target: Target
    ok: bool
    error: str | None = None  # "webhook https://host/path: HTTP 500"


class DeliveryError(Exception):
    """A target answered, but not with success; the text says how."""


def event_payload(event: AlertEvent) -> dict[str, Any]:
    """The event as JSON for webhooks and commands (times in ISO 8601 with offset)."""
    return {
        "kind": event.kind,
        "rule": event.rule,
        "queue": event.queue,
        "value": event.value,
        "threshold": event.threshold,
        "since": event.since.isoformat(),
        "at": event.at.isoformat(),
        "message": event.message,
    }


def email_subject(event: AlertEvent) -> str:
    return f"[pbxctl] {'ALERT' if event.kind == 'alert' else 'OK'}: {event.message}"


def email_body(event: AlertEvent) -> str:
    threshold = "-" if event.threshold is None else str(event.threshold)
    return (
        f"{event.message}\n\n"
        f"Event:     {event.kind}\n"
        f"Queue:     {event.queue}\n"
        f"Rule:      {event.rule}\n"
        f"Value:     {event.value}\n"
        f"Threshold: {threshold}\n"
        f"Since:     {event.since.isoformat()}\n"
        f"At:        {event.at.isoformat()}\n\n"
        "-- \nsent by pbxctl\n"
    )


async def deliver(event: AlertEvent, targets: Iterable[Target]) -> list[DeliveryResult]:
    targets = list(targets)
    log_event(event, targets)
    return list(await asyncio.gather(*(_deliver_one(event, target) for target in targets)))


def log_event(event: AlertEvent, targets: list[Target]) -> None:
    fields = event_payload(event)
    fields.pop("kind")
    fields["targets"] = [_label(t) for t in targets]
    if event.kind == "alert":
        log.warning("sla_alert", **fields)
    else:
        log.info("sla_recovery", **fields)


async def _deliver_one(event: AlertEvent, target: Target) -> DeliveryResult:
    label = _label(target)
    timeout = float(target.timeout or 0)
    try:
        if isinstance(target, EmailTarget):
            # smtplib and urllib block; their own socket timeouts end the thread later,
            # wait_for ends our wait now.
            await asyncio.wait_for(asyncio.to_thread(_send_email, event, target), timeout)
        elif isinstance(target, WebhookTarget):
            await asyncio.wait_for(asyncio.to_thread(_post_webhook, event, target), timeout)
        elif isinstance(target, CommandTarget):
            await _run_command(event, target)
        else:
            raise DeliveryError(f"unknown target type {type(target).__name__}")
    except DeliveryError as exc:
        error = f"{label}: {exc}"
    except TimeoutError:  # asyncio's and socket's timeouts are this class since 3.11
        error = f"{label}: timed out after {timeout:g} s"
    except Exception as exc:
        error = f"{label}: {describe(exc)}"
    else:
        log.info("sla_delivered", event_kind=event.kind, rule=event.rule, queue=event.queue, target=label)
        return DeliveryResult(target, True)
    log.warning("sla_delivery_failed", event_kind=event.kind, rule=event.rule, queue=event.queue, target=label, error=error)
    return DeliveryResult(target, False, error)


def _label(target: object) -> str:
    try:
        return target.label()  # type: ignore[attr-defined]
    except Exception:
        return type(target).__name__


def describe(exc: BaseException) -> str:
    """A short, human reason: 'connection refused', 'SMTP 535 auth failed'."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(f"{to} ({code})" for to, (code, _) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code} {text}".strip()
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return describe(exc.reason)
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if not exc.filename else f"{exc.strerror}: {exc.filename}"
    return f"{type(exc).__name__}: {exc}"


# --- e-mail -------------------------------------------------------------------------------


def _send_email(event: AlertEvent, target: EmailTarget) -> None:
    if not target.to:
        raise DeliveryError("no recipients")
    msg = EmailMessage()
    msg["Subject"] = email_subject(event)
    msg["From"] = target.sender
    msg["To"] = ", ".join(target.to)
    msg["Date"] = format_datetime(event.at)
    # A fixed domain: make_msgid() would otherwise ask DNS for this host's FQDN.
    msg["Message-ID"] = make_msgid(domain="pbxctl.invalid")
    msg.set_content(email_body(event))
    send_message(msg, target)


def send_message(msg: EmailMessage, target: EmailTarget) -> None:
    """One SMTP conversation (STARTTLS and login as the target says); raises on any refusal."""
    with smtplib.SMTP(target.host, target.port, timeout=target.timeout) as smtp:
        if target.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if target.username:
            smtp.login(target.username, target.password or "")
        refused = smtp.send_message(msg, from_addr=target.sender, to_addrs=target.to)
    if refused:
        # Some recipients got it, some did not: still a failure, someone may not know.
        raise DeliveryError("recipients refused: " + ", ".join(f"{to} ({code})" for to, (code, _) in refused.items()))


# --- webhook ------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 as a GET without the body: count it as a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_webhook(event: AlertEvent, target: WebhookTarget) -> None:
    post_json(json.dumps(event_payload(event)).encode(), target, "pbxctl-alerts")


def post_json(body: bytes, target: WebhookTarget, agent: str) -> None:
    """POST a JSON body; anything but a 2xx (a redirect too) raises DeliveryError."""
    if not target.url.lower().startswith(("http://", "https://")):
        raise DeliveryError("only http:// and https:// URLs are allowed")
    headers = {"Content-Type": "application/json", "User-Agent": agent, **target.headers}
    request = urllib.request.Request(target.url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=target.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DeliveryError(f"HTTP {exc.code}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


# --- command (e.g. an SMS gateway's CLI) ------------------------------------------------


def command_env(event: AlertEvent) -> dict[str, str]:
    return {
        "PBXCTL_ALERT_KIND": event.kind,
        "PBXCTL_ALERT_QUEUE": event.queue,
        "PBXCTL_ALERT_RULE": event.rule,
        "PBXCTL_ALERT_MESSAGE": event.message,
        "PBXCTL_ALERT_VALUE": str(event.value),
        "PBXCTL_ALERT_THRESHOLD": "" if event.threshold is None else str(event.threshold),
    }


async def _run_command(event: AlertEvent, target: CommandTarget) -> None:
    if not target.argv:
        raise DeliveryError("no command given")
    payload = json.dumps(event_payload(event)).encode()
    # No shell: the argv is run as given, nothing in the event can be interpreted.
    # Own session: on timeout the whole group goes (a script's curl as well as the script).
    proc = await asyncio.create_subprocess_exec(
        *target.argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **command_env(event)},
        start_new_session=True,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(payload), target.timeout)
    except BaseException as exc:  # timeout, or our caller cancelled: leave nothing running
        _kill_group(proc)
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise DeliveryError(f"timed out after {target.timeout:g} s, killed") from None
        raise
    if proc.returncode != 0:
        reason = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] if stderr else []
        raise DeliveryError(reason + (f": {last[0][:200]}" if last else ""))


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
