"""Alert delivery against real local endpoints: an aiosmtpd sink, an http.server, commands."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import http.server
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pbxctl.alerts import CommandTarget, DeliveryResult, EmailTarget, WebhookTarget, deliver
from pbxctl.domain.sla_rules import AlertEvent

UTC = dt.timezone.utc
EVENT = AlertEvent(
    "alert",
    "support_wait",
    "support",
    312,
    120,
    dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 2, 9, 5, tzinfo=UTC),
    "support: longest wait 312 s > 120 s for 5 min",
)


def run(targets, event: AlertEvent = EVENT) -> list[DeliveryResult]:
    return asyncio.run(asyncio.wait_for(deliver(event, targets), 30))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- SMTP sink -----------------------------------------------------------------------------


class Sink:
    """Accepts everything except recipients at nobody@; keeps each message."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"pbxctl", b"s3cret")
    # handled=False: aiosmtpd then answers 535 itself (True would send nothing at all)
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_sink():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), authenticator=authenticator, auth_require_tls=False)
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


def test_email_is_sent_through_a_real_smtp_conversation(smtp_sink):
    target = EmailTarget(["oncall@example.com", "lead@example.com"], "127.0.0.1", smtp_sink.port, sender="pbxctl@example.com", timeout=5)
    [result] = run([target])
    assert result == DeliveryResult(target, True, None)
    [envelope] = smtp_sink.envelopes
    assert envelope.mail_from == "pbxctl@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert msg["Subject"] == "[pbxctl] ALERT: support: longest wait 312 s > 120 s for 5 min"
    assert msg["To"] == "oncall@example.com, lead@example.com"
    body = msg.get_content().replace("\r\n", "\n")
    assert body.startswith("support: longest wait 312 s > 120 s for 5 min\n")
    for line in ("Queue:     support", "Rule:      support_wait", "Value:     312", "Threshold: 120", "Since:     2026-03-02T09:00:00+00:00"):
        assert line in body


def test_email_recovery_subject_and_login(smtp_sink):
    recovery = AlertEvent("recovery", "empty", "support", 2, None, EVENT.since, EVENT.at, "support: recovered after 5 min (now 2 agents logged in)")
    target = EmailTarget(["oncall@example.com"], "127.0.0.1", smtp_sink.port, username="pbxctl", password="s3cret", timeout=5)
    assert run([target], recovery)[0].ok
    msg = email.message_from_bytes(smtp_sink.envelopes[0].original_content, policy=email.policy.default)
    assert msg["Subject"] == "[pbxctl] OK: support: recovered after 5 min (now 2 agents logged in)"
    assert "Threshold: -" in msg.get_content()


def test_email_failures_are_results(smtp_sink):
    wrong_password = EmailTarget(["oncall@example.com"], "127.0.0.1", smtp_sink.port, username="pbxctl", password="nope", timeout=5)
    partly_refused = EmailTarget(["oncall@example.com", "nobody@example.com"], "127.0.0.1", smtp_sink.port, timeout=5)
    # asking for STARTTLS from a server that offers none must fail, not fall back to plain text
    no_tls = EmailTarget(["oncall@example.com"], "127.0.0.1", smtp_sink.port, starttls=True, timeout=5)
    nobody_listening = EmailTarget(["oncall@example.com"], "127.0.0.1", free_port(), timeout=5)
    results = run([wrong_password, partly_refused, no_tls, nobody_listening])
    assert [r.ok for r in results] == [False, False, False, False]
    label = f"email oncall@example.com via 127.0.0.1:{smtp_sink.port}"
    assert results[0].error.startswith(f"{label}: SMTP 535")
    assert results[1].error == f"email oncall@example.com,nobody@example.com via 127.0.0.1:{smtp_sink.port}: recipients refused: nobody@example.com (550)"
    assert results[2].error.startswith(f"{label}: ") and "STARTTLS" in results[2].error
    assert results[3].error.endswith(": connection refused")
    assert "nope" not in repr(wrong_password)
    # the partly refused message still reached the one good recipient
    assert [e.rcpt_tos for e in smtp_sink.envelopes] == [["oncall@example.com"]]


# --- webhook -------------------------------------------------------------------------------


class HookServer:
    """A local HTTP server answering every POST with `status` after `delay` seconds."""

    def __init__(self, status: int = 204, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers), body))
                time.sleep(outer.delay)
                self.send_response(outer.status)
                if outer.status in (301, 302):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_server():
    servers: list[HookServer] = []

    def make(status: int = 204, delay: float = 0.0) -> HookServer:
        servers.append(HookServer(status, delay))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_webhook_posts_the_event_as_json(hook_server):
    server = hook_server(200)
    target = WebhookTarget(server.url + "?token=abc", {"Authorization": "Bearer xyz"}, timeout=5)
    assert run([target]) == [DeliveryResult(target, True, None)]
    [(path, headers, body)] = server.requests
    assert path == "/hook?token=abc"
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer xyz"
    assert json.loads(body) == {
        "kind": "alert",
        "rule": "support_wait",
        "queue": "support",
        "value": 312,
        "threshold": 120,
        "since": "2026-03-02T09:00:00+00:00",
        "at": "2026-03-02T09:05:00+00:00",
        "message": "support: longest wait 312 s > 120 s for 5 min",
    }
    assert "xyz" not in repr(target)


@pytest.mark.parametrize("status", [500, 404, 302])
def test_webhook_non_2xx_is_a_failure(hook_server, status):
    server = hook_server(status)
    [result] = run([WebhookTarget(server.url + "?token=secret", timeout=5)])
    # the path and the query string (tokens) stay out of the message
    assert (result.ok, result.error) == (False, f"webhook {server.url.removesuffix('/hook')}/…: HTTP {status}")
    assert len(server.requests) == 1  # a redirect is not followed


