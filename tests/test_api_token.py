"""The HTTP API's token: required beyond loopback, checked on every request when set,
refused requests logged without what they sent; the CLI sends it from the site or the
environment. The real service's wiring (build_services, start_http) on a free port; no
PBX needed (the AMI link simply stays down)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request

import pytest
import structlog

from pbxctl.asterisk.runtime import build_services
from pbxctl.service.api_token import TOKEN_ENV, TokenRequired, api_token, service_token
from pbxctl.service.client import ServiceError, call
from pbxctl.service.http_api import start_http
from pbxctl.site.load import load_site

from helpers.controller_harness import free_port
from helpers.site_files import copy_example

TOKEN = "tok-5b1e9c0d7f3a"


def site_with(tmp_path, service: str):
    tmp_path.mkdir(exist_ok=True)
    site = copy_example(tmp_path)
    text = site.read_text().replace("secret: {file: /var/lib/pbxctl-sandbox/ami.secret}", "secret: not-used-here")
    site.write_text(text + f"\nstorage: {{url: 'sqlite:///{tmp_path / 'books.db'}'}}\nservice: {service}\n")
    return site


def test_beyond_loopback_without_a_token_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    loaded = load_site(site_with(tmp_path, "{host: 0.0.0.0, port: 9464}"))
    with pytest.raises(TokenRequired) as exc:
        service_token(loaded)
    assert "service.host 0.0.0.0 listens beyond loopback" in str(exc.value)
    assert "set service.token" in str(exc.value) and TOKEN_ENV in str(exc.value)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert service_token(loaded) == TOKEN


def test_loopback_needs_none_and_the_site_key_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert service_token(load_site(site_with(tmp_path / "a", "{host: 127.0.0.1}"))) is None
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "api.token").write_text(TOKEN + "\n")
    loaded = load_site(site_with(tmp_path / "b", "{host: '::', token: {file: api.token}}"))
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert service_token(loaded) == TOKEN
    assert api_token(loaded) == TOKEN


@pytest.fixture
def served(tmp_path):
    """The service's HTTP side with service.token set, on a free loopback port."""
    (tmp_path / "api.token").write_text(TOKEN)
    port = free_port()
    site = site_with(tmp_path, f"{{host: 127.0.0.1, port: {port}, token: {{file: api.token}}}}")
    loaded = load_site(site)
    services = build_services(site, loaded)
    loop = asyncio.new_event_loop()
    runner = loop.run_until_complete(start_http(services.runtime, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port, loaded
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_every_route_requires_the_token(served):
    port, _ = served
    with structlog.testing.capture_logs() as logs:
        for path in ("/metrics", "/api/status", "/api/calls", "/api/reports/queues"):
            assert get(port, path, {})[0] == 401, path
        status, body = get(port, "/api/status", {"Authorization": "Bearer wrong-guess-123"})
        assert status == 401 and json.loads(body)["error"].startswith("wrong token")
        assert get(port, "/api/status", {"Authorization": f"Basic {TOKEN}"})[0] == 401
    assert get(port, "/api/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    refused = [e for e in logs if e["event"] == "api_request_refused"]
    assert [(e["path"], e["reason"]) for e in refused] == [
        ("/metrics", "no bearer token"), ("/api/status", "no bearer token"), ("/api/calls", "no bearer token"),
        ("/api/reports/queues", "no bearer token"), ("/api/status", "wrong token"), ("/api/status", "no bearer token"),
    ]
    assert all(e["peer"] == "127.0.0.1" and e["method"] == "GET" for e in refused)
    assert "wrong-guess-123" not in repr(logs) and TOKEN not in repr(logs)


def test_the_cli_client_sends_the_sites_token(served):
    port, loaded = served
    assert "ami" in call("127.0.0.1", port, "GET", "/api/status", token=api_token(loaded))
    with pytest.raises(ServiceError) as exc:
        call("127.0.0.1", port, "GET", "/api/status")
    assert "requires its API token" in str(exc.value)
