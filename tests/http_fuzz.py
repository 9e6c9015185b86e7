"""Hostile HTTP clients of a running server, shared by the property tests and
``benchmarks/fuzz.py``: raw requests (a valid ``GET /api/info`` or ``POST /api/generate`` cut,
spliced, with extra framing headers, with its body mutated) and slow clients (bytes per send,
pauses, stopping part-way through the headers or the body, idle connections, steady uploads).

``check_raw_request`` returns ``"accepted"`` (a 2xx) or ``"refused"`` (a 4xx, or a connection
closed unanswered); ``check_slow_client`` returns ``"accepted"`` (a client within the
deadlines got its whole answer) or ``"refused"`` (a slower one was disconnected in time). Both
fail on a 5xx, a hang, a client cut off early or one held past its deadline.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import select
import socket
import threading
import time
from dataclasses import dataclass

import h11
from hypothesis import strategies as st

from layout2im.web.server import bind_socket, make_server
from tests.input_fuzz import mutated_json

HEADER_S = 0.3  # the slow-client server's deadlines (the defaults are 10 s)
BODY_S = 0.3
MIN_RATE = 16 * 1024  # bytes per second
BODY_MAX_S = 1.5
SLACK_S = 0.1
"""A client "within the rule" sends every chunk at least this long before its deadline; a
"slower" one misses a deadline by at least this much (between the two, either outcome)."""
MARGIN_S = 1.0
"""How long after its deadline a slower client may still be connected (timer and scheduling
latency on a loaded machine)."""


@contextlib.contextmanager
def serving(app, log_level: str = "error", **deadlines):
    """Run ``app`` with :func:`make_server` (``deadlines``: its timeout keywords) in a thread
    on a free loopback port; yields the port."""
    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, log_level=log_level, **deadlines)
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


def generate_body(category: str) -> dict:
    """A valid ``POST /api/generate`` body for a model with ``category``."""
    return {"layout": {"objects": [{"category": category, "box": [0.1, 0.2, 0.7, 0.9]}]}, "seed": 3}


def _request(method: str, path: str, body: bytes = b"", close: bool = True) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if close:
        head += "Connection: close\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


INFO = _request("GET", "/api/info")


def generate_request(category: str) -> bytes:
    """A valid ``POST /api/generate`` on a connection closed after its answer."""
    return _request("POST", "/api/generate", json.dumps(generate_body(category)).encode())


def _answer_status(answer: bytes) -> int:
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 "), status[:100]
    code = int(status.split()[1])
    assert code < 500, answer[:300]
    return code


def _whole(answer: bytes) -> bool:
    """Whether ``answer`` holds a response's headers and its whole Content-Length body."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def read_answer(conn: socket.socket) -> bytes:
    """One response (headers and body), or what came before the connection closed."""
    answer = b""
    while not _whole(answer):
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        answer += chunk
    return answer


# -- raw requests ----------------------------------------------------------------------------------


def raw_requests(category: str):
    """Raw request bytes: ``GET /api/info`` or a valid ``POST /api/generate`` (``category``: one
    of the model's), as they are (any seed), with bytes replaced, cut or spliced, a header
    added, the body mutated (Content-Length kept right), or any bytes."""
    body = generate_body(category)
    generate = generate_request(category)

    @st.composite
    def requests(draw) -> bytes:
        how = draw(st.sampled_from(["as is", "body", "body", "splice", "cut", "header", "bytes"]))
        base = draw(st.sampled_from([INFO, generate]))
        if how == "as is":  # or with another seed and sample count: still valid
            if base is INFO:
                return base
            again = {**body, "seed": draw(st.integers(0, 2**63 - 1)),
                     "num_samples": draw(st.integers(1, 2))}  # fmt: skip
            return _request("POST", "/api/generate", json.dumps(again).encode())
        if how == "body":
            return _request("POST", "/api/generate", draw(mutated_json(body)))
        if how == "cut":
            return base[: draw(st.integers(1, len(base)))]
        if how == "splice":
            at = draw(st.integers(0, len(base)))
            return base[:at] + draw(st.binary(min_size=1, max_size=16)) + base[at:]
        if how == "header":
            name = draw(
                st.sampled_from(
                    [b"Transfer-Encoding", b"Content-Length", b"Host", b"Origin", b"Content-Type"]
                )
            )
            value = draw(st.sampled_from([b"chunked", b"9" * 5000, b"-1", b"evil.example", b""]))
            head, rest = base.split(b"\r\n\r\n", 1)
            return head + b"\r\n" + name + b": " + value + b"\r\n\r\n" + rest
        return draw(st.binary(min_size=1, max_size=64))

    return requests()


