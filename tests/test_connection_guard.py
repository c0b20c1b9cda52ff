"""Slow clients against a real ``workspace serve`` on loopback: hundreds of connections that
trickle their headers a byte at a time (slowloris), one that stalls in its body and one
that trickles its second request after an answer. The server closes each of them within the
documented timeouts, and other clients' requests are answered meanwhile, also with more slow
connections open than the cap allows.
"""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from pathlib import Path

from tests.served import serving

SLOW = 500
HEADER_TIMEOUT = BODY_TIMEOUT = 2
#: Far more than the server needs to notice a deadline: the test waits this long at most.
SLACK = 3.0


class Trickler(threading.Thread):
    """Keeps ``sockets`` sending one more header byte every quarter second until the server
    closes them; notes when each was closed (by the server: this side never closes them)."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__(daemon=True)
        self.open = set(sockets)
        self.closed: dict[socket.socket, float] = {}
        self.selector = selectors.DefaultSelector()
        for sock in sockets:
            self.selector.register(sock, selectors.EVENT_READ)

    def run(self) -> None:
        deadline = time.monotonic() + HEADER_TIMEOUT + BODY_TIMEOUT + SLACK
        while self.open and time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=0.25):
                self._closed(key.fileobj)  # type: ignore[arg-type]
            for sock in list(self.open):
                try:
                    sock.send(b"x")
                except OSError:
                    self._closed(sock)

    def _closed(self, sock: socket.socket) -> None:
        try:
            if sock.recv(1024):
                return  # an answer would be data, not a close; there is none here
        except OSError:
            pass
        if sock in self.open:
            self.open.discard(sock)
            self.closed[sock] = time.monotonic()
            self.selector.unregister(sock)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` without an answer within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False


def connect(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(first)
    return sock


def test_slow_clients_are_closed_in_time_and_others_are_answered(tmp_path: Path):
    env = {
        "WORKSPACE_DATA_DIR": str(tmp_path),
        "WORKSPACE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "WORKSPACE_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "WORKSPACE_MAX_CONNECTIONS": "200",
        "WORKSPACE_LOG_LEVEL": "WARNING",
    }
    with serving(env, tmp_path / "server.log") as server:
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        started = time.monotonic()
        slow = [connect(server.port, head) for _ in range(SLOW)]
        stalled = connect(
            server.port,
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
            b"\r\nContent-Length: 100\r\n\r\nab",
        )
        kept = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        kept.request("GET", "/healthz")
        assert kept.getresponse().read() == b'{"status":"ok"}'
        assert kept.sock is not None
        kept.sock.sendall(head)  # its next request's headers, to be trickled
        trickler = Trickler([*slow, kept.sock])
        trickler.start()

        answers = []
        for _ in range(30):
            other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            other.request("GET", "/healthz")
            answers.append(other.getresponse().status)
            other.close()
        trickler.join(timeout=HEADER_TIMEOUT + BODY_TIMEOUT + 2 * SLACK)
        body_closed = closed_by_server(stalled, BODY_TIMEOUT + SLACK)
        for sock in [*slow, stalled]:
            sock.close()
        kept.close()

    assert answers == [200] * 30
    assert trickler.open == set(), f"{len(trickler.open)} slow connections are still open"
    latest = max(trickler.closed.values()) - started
    assert latest < HEADER_TIMEOUT + SLACK, f"the last slow connection lasted {latest:.1f} s"
    assert body_closed
