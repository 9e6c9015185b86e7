"""ASGI middleware that guards the editor's server: body size limits and content types.

Every request body is bounded twice: a declared ``Content-Length`` above the limit is refused
before anything is read, and the bytes actually received are counted as they stream in (a
chunked request without ``Content-Length``, or one that lies about it, is cut off at the limit).
Both answer ``413`` with a JSON error. Routes can also require a media type (``415`` otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class RouteRule:
    """Body limit (bytes) and, for methods with a body, the required media type (or None)."""

    max_bytes: int
    media_type: str | None = None


class BodyTooLarge(Exception):
    """Raised inside the application when a streamed body passes its limit."""


def error_body(message: str, field: str | None) -> bytes:
    return json.dumps({"error": message, "field": field}).encode()


class RequestGuardMiddleware:
    """``rule_for(method, path)`` gives the :class:`RouteRule` of each request."""

    def __init__(self, app: ASGIApp, rule_for: Callable[[str, str], RouteRule]):
        self.app = app
        self.rule_for = rule_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        rule = self.rule_for(method, scope["path"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _reply(send, 400, "Content-Length is not a number", "Content-Length")
                return
            if int(declared) > rule.max_bytes:
                await _reply(send, 413, _too_large(rule.max_bytes), "body")
                return
        if rule.media_type is not None and method in ("POST", "PUT", "PATCH"):
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != rule.media_type:
                shown = media or "none"
                await _reply(
                    send,
                    415,
                    f"Content-Type must be {rule.media_type}, got {shown}",
                    "Content-Type",
                )
                return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:  # whatever the app answers, the client gets the 413
                if not response_started:
                    response_started = True
                    await _reply(send, 413, _too_large(rule.max_bytes), "body")
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not response_started:
                response_started = True
                await _reply(send, 413, _too_large(rule.max_bytes), "body")
        except Exception:
            if not exceeded:
                raise
            if not response_started:
                await _reply(send, 413, _too_large(rule.max_bytes), "body")


async def _reply(send: Send, status: int, message: str, field: str | None) -> None:
    body = error_body(message, field)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"request body is larger than the limit of {limit} bytes ({limit / 2**20:g} MB)"
