"""Running the editor app with uvicorn on a socket we bind ourselves (clear bind errors)."""

from __future__ import annotations

import ipaddress
import socket

import uvicorn
from fastapi import FastAPI

from .limits import LOOPBACK_HOSTS, host_name

ANY_ADDRESS = ("0.0.0.0", "::", "")


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


def make_server(app: FastAPI, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for ``app``; run it with ``server.run(sockets=[sock])``."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_keep_alive=5,
        limit_concurrency=200,  # beyond that, 503 instead of unbounded queueing
        h11_max_incomplete_event_size=64 * 1024,  # request line + headers
        server_header=False,
    )
    return uvicorn.Server(config)
