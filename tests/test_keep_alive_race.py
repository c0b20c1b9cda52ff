"""A request that reaches the server just as its idle connection's keep-alive time runs
out, while the event loop is busy (a data move hashing on another thread makes every step
of the loop slow), is answered, not dropped: a client whose write is dropped cannot tell
whether it was applied.

uvicorn runs the keep-alive timer and the connection's reads as callbacks of the same loop;
when a step of the loop takes long, a timer that fell due before the request's bytes came
in runs first and used to close the connection with the request unread. Here a real uvicorn
with the server's protocol (ConnectionGuard) and a one-second keep-alive answers an app
whose one endpoint keeps the loop busy in short slow steps, as GIL contention does, while
thirty idle connections each send their next request around their keep-alive deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

KEEP_ALIVE = 1.0
CONNECTIONS = 30
REQUEST = b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/busy":
        deadline = time.monotonic() + 3 * KEEP_ALIVE
        while time.monotonic() < deadline:
            time.sleep(0.02)  # a slow step of the loop, as when another thread holds the GIL
            await asyncio.sleep(0)
    body = b"pong"
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"4")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


SERVER = """
import functools, sys, uvicorn
from tests.test_keep_alive_race import app
from workspace.web.connection_guard import ConnectionGuard
protocol = functools.partial(
    ConnectionGuard, header_timeout=20, body_timeout=30, max_connections=500
)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=protocol,
            timeout_keep_alive=float(sys.argv[2]), log_level="warning", lifespan="off")
"""


@pytest.fixture
def port() -> Iterator[int]:
    """A uvicorn process of its own (a client and a server in one process would share the
    GIL, widening the window between a client's check and its send)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(free), str(KEEP_ALIVE)], cwd=root)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", free)).close()
                break
            except ConnectionRefusedError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.05)
        yield free
    finally:
        server.terminate()
        server.wait(10)


def answered(sock: socket.socket) -> bool:
    """Whether the request sent on ``sock`` is answered (False: closed without an answer)."""
    sock.settimeout(10 * KEEP_ALIVE)
    received = b""
    while b"pong" not in received:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        received += chunk
    return True


def test_a_request_arriving_at_the_keep_alive_deadline_of_a_busy_loop_is_answered(port: int):
    with contextlib.ExitStack() as opened:
        _each_request_is_answered_or_never_sent(port, opened)


def _each_request_is_answered_or_never_sent(port: int, opened: contextlib.ExitStack) -> None:
    def connect() -> socket.socket:
        return opened.enter_context(socket.create_connection(("127.0.0.1", port)))

    idle = []
    for _ in range(CONNECTIONS):
        sock = connect()
        sock.sendall(REQUEST)
        assert answered(sock)
        idle.append((sock, time.monotonic()))
    busy = connect()
    busy.sendall(REQUEST.replace(b"/ping", b"/busy"))
    sent = []
    for sock, last in idle:
        # Each sends its next request a moment before its keep-alive deadline: in time, had
        # the loop been free. A connection the server closed already is not used (a client
        # sees the close and opens another: nothing is lost).
        time.sleep(max(0.0, last + KEEP_ALIVE + 0.005 - time.monotonic()))
        if not closed(sock):
            sock.sendall(REQUEST)
            sent.append(sock)
    dropped = sum(not answered(sock) for sock in sent)
    assert answered(busy)
    assert len(sent) >= 5, f"only {len(sent)} connections stayed open: the test proves little"
    # Before the fix 6 to 17 of 30 were dropped. One may still be, rarely, on a loaded
    # machine: a request that crosses the server's end of stream on the wire (the client
    # checked, was descheduled, then sent) is HTTP/1.1's own keep-alive race, which no
    # server can close; clients retry such a request (with its Idempotency-Key).
    assert dropped <= 1, f"{dropped} of {len(sent)} requests dropped without an answer"


def closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (what a client checks before reusing it)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
