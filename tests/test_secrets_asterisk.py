"""No secret leaves pbxctl: the services run with known secrets (AMI secret, API token,
SMTP password, webhook URL and header, a supervisor's PIN, the ESL password) against the
real sandbox Asterisk, every path that could show one is driven (an SLA alert whose
e-mail is refused by an SMTP server demanding a login and whose webhook answers 500,
echoing what it was sent; a supervisor code with a wrong PIN then the right one; API
requests with a wrong token; the CLI's commands and errors), and then every log line,
CLI output and error message, /metrics, API answer and generated file is searched for
each secret."""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from helpers.controller_harness import PBXCTL, Service, controller_site, free_port
from helpers.queue_calls import TimedRecorder
from helpers.site_files import REPO

pytestmark = [pytest.mark.asterisk,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

TOKEN = "api-tok-Q7mZ2x9w"
SMTP_PASSWORD = "smtp-pw-Lk3vR8"
HOOK_PATH = "hook-path-Vb61Ns"
HOOK_KEY = "hook-key-Ty5uP0"
HOOK_HEADER = "hook-header-Gh4jK2"
PIN = "483921"
ESL_PASSWORD = "esl-pw-Wq8eD1"


class EchoingHook(http.server.BaseHTTPRequestHandler):
    """A webhook that fails with 500 and echoes everything it was sent: if pbxctl shows
    the answer's body, the secrets show with it."""

    def do_POST(self):
        body = f"no thanks; you sent {self.path} {dict(self.headers)}".encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class RefusingAuth:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 no, not with {auth_data!r}")


@pytest.fixture
def secret_site(example_site, tmp_path):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoingHook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    smtp = Controller(object(), hostname="127.0.0.1", port=free_port(), authenticator=RefusingAuth(),
                      auth_required=True, auth_require_tls=False)
    smtp.start()
    site = controller_site(example_site, tmp_path, 5038)
    text = site.read_text()
    http_port = int(text.rsplit("port: ", 1)[1].split("}")[0])
    text = text.replace(f"service: {{host: 127.0.0.1, port: {http_port}}}",
                        f"service: {{host: 127.0.0.1, port: {http_port}, token: {{env: PBXCTL_TEST_API_TOKEN}}}}")
    text += f"""
alerts:
  targets:
    mail:
      email: {{to: [oncall@example.com], host: 127.0.0.1, port: {smtp.port}, username: pbxctl,
              password: {{env: PBXCTL_TEST_SMTP_PASSWORD}}}}
      timeout: 3
    hook:
      webhook:
        url: {{env: PBXCTL_TEST_HOOK_URL}}
        headers: {{X-Api-Key: {{file: {tmp_path / 'hook.header'}}}}}
      timeout: 3
  rules:
    - {{queue: support, when: {{logged_in_under: 99}}, notify: [mail, hook], name: support_short}}
"""
    (tmp_path / "hook.header").write_text(HOOK_HEADER + "\n")
    site.write_text(text)
    env = {
        "PBXCTL_TEST_API_TOKEN": TOKEN,
        "PBXCTL_TEST_SMTP_PASSWORD": SMTP_PASSWORD,
        "PBXCTL_TEST_HOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/{HOOK_PATH}?key={HOOK_KEY}",
        "PBXCTL_PIN_PER": PIN,
        "PBXCTL_ESL_PASSWORD": ESL_PASSWORD,
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    applied = subprocess.run([str(PBXCTL), "apply", "-s", str(site)], capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    yield site, f"http://127.0.0.1:{http_port}", applied.stdout + applied.stderr
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    smtp.stop()
    hook.shutdown()


def refusing_esl() -> int:
    """An Event Socket that asks for the password, refuses it and echoes it back: if pbxctl
    shows FreeSWITCH's answer, the password shows with it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"Content-Type: auth/request\n\n")
            sent = conn.recv(4096).decode(errors="replace").strip()
            conn.sendall(f"Content-Type: command/reply\nReply-Text: -ERR invalid ({sent})\n\n".encode())
            time.sleep(0.5)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def fetch(url: str, token: str | None) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.read().decode()
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"


async def supervisor_tries_pins(secret: str) -> list[dict]:
    """Per (1101, PIN required) dials *222 + 1003: a wrong PIN, then the right one."""
    async with TimedRecorder(secret) as rec:
        await rec.send({"Action": "Originate", "Channel": "Local/*2221003@pbxctl-features", "Application": "Wait",
                        "Data": "20", "CallerID": "Per <1101>", "Async": "true"})
        reads = 0
        for digits in ("111111", PIN):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                found = [e for e in rec.events if e.get("Event") == "Newexten" and e.get("Application") == "Read"
                         and e.get("Context") == "pbxctl-supervise-code"]
                if len(found) > reads:
                    channel = found[-1]["Channel"]
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the supervisor code never asked for the PIN")
            reads += 1
            await asyncio.sleep(0.5)
            for digit in digits + "#":
                await rec.send({"Action": "PlayDTMF", "Channel": channel, "Digit": digit, "Duration": "100", "Receive": "true"})
                await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        await rec.send({"Action": "Hangup", "Channel": channel})
        return [e for e in rec.events if e.get("Variable") == "PBXCTL_RESULT"]


def test_no_secret_appears_anywhere(secret_site, ami_secret, sandbox, tmp_path):
    site, http, apply_output = secret_site
    seen: dict[str, str] = {"apply": apply_output}
    svc = Service(site, token=TOKEN)
    try:
        svc.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "sla_delivery_failed" not in svc.tail(400):
            time.sleep(0.5)
        results = asyncio.run(supervisor_tries_pins(ami_secret))
        assert [e["Value"] for e in results if e["Value"]][:2] == ["pin", "wrong_pin"], results
        seen["metrics"] = fetch(f"{http}/metrics", TOKEN)
        seen["status"] = fetch(f"{http}/api/status", TOKEN)
        seen["calls"] = fetch(f"{http}/api/calls", TOKEN)
        seen["refused"] = fetch(f"{http}/api/status", "a-wrong-token-1")
        seen["unauthenticated"] = fetch(f"{http}/metrics", None)
        for args in (["status"], ["calls", "--json"], ["validate"], ["doctor"], ["diff"]):
            done = subprocess.run([str(PBXCTL), *args, "-s", str(site)], capture_output=True, text=True, timeout=60)
            seen[" ".join(args)] = done.stdout + done.stderr
        # An AMI login refused, and FreeSWITCH's ESL out of reach: the errors name no secret.
        wrong = site.with_name("wrong.yaml")
        wrong.write_text(site.read_text().replace("port: 5038", f"port: {free_port()}"))
        done = subprocess.run([str(PBXCTL), "apply", "-s", str(wrong)], capture_output=True, text=True, timeout=60)
        seen["apply unreachable"] = done.stdout + done.stderr
        fs = tmp_path / "fs"
        shutil.copytree(REPO / "tests" / "fixtures" / "freeswitch_conf", fs)
        shutil.copy(REPO / "conf" / "postcodes.csv", fs)
        fs_site = fs / "fs.yaml"
        fs_site.write_text((REPO / "conf" / "example-freeswitch.yaml").read_text().replace(
            "esl: {host: 127.0.0.1, port: 8021", f"esl: {{host: 127.0.0.1, port: {refusing_esl()}"))
        done = subprocess.run([str(PBXCTL), "apply", "-s", str(fs_site), "--config-dir", str(fs)],
                              capture_output=True, text=True, timeout=60)
        assert "Event Socket" in done.stdout + done.stderr, done.stdout + done.stderr
        seen["freeswitch apply"] = done.stdout + done.stderr
    finally:
        svc.stop()
    seen["service log"] = svc.log_path.read_text(errors="replace")
    for path in sorted(sandbox["config_dir"].glob("*_pbxctl.conf")):
        seen[path.name] = path.read_text()
    # The runs did reach the paths that could leak.
    log = seen["service log"]
    assert "sla_delivery_failed" in log and "target=" in log, log[-3000:]
    assert "api_request_refused" in log
    assert "supervisor_code" in log
    assert seen["refused"].startswith("401") and seen["unauthenticated"].startswith("401")
    assert "pbxctl_ivr_decisions_total" in seen["metrics"]
    secrets = {"AMI secret": ami_secret, "API token": TOKEN, "SMTP password": SMTP_PASSWORD,
               "webhook URL path": HOOK_PATH, "webhook URL key": HOOK_KEY, "webhook header": HOOK_HEADER,
               "supervisor PIN": PIN, "ESL password": ESL_PASSWORD, "wrong token": "a-wrong-token-1"}
    leaks = [f"{what} in {where}: ...{text[max(0, text.find(value) - 120):text.find(value) + 40]!r}"
             for what, value in secrets.items() for where, text in seen.items() if value in text]
    assert leaks == []
