"""Time limits and a cap on HTTP connections, below the ASGI app: slow clients cannot tie the
server up.

uvicorn closes a connection that stays idle after an answer (``timeout_keep_alive``), but it
has no limit on how long a client may take to send a request's headers or body: a client
that sends a header byte every few seconds (slowloris) keeps its connection, and a file
descriptor, for ever, and any byte it sends cancels the keep-alive timer. Nor can the app do
it: it is called only once the headers are complete. So :class:`ConnectionGuard`, uvicorn's
httptools protocol with three additions, is handed to uvicorn as its HTTP protocol:

* the **header timeout**: a request's headers must be complete within ``header_timeout``
  seconds of the connection opening or of the previous answer, however the bytes trickle;
* the **body timeout**: a request body may pause at most ``body_timeout`` seconds between
  two pieces;
* the **connection cap**: past ``max_connections`` open connections per process, a new one
  closes the connection that has waited longest for its headers (the slowest client), or,
  when none is waiting, is closed itself. uvicorn's own ``limit_concurrency`` answers 503 to
  every new request once that many connections are open, so the slow connections it is
  meant to stop would shut everyone else out.

A connection closed by a timeout gets no answer: the client is not reading one anyway.

Neither timeout closes a connection whose next bytes have already arrived unread: when a
step of the event loop takes long (another thread holding the GIL, such as a data move
hashing ranges), a timer that fell due runs before the read of bytes that came in meanwhile,
and closing then would drop a request the client sent on a connection it saw open, which
it cannot tell from a write that failed. The bytes are read at the loop's next turn instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Per server: the connections waiting for a request's headers, oldest first.
_waiting: weakref.WeakKeyDictionary[Any, dict[ConnectionGuard, None]] = weakref.WeakKeyDictionary()


class ConnectionGuard(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a body timeout and a cap on
    connections (see the module's docstring). uvicorn builds one per connection with its
    own arguments; ``workspace serve`` binds the limits with ``functools.partial``."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float,
        body_timeout: float,
        max_connections: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = _waiting.setdefault(self.server_state, {})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        if len(self.connections) > self.max_connections:
            slowest = next((c for c in self._waiting if c is not self), self)
            slowest.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._waiting.pop(self, None)
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._stop_timer()
        self._waiting.pop(self, None)
        super().on_headers_complete()
        self._start_timer(self.body_timeout)  # until the body is complete

    def on_body(self, body: bytes) -> None:
        self._start_timer(self.body_timeout)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle on a kept-alive connection (uvicorn armed its keep-alive timer, so no
        # pipelined request is being answered): the next headers get the same limit.
        if self.timeout_keep_alive_task is not None:
            self._await_headers()

    def _await_headers(self) -> None:
        self._waiting[self] = None
        self._start_timer(self.header_timeout)

    def _start_timer(self, seconds: float) -> None:
        self._stop_timer()
        self._timer = self.loop.call_later(seconds, self._expire, seconds)

    def timeout_keep_alive_handler(self) -> None:
        if _unread(self.transport):
            return  # the next request is here: its read will stop our header timer too
        _end_now(self.transport)
        super().timeout_keep_alive_handler()

    def _expire(self, seconds: float) -> None:
        if self.flow.read_paused:  # the app has not taken what came: our wait, not theirs
            self._start_timer(seconds)
        elif _unread(self.transport):
            # Bytes came while the loop was busy: judge once they are read (a trickle
            # stays bounded: by then nothing is unread, and the deadline has passed).
            self._timer = self.loop.call_soon(self._expire, seconds)  # type: ignore[assignment]
        else:
            self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Close the connection without an answer (a timeout, or room for a new one)."""
        self._stop_timer()
        self._waiting.pop(self, None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def _end_now(transport: asyncio.Transport | None) -> None:
    """Send the end of the stream at once: the transport closes the socket only at the loop's
    next turn, and a client that sees the connection still open meanwhile sends its next
    request on it, into a socket about to be closed."""
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError), _duplicate(sock) as peer:
        peer.shutdown(socket.SHUT_WR)


def _duplicate(sock: Any) -> socket.socket:
    """A socket on a duplicate of ``sock``'s descriptor: asyncio hands out one that cannot
    recv or shut down; closing the duplicate leaves the connection open."""
    return socket.fromfd(sock.fileno(), sock.family, sock.type)


def _unread(transport: asyncio.Transport | None) -> bool:
    """Whether bytes the client sent wait unread in the connection's socket (an end of
    stream is not a byte: a closed connection is closed)."""
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None or transport is None or transport.is_closing():
        return False
    try:
        with _duplicate(sock) as peer:
            return bool(peer.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (BlockingIOError, InterruptedError):
        return False  # nothing there
    except OSError:
        return False  # reset: closing it loses nothing