def _complete(data: bytes) -> bool:
    """Whether the server's parser (h11, as uvicorn's) has a whole request, or an error to
    answer at once, in ``data``; otherwise it waits for more."""
    conn = h11.Connection(h11.SERVER)
    try:
        conn.receive_data(data)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.EndOfMessage):
                return True
    except h11.RemoteProtocolError:
        return True
    return False


def check_raw_request(port: int, data: bytes) -> str:
    """Send ``data`` on a fresh connection (ending our side when the request is incomplete, so
    the server need not wait for its deadline); the answer must not be a 5xx."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        if not _complete(data):
            conn.shutdown(socket.SHUT_WR)
        answer = read_answer(conn)
    if not answer:
        return "refused"  # closed unanswered (incomplete request)
    return "refused" if _answer_status(answer) >= 400 else "accepted"


# -- slow clients ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientPlan:
    """How a client sends ``POST /api/generate`` with a ``body_size``-byte body: the request
    line and headers ``head_chunk`` bytes at a time, ``head_pause`` s apart; then the body
    ``body_chunk`` bytes at a time, ``body_pause`` s before each; it stops for good after
    ``stop_after`` bytes (None: sends everything) and, with ``idle_after``, stays connected
    and silent after its answer."""

    body_size: int
    head_chunk: int
    head_pause: float
    body_chunk: int
    body_pause: float
    stop_after: int | None = None
    idle_after: bool = False


def _sends(plan: ClientPlan, head_size: int) -> list[tuple[float, int, int]]:
    """(planned time from connecting, start, end) of each send, as offsets into the request's
    bytes (the headers' ``head_size``, then the body)."""
    sends, t = [], 0.0
    for k in range(0, head_size, plan.head_chunk):
        sends.append((t, k, min(k + plan.head_chunk, head_size)))
        t += plan.head_pause
    t -= plan.head_pause
    end = head_size + plan.body_size
    for k in range(head_size, end, plan.body_chunk):
        t += plan.body_pause
        sends.append((t, k, min(k + plan.body_chunk, end)))
    return sends


def verdict(plan: ClientPlan, head_size: int) -> str:
    """``"within"``, ``"slower"`` or ``"either"``: the plan against the server's rule (headers
    within HEADER_S of connecting; each body chunk before BODY_S plus 1 s per MIN_RATE bytes
    received, at most BODY_MAX_S, after the headers' end)."""
    if plan.stop_after is not None and plan.stop_after < head_size + plan.body_size:
        return "slower"
    sends = _sends(plan, head_size)
    head_end = max(t for t, start, _ in sends if start < head_size)
    late = head_end - HEADER_S  # > 0: after its deadline
    for t, start, _ in sends:
        if start >= head_size:
            received = start - head_size
            late = max(late, t - head_end - min(BODY_S + received / MIN_RATE, BODY_MAX_S))
    if late <= -SLACK_S:
        return "within"
    return "slower" if late >= SLACK_S else "either"


def slow_server_deadlines() -> dict[str, float]:
    """The :func:`make_server` keywords of the server that :func:`check_slow_client` expects."""
    return {"header_timeout_s": HEADER_S, "body_timeout_s": BODY_S, "body_min_rate": MIN_RATE,
            "body_max_s": BODY_MAX_S}  # fmt: skip


def min_body_size(category: str) -> int:
    """The length of the valid body that slow clients pad."""
    return len(json.dumps(generate_body(category)))


def slow_clients(min_body: int):
    """Client plans: steady (within the rule, sometimes idle after the answer), trickling
    headers, trickling a body (below a quarter of MIN_RATE), stopping part-way through the
    headers (an idle connection when at 0 bytes) or the body. ``min_body``: the smallest
    body (the valid JSON's length)."""
    sizes = st.integers(min_body, min_body + 8 * 1024)

    @st.composite
    def plans(draw) -> ClientPlan:
        how = draw(st.sampled_from(["steady", "steady", "head", "body", "stop"]))
        size = draw(sizes)
        fast_head = {"head_chunk": draw(st.integers(16, 4096)), "head_pause": 0.0}
        if how == "steady":
            chunk = draw(st.integers(256, 4096))
            pause = draw(st.floats(0, min(0.1, 0.5 * chunk / MIN_RATE)))
            return ClientPlan(size, body_chunk=chunk, body_pause=pause,
                              idle_after=draw(st.booleans()), **fast_head)  # fmt: skip
        if how == "head":  # about 100 header bytes: 13 sends or more, 0.6 s or more
            return ClientPlan(size, draw(st.integers(1, 8)), draw(st.floats(0.05, 0.15)), 4096, 0)
        if how == "body":  # long enough to take 0.7 s or more
            pause = draw(st.floats(0.05, 0.15))
            chunk = draw(st.integers(1, max(1, int(0.25 * MIN_RATE * pause))))
            size = max(size, chunk * math.ceil(0.7 / pause))
            return ClientPlan(size, body_chunk=chunk, body_pause=pause, **fast_head)
        stop = draw(st.integers(0, 200 + size - 1))
        return ClientPlan(size, body_chunk=4096, body_pause=0.0, stop_after=stop, **fast_head)

    return plans()


def _padded_body(category: str, size: int) -> bytes:
    body = json.dumps(generate_body(category)).encode()
    return body + b" " * (size - len(body))


def _closed_or_answer(conn: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """Wait up to ``timeout`` s: (whether the server closed, bytes it sent)."""
    ready, _, _ = select.select([conn], [], [], max(timeout, 0))
    if not ready:
        return False, b""
    try:
        data = conn.recv(65536)
    except ConnectionResetError:
        return True, b""
    return not data, data


def check_slow_client(port: int, category: str, plan: ClientPlan) -> str:
    """Run ``plan`` against the server on ``port`` (started with the deadlines above). Within
    the rule the client gets its whole answer (a 200); whatever it does, the server never holds
    the connection past the deadline of what has arrived plus MARGIN_S (a slower client is
    disconnected, or refused with a 4xx, never answered 200). Afterwards a plain request must
    still be answered."""
    body = _padded_body(category, plan.body_size)
    request = _request("POST", "/api/generate", body, close=False)
    head_size, total = len(request) - len(body), len(request)
    expected = verdict(plan, head_size)
    budget = total if plan.stop_after is None else plan.stop_after
    sends = iter(_sends(plan, head_size))
    pending = next(sends, None)
    sent, head_end, answer, answer_end, closed = 0, None, b"", None, False
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if answer_end is not None:
                if not plan.idle_after:
                    break
                bound = answer_end + HEADER_S + MARGIN_S  # the next request's headers
            elif head_end is None:
                bound = start + HEADER_S + MARGIN_S
            elif sent < total:
                bound = head_end + min(BODY_S + (sent - head_size) / MIN_RATE, BODY_MAX_S)
                bound += MARGIN_S
            else:
                bound = now + 30  # the whole request is in: its answer is on the way
            due = math.inf
            if pending is not None and sent < budget and not answer:
                due = start + pending[0]
            closed, data = _closed_or_answer(conn, min(due, bound) - now)
            if closed:
                break
            if data:
                answer += data
                if answer_end is None and _whole(answer):
                    answer_end = time.monotonic()
                continue
            if bound <= due:
                raise AssertionError(
                    f"still connected {time.monotonic() - start:.2f} s after connecting, "
                    f"{sent} of {total} bytes sent ({expected}): {plan}"
                )
            end = min(pending[2], budget)
            try:
                conn.sendall(request[pending[1] : end])
            except OSError:  # reset: the server has closed it
                closed = True
                break
            sent = end
            if head_end is None and sent >= head_size:
                head_end = time.monotonic()
            pending = next(sends, None)
    code = _answer_status(answer) if answer else None
    if expected == "within":
        assert _whole(answer) and code == 200, (
            f"cut off ({sent} bytes sent, {answer[:100]}): {plan}"
        )
        assert closed or not plan.idle_after
    elif expected == "slower":
        assert code is None or code >= 400, f"answered {code}: {plan}"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as after:
        after.sendall(INFO)
        assert _answer_status(read_answer(after)) == 200
    return "accepted" if code == 200 else "refused"
