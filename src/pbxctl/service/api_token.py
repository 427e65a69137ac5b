"""The HTTP API's bearer token: where it comes from, when it is required, how a request
is checked.

The API logs agents in and out, barges into calls and serves the books: on loopback only
local users reach it, beyond loopback anyone on the network would. So a service bound
beyond loopback refuses to start without a token, and a configured token is required on
every request (loopback too). The token is `service.token` of the site ({env:}, {file:}
or literal), else the environment variable PBXCTL_API_TOKEN; the CLI reads it the same way.
A refused request is logged with its method, path and peer, never with what it sent.
"""

from __future__ import annotations

import hmac
import os

import structlog
from aiohttp import web

from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import SecretUnavailable, remember_secret, resolve_secret
from pbxctl.site.values import is_loopback

log = structlog.get_logger("pbxctl.http")

TOKEN_ENV = "PBXCTL_API_TOKEN"


class TokenRequired(SecretUnavailable):
    """The service would listen beyond loopback with no token."""


def api_token(loaded: LoadedSite) -> str | None:
    """The token the service requires and the CLI sends (None: none configured)."""
    svc = loaded.site.service
    if svc.token is not None:
        return resolve_secret(svc.token, "service.token", loaded.base_dir)
    value = os.environ.get(TOKEN_ENV)
    return remember_secret(value) if value else None


def service_token(loaded: LoadedSite) -> str | None:
    """api_token(), refusing a bind beyond loopback without one."""
    token = api_token(loaded)
    host = loaded.site.service.host
    if token is None and not is_loopback(host):
        raise TokenRequired(
            f"service.host {host} listens beyond loopback, and the API would let anyone there log agents "
            f"out and listen to calls: set service.token (e.g. {{file: /etc/pbxctl/api.token}}) or {TOKEN_ENV}"
        )
    return token


def bearer_header(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def token_middleware(token: str):
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler):
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
            return await handler(request)
        reason = "no bearer token" if scheme.lower() != "bearer" else "wrong token"
        log.warning("api_request_refused", method=request.method, path=request.path, peer=request.remote, reason=reason)
        return web.json_response(
            {"error": f"{reason}: this pbxctl service requires its API token (service.token or {TOKEN_ENV})"},
            status=401, headers={"WWW-Authenticate": 'Bearer realm="pbxctl"'},
        )

    return require_token
