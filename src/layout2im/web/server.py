"""Running the editor app with uvicorn on a socket we bind ourselves (clear bind errors), with
a deadline for each request's headers and body so slow clients cannot hold connections."""

from __future__ import annotations

import ipaddress
import socket

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import LOOPBACK_HOSTS, host_name

ANY_ADDRESS = ("0.0.0.0", "::", "")

REQUEST_TIMEOUT_S = 10.0
"""A client has this long, from when its connection opens (or its previous response ends), to
send a request's headers and whole body; then the connection is closed unanswered. Idle
keep-alive connections are closed after :data:`KEEP_ALIVE_S`."""

KEEP_ALIVE_S = 5


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one). Raises OSError."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: list[str] | tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The ``Host`` names a server listening on ``host`` answers: loopback names, ``host``
    itself and ``extra``; ``None`` (any name) when it listens on every address, as asked."""
    if host in ANY_ADDRESS:
        return None
    names = [*LOOPBACK_HOSTS, host, *extra]
    return tuple(dict.fromkeys(host_name(n) for n in names if n))


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request: uvicorn itself closes
    idle keep-alive connections but waits forever for headers or a body sent a byte at a time.
    The deadline covers only the client's part: a request being answered is never cut off."""

    request_timeout_s = REQUEST_TIMEOUT_S

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = None
        self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._deadline = None
        receiving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        if receiving and not self.transport.is_closing():
            self.transport.close()


def make_server(
    app: FastAPI, log_level: str = "info", request_timeout_s: float = REQUEST_TIMEOUT_S
) -> uvicorn.Server:
    """A uvicorn server for ``app``; run it with ``server.run(sockets=[sock])``.
    ``request_timeout_s``: see :data:`REQUEST_TIMEOUT_S`."""
    protocol = type(
        "DeadlineH11Protocol", (DeadlineH11Protocol,), {"request_timeout_s": request_timeout_s}
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        log_level=log_level,
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=200,  # beyond that, 503 instead of unbounded queueing
        h11_max_incomplete_event_size=64 * 1024,  # request line + headers
        server_header=False,
    )
    return uvicorn.Server(config)
