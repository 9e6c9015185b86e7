"""The running server: its deadlines for receiving a request (slow or idle clients are
disconnected, a body arriving above the minimum rate is not, whatever it takes, nor is a
request being answered; test timeouts of 0.3 s and a 16 KiB/s minimum rate, the defaults are
HEADER_TIMEOUT_S, BODY_TIMEOUT_S, BODY_MIN_RATE and BODY_MAX_S) and request framing as raw
bytes on the wire."""

import asyncio
import re
import socket
import time

from fastapi import FastAPI, Request

from tests.http_fuzz import serving

TIMEOUT_S = 0.3
MIN_RATE = 16 * 1024  # bytes per second
CHUNK = 4096  # a body sent CHUNK bytes every 0.1 s: 40 KiB/s, well above MIN_RATE


def _serving(app, body_max_s=30.0):
    return serving(
        app,
        log_level="warning",
        header_timeout_s=TIMEOUT_S,
        body_timeout_s=TIMEOUT_S,
        body_min_rate=MIN_RATE,
        body_max_s=body_max_s,
    )


def _app():
    app = FastAPI()

    @app.post("/slow")
    async def slow() -> dict:
        await asyncio.sleep(3 * TIMEOUT_S)  # answering takes longer than the deadline
        return {"ok": True}

    @app.post("/upload")
    async def upload(request: Request) -> dict:
        return {"bytes": len(await request.body())}

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


def _send_slowly(conn, data: bytes, size: int, pause_s: float) -> bool:
    """Send ``data`` ``size`` bytes at a time, ``pause_s`` apart; False if the server closed
    the connection meanwhile."""
    for start in range(0, len(data), size):
        try:
            conn.sendall(data[start : start + size])
        except OSError:
            return False
        time.sleep(pause_s)
    return True


def _upload_head(length: int) -> bytes:
    return (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_trickled_body_is_closed_and_a_slow_but_steady_one_completes():
    body = b"x" * (12 * CHUNK)  # 1.2 s at 40 KiB/s: four times the body timeout
    with _serving(_app()) as port:
        trickle = _connect(port)
        trickle.sendall(_upload_head(1000))
        _send_slowly(trickle, b"y" * 40, 1, TIMEOUT_S / 5)  # a byte every 60 ms
        steady = _connect(port)
        steady.sendall(_upload_head(len(body)))
        assert _send_slowly(steady, body, CHUNK, 0.1)
        reply = _read_reply(steady)
        assert reply.startswith(b"HTTP/1.1 200") and b'{"bytes":49152}' in reply
        assert _closed(trickle)
        # the connection is kept alive: the next request's headers have their own deadline
        steady.sendall(_upload_head(2) + b"ok")
        assert b'{"bytes":2}' in _read_reply(steady)
        for conn in (trickle, steady):
            conn.close()


def test_no_body_takes_longer_than_the_cap_whatever_its_rate():
    body = b"x" * (12 * CHUNK)
    with _serving(_app(), body_max_s=4 * 0.1) as port:
        conn = _connect(port)
        conn.sendall(_upload_head(len(body)))
        _send_slowly(conn, body, CHUNK, 0.1)  # 1.2 s, three times the cap
        assert _closed(conn)
        conn.close()