def test_webhook_timeout_and_refusal(hook_server):
    slow = hook_server(200, delay=3)
    closed = f"http://127.0.0.1:{free_port()}/hook"
    started = time.monotonic()
    results = run([WebhookTarget(slow.url, timeout=0.5), WebhookTarget(closed, timeout=5), WebhookTarget("file:///etc/passwd")])
    assert time.monotonic() - started < 2.5
    assert [r.error for r in results] == [
        f"webhook {slow.url.removesuffix('/hook')}/…: timed out after 0.5 s",
        f"webhook {closed.removesuffix('/hook')}/…: connection refused",
        "webhook file:///…: only http:// and https:// URLs are allowed",
    ]


# --- command -------------------------------------------------------------------------------


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_command_gets_the_event_on_stdin_and_in_env(tmp_path):
    out = tmp_path / "out.json"
    recorder = script(
        tmp_path,
        "record",
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('PBXCTL_ALERT_')}\n"
        "json.dump({'argv': sys.argv[1:], 'stdin': json.load(sys.stdin), 'env': env}, open(sys.argv[1], 'w'))\n",
    )
    # an argument with shell syntax in it stays one literal argument: no shell
    target = CommandTarget([str(recorder), str(out), "+47 900 00 000; rm -rf /"], timeout=10)
    assert run([target]) == [DeliveryResult(target, True, None)]
    got = json.loads(out.read_text())
    assert got["argv"] == [str(out), "+47 900 00 000; rm -rf /"]
    assert got["stdin"]["message"] == EVENT.message and got["stdin"]["value"] == 312
    assert got["env"] == {
        "PBXCTL_ALERT_KIND": "alert",
        "PBXCTL_ALERT_QUEUE": "support",
        "PBXCTL_ALERT_RULE": "support_wait",
        "PBXCTL_ALERT_MESSAGE": "support: longest wait 312 s > 120 s for 5 min",
        "PBXCTL_ALERT_VALUE": "312",
        "PBXCTL_ALERT_THRESHOLD": "120",
    }


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path):
    pid_file = tmp_path / "sleep.pid"
    sleeper = script(tmp_path, "sleeper", f"#!/bin/sh\nsleep 30 &\necho $! > {pid_file}\nwait\n")
    started = time.monotonic()
    [result] = run([CommandTarget([str(sleeper)], timeout=0.5)])
    assert time.monotonic() - started < 5
    assert (result.ok, result.error) == (False, f"command {sleeper}: timed out after 0.5 s, killed")
    assert _gone(int(pid_file.read_text()))


def _gone(pid: int) -> bool:
    """True once `pid` no longer runs (absent, or a zombie awaiting its new parent)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_command_failures_are_reported(tmp_path):
    missing = tmp_path / "no-such-gateway"
    failing = script(tmp_path, "failing", "#!/bin/sh\necho 'gateway says: quota exceeded' >&2\nexit 3\n")
    results = run([CommandTarget([str(missing)]), CommandTarget([str(failing)]), CommandTarget([])])
    assert [r.ok for r in results] == [False, False, False]
    assert results[0].error.startswith(f"command {missing}: No such file or directory")
    assert results[1].error == f"command {failing}: exit status 3: gateway says: quota exceeded"
    assert results[2].error == "command (empty): no command given"


# --- together ------------------------------------------------------------------------------


def test_one_failing_target_does_not_stop_the_others(smtp_sink, hook_server, tmp_path):
    good_hook, bad_hook = hook_server(204), hook_server(500)
    marker = tmp_path / "sms.sent"
    sms = script(tmp_path, "sms", f"#!/bin/sh\ncat > {marker}\n")
    sleeper = script(tmp_path, "sleeper", "#!/bin/sh\nexec sleep 30\n")
    targets = [
        CommandTarget([str(tmp_path / "missing")]),
        WebhookTarget(bad_hook.url, timeout=5),
        CommandTarget([str(sleeper)], timeout=1),
        EmailTarget(["oncall@example.com"], "127.0.0.1", smtp_sink.port, timeout=5),
        WebhookTarget(good_hook.url, timeout=5),
        CommandTarget([str(sms)], timeout=5),
    ]
    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        results = run(targets)
        elapsed = time.monotonic() - started
    assert [r.ok for r in results] == [False, False, False, True, True, True]
    assert [r.target for r in results] == targets
    assert elapsed < 4  # concurrent: the slow one does not hold up the rest
    assert len(smtp_sink.envelopes) == 1 and len(good_hook.requests) == 1
    assert json.loads(marker.read_text())["rule"] == "support_wait"

    alerts = [entry for entry in logs if entry["event"] == "sla_alert"]
    assert len(alerts) == 1
    assert alerts[0]["log_level"] == "warning"
    assert (alerts[0]["queue"], alerts[0]["rule"], alerts[0]["value"], alerts[0]["threshold"]) == ("support", "support_wait", 312, 120)
    assert alerts[0]["message"] == EVENT.message
    failed = [entry["error"] for entry in logs if entry["event"] == "sla_delivery_failed"]
    assert failed == [r.error for r in results if not r.ok]


def test_recovery_is_logged_once_even_without_targets():
    recovery = AlertEvent("recovery", "support_wait", "support", 10, 120, EVENT.since, EVENT.at, "support: recovered after 5 min (now longest wait 10 s)")
    with structlog.testing.capture_logs() as logs:
        assert run([], recovery) == []
    assert [(e["event"], e["log_level"]) for e in logs] == [("sla_recovery", "info")]
