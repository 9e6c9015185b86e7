"""Running the editor app with uvicorn on a socket we bind ourselves (clear bind errors), with
deadlines for each request's headers and body (the body's growing with what arrives) so slow
clients cannot hold connections and slow links can still upload."""

from __future__ import annotations

import ipaddress
import socket

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import LOOPBACK_HOSTS, host_name

ANY_ADDRESS = ("0.0.0.0", "::", "")

HEADER_TIMEOUT_S = 10.0
"""A client has this long, from when its connection opens (or its previous response ends), to
send a request's line and headers; then the connection is closed unanswered. Idle keep-alive
connections are closed sooner, after :data:`KEEP_ALIVE_S`."""

BODY_TIMEOUT_S = 10.0
"""Once the headers are in, a client has this long to send the body, plus the time
:data:`BODY_MIN_RATE` gives for what it has sent (as Apache's ``mod_reqtimeout``
``body=10,MinRate=...``): a body arriving at that rate or faster is never cut, a trickle is
closed after about this long."""

BODY_MIN_RATE = 16 * 1024
"""Bytes per second: each KiB of body received extends the body deadline by 1/16 s."""

BODY_MAX_S = 300.0
"""No body takes longer than this from the end of the headers, whatever its rate: the
largest upload (10 MB plus the form, :mod:`layout2im.web.app`) completes on any link of
at least 35 KB/s, and a client sending just at the minimum rate holds a connection for at most
this long."""

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
    """uvicorn's h11 protocol with deadlines for receiving each request: uvicorn itself closes
    idle keep-alive connections but waits forever for headers or a body sent a byte at a time.

    The request line and headers must arrive within :data:`HEADER_TIMEOUT_S`; the body within
    :data:`BODY_TIMEOUT_S` of the headers' end plus one second per :data:`BODY_MIN_RATE` bytes
    received, and never later than :data:`BODY_MAX_S` after it. The deadlines cover only the
    client's part: a request being answered is never cut off, and while the server has
    stopped reading (the application has not taken the body so far: uvicorn's flow control),
    the body's clock starts again when the deadline comes, as the client is waiting for us.
    One timer per connection; it is re-armed when it fires, not on every packet."""

    header_timeout_s = HEADER_TIMEOUT_S
    body_timeout_s = BODY_TIMEOUT_S
    body_min_rate = BODY_MIN_RATE
    body_max_s = BODY_MAX_S

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._timer = None
        self._body_start: float | None = None  # loop time the headers ended, while receiving
        self._body_bytes = 0
        super().connection_made(transport)
        self._arm(self.loop.time() + self.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        if self._body_start is not None:
            self._body_bytes += len(data)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._body_start is None:  # the headers are in
            self._start_body()
        elif state not in (h11.IDLE, h11.SEND_BODY):  # the whole request is in: answering
            self._body_start = None
            self._cancel()

    def on_response_complete(self) -> None:
        self._body_start = None  # the next request's headers (pipelined ones: handled below)
        self._arm(self.loop.time() + self.header_timeout_s)
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _start_body(self) -> None:
        self._body_start, self._body_bytes = self.loop.time(), 0
        self._arm(self._body_start + self.body_timeout_s)

    def body_deadline(self) -> float:
        """When the body must be complete, in loop time, for what has arrived so far."""
        start = self._body_start
        earned = self.body_timeout_s + self._body_bytes / self.body_min_rate
        return start + min(earned, self.body_max_s)

    def _arm(self, when: float) -> None:
        self._cancel()
        self._timer = self.loop.call_at(when, self._deadline_passed)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline_passed(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._body_start is None or self.flow.read_paused:
                self._start_body()  # a fresh clock: the client waits for us to read
                return
            deadline = self.body_deadline()
            if self.loop.time() < deadline:  # it sent enough meanwhile
                self._arm(deadline)
                return
        if state in (h11.IDLE, h11.SEND_BODY):
            self.transport.close()


def make_server(
    app: FastAPI,
    log_level: str = "info",
    header_timeout_s: float = HEADER_TIMEOUT_S,
    body_timeout_s: float = BODY_TIMEOUT_S,
    body_min_rate: float = BODY_MIN_RATE,
    body_max_s: float = BODY_MAX_S,
) -> uvicorn.Server:
    """A uvicorn server for ``app``; run it with ``server.run(sockets=[sock])``. The timeouts
    and rate: see :class:`DeadlineH11Protocol` (tests pass short ones)."""
    deadlines = {
        "header_timeout_s": header_timeout_s,
        "body_timeout_s": body_timeout_s,
        "body_min_rate": body_min_rate,
        "body_max_s": body_max_s,
    }
    protocol = type("DeadlineH11Protocol", (DeadlineH11Protocol,), deadlines)
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
