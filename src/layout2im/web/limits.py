"""ASGI middleware that guards the editor's server: allowed hosts and origins, body size
limits and content types.

:class:`HostGuardMiddleware` answers ``400`` to a ``Host`` header the server was not started
for (a web page that rebinds its own DNS name to 127.0.0.1 sends its own name, so it cannot
reach a loopback server) and ``403`` to a state-changing request whose ``Origin`` is another
site (a cross-origin form post is a "simple" request that browsers send without asking).

Every request body is bounded twice: a declared ``Content-Length`` above the limit is refused
before anything is read, and the bytes actually received are counted as they stream in (a
chunked request without ``Content-Length``, or one that lies about it, is cut off at the limit).
Both answer ``413`` with a JSON error. Routes can also require a media type (``415`` otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

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


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or URL netloc, lower-cased, without port or
    brackets: ``[::1]:8000`` -> ``::1``, ``Example.org:80`` -> ``example.org``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostGuardMiddleware:
    """Accept only requests whose ``Host`` is one of ``allowed_hosts`` (names or addresses,
    without port; ``None`` accepts any), and refuse requests with a body whose ``Origin`` or
    ``Sec-Fetch-Site`` says they come from another site."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS):
        self.app = app
        self.allowed = None if allowed_hosts is None else {host_name(h) for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.allowed is not None and host_name(host) not in self.allowed:
            shown = host[:60] + ("..." if len(host) > 60 else "")
            await _reply(
                send,
                400,
                f"Host {shown!r} is not served here; this server answers to "
                f"{', '.join(sorted(self.allowed))} (start it with --allow-host NAME to add one)",
                "Host",
            )
            return
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site", "").lower()
            foreign = origin is not None and (
                origin == "null" or urlsplit(origin).netloc.lower() != host.lower()
            )
            if foreign or site == "cross-site":
                await _reply(send, 403, "cross-origin requests are not accepted", "Origin")
                return
        await self.app(scope, receive, send)


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
        if declared is not None and "transfer-encoding" in headers:
            # two framings of one body: a proxy and this server could disagree where it ends
            message = "a request may not have both Content-Length and Transfer-Encoding"
            await _reply(send, 400, message, "Content-Length")
            return
        if declared is not None:
            declared = declared.strip()
            if not (declared.isascii() and declared.isdigit()):
                await _reply(send, 400, "Content-Length is not a number", "Content-Length")
                return
            if len(declared) > 18 or int(declared) > rule.max_bytes:
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
