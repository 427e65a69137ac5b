"""The JSON body of an API request, the same way for every route: an object, or {}."""

from __future__ import annotations

from aiohttp import web


async def body_of(request: web.Request) -> dict:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "the request body is not JSON"}', content_type="application/json")
    return body if isinstance(body, dict) else {}
