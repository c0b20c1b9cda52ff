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
"""

from __future__ import annotations

import asyncio
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

    def _expire(self, seconds: float) -> None:
        if self.flow.read_paused:  # the app has not taken what came: our wait, not theirs
            self._start_timer(seconds)
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
