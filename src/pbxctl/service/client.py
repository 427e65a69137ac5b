"""The CLI's side of the service API: small, blocking, with a timeout and errors that say
what to do."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from pbxctl.service.api_token import bearer_header


class ServiceError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status of an answered request (400: the request was refused)


def call(host: str, port: int, method: str, path: str, body: dict | None = None, timeout: float = 15.0,
         backend: str = "asterisk", token: str | None = None) -> dict:
    url = f"http://{host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **bearer_header(token)}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or exc.reason
        except ValueError:
            message = exc.reason
        raise ServiceError(str(message), exc.code) from None
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise ServiceError(
            f"the pbxctl service is not answering at {host}:{port} ({reason}); is `pbxctl serve {backend} -s SITE.yaml` running?"
        ) from None
    except TimeoutError:
        raise ServiceError(f"the pbxctl service at {host}:{port} did not answer within {timeout:.0f} s") from None
