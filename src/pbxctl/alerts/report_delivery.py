"""Sending a finished report to alert targets: an e-mail with the CSV/XLSX attached, or
the JSON document POSTed to a webhook. Like alert delivery, never raises: each target's
failure comes back as a DeliveryResult and is logged."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import structlog

from pbxctl.alerts.channels import EmailTarget, Target, WebhookTarget
from pbxctl.alerts.delivery import DeliveryError, DeliveryResult, describe, post_json, send_message

log = structlog.get_logger("pbxctl.reports")

MIME = {"csv": ("text", "csv"), "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")}


def report_email(target: EmailTarget, subject: str, body: str, filename: str, attachment: bytes, fmt: str, at) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = target.sender
    msg["To"] = ", ".join(target.to)
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = make_msgid(domain="pbxctl.invalid")
    msg.set_content(body)
    maintype, subtype = MIME[fmt]
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg


async def deliver_report(job: str, doc: dict, attachment: tuple[str, bytes, str], subject: str, body: str,
                         targets: list[Target], at) -> list[DeliveryResult]:
    filename, data, fmt = attachment

    async def one(target: Target) -> DeliveryResult:
        label = target.label()
        try:
            if isinstance(target, EmailTarget):
                msg = report_email(target, subject, body, filename, data, fmt, at)
                await asyncio.wait_for(asyncio.to_thread(send_message, msg, target), target.timeout)
            elif isinstance(target, WebhookTarget):
                payload = json.dumps({"job": job, "report": doc}).encode()
                await asyncio.wait_for(asyncio.to_thread(post_json, payload, target, "pbxctl-reports"), target.timeout)
            else:
                raise DeliveryError("reports go to e-mail and webhook targets only")
        except DeliveryError as exc:
            error = f"{label}: {exc}"
        except TimeoutError:
            error = f"{label}: timed out after {target.timeout:g} s"
        except Exception as exc:
            error = f"{label}: {describe(exc)}"
        else:
            log.info("report_delivered", job=job, target=label)
            return DeliveryResult(target, True)
        log.warning("report_delivery_failed", job=job, target=label, error=error)
        return DeliveryResult(target, False, error)

    return list(await asyncio.gather(*(one(t) for t in targets)))
