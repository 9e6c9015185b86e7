"""The running server: its deadline for receiving a request (slow or idle clients are disconnected,
a request being answered is not; a test timeout of 0.3 s, the default is REQUEST_TIMEOUT_S) and
request framing as raw bytes on the wire."""

import asyncio
import contextlib
import re
import socket
import threading
import time

from fastapi import FastAPI

from layout2im.web.server import bind_socket, make_server

TIMEOUT_S = 0.3


@contextlib.contextmanager
def _serving(app):
    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, log_level="warning", request_timeout_s=TIMEOUT_S)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _app():
    app = FastAPI()

    @app.post("/slow")
    async def slow() -> dict:
        await asyncio.sleep(3 * TIMEOUT_S)  # answering takes longer than the deadline
        return {"ok": True}

    return app


def _connect(port):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.settimeout(10)  # far beyond the deadline: a recv that times out is a failure
    return conn


def _closed(conn) -> bool:
    data = b""
    while True:
        try:
            chunk = conn.recv(4096)
        except ConnectionResetError:
            return True
        if not chunk:
            return data == b""  # closed without an answer
        data += chunk


def _read_reply(conn) -> bytes:
    """One whole HTTP reply: headers and body may arrive in separate packets."""
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += conn.recv(4096)
    head, _, body = reply.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))
    while len(body) < length:
        chunk = conn.recv(4096)
        assert chunk, "the connection closed before the whole body arrived"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_slow_and_idle_clients_are_disconnected_and_answers_are_not_cut_off():
    with _serving(_app()) as port:
        idle = _connect(port)
        headers = _connect(port)
        headers.sendall(b"POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never end
        body = _connect(port)
        body.sendall(b"POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nab")
        trickle = _connect(port)
        for byte in b"POST /slow HTTP/1.1\r\n":  # one byte at a time, past the deadline
            try:
                trickle.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(TIMEOUT_S / 5)
        answered = _connect(port)
        answered.sendall(b"POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        for conn in (idle, headers, body, trickle):
            assert _closed(conn)
        reply = _read_reply(answered)
        assert reply.startswith(b"HTTP/1.1 200") and b'{"ok":true}' in reply
        for conn in (idle, headers, body, trickle, answered):
            conn.close()


def _guarded_app():
    from layout2im.web.limits import RequestGuardMiddleware, RouteRule

    app = FastAPI()

    @app.post("/echo")
    async def echo() -> dict:
        return {"ok": True}

    rule = RouteRule(max_bytes=1000, media_type="application/json")
    app.add_middleware(RequestGuardMiddleware, rule_for=lambda method, path: rule)
    return app


def test_a_request_with_both_framings_is_a_400_over_the_wire():
    """Content-Length with Transfer-Encoding (either order), sent as raw bytes to a running
    server: refused before the app reads a body (the TestClient cannot send both)."""
    body = b'{"a": 1}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with _serving(_guarded_app()) as port:
        for framing in (
            b"Content-Length: 8\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        ):
            conn = _connect(port)
            head = b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            conn.sendall(head + framing + b"\r\n" + chunked)
            reply = _read_reply(conn)
            conn.close()
            assert reply.startswith(b"HTTP/1.1 400 "), reply[:100]
            assert b"both Content-Length and Transfer-Encoding" in reply
