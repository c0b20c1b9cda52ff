"""The base every fake vendor builds on: an HTTP server on 127.0.0.1 with a request log, a
write log, programmable faults and per-vendor authentication.

Why the standard library's ``ThreadingHTTPServer`` rather than an ASGI app under uvicorn: the
handlers are plain synchronous functions over in-memory dicts, a thread per connection gives
real overlap between requests (Mailchimp's simultaneous-connection limit, a hung request next
to a healthy one) without an event loop to share with the code under test, it starts in a few
milliseconds on a free port, and it adds no dependency. HTTP/1.1 keep-alive is on, so paging
100,000 records costs requests, not TCP handshakes.

A subclass declares ``routes()`` and the vendor's answers for the cross-cutting cases
(``unauthorized_reply``, ``rate_limited_reply``, ``server_error_reply``, ``not_found_reply``).
Route handlers run under the fake's lock, so a handler sees a consistent store.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fake_saas.clock import Clock
from tests.fake_saas.faults import Fault, FaultPlan

JSON = "application/json; charset=utf-8"


@dataclass
class RecordedRequest:
    """One request as the fake received it; ``status`` is filled in once it was answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    raw_query: str = ""
    status: int | None = None
    context: dict[str, Any] = field(default_factory=dict)  # per-request notes of the fake

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Reply:
    """What a handler answers: a dict/list body is sent as JSON, bytes/str as they are."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", JSON)
        return json.dumps(self.body).encode(), headers


@dataclass
class Write:
    """One change a client pushed through the fake's API (what a connector sent, not the UI)."""

    operation: str  # e.g. "POST /crm/v3/objects/contacts/batch/upsert"
    target: str  # the record written: an id, e-mail or subscriber hash
    payload: Any  # what the client sent for this record
    idempotency_key: str | None = None
    at_ms: int = 0


class Refusal(Exception):
    """Raised inside a handler to answer with ``reply``: an error in the vendor's format."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


Handler = Callable[..., Reply]
GATEWAY_PAGE = "<html><head><title>{status} {reason}</title></head><body>{reason}</body></html>"
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FakeServer:
    """A fake SaaS API on ``127.0.0.1:<free port>``; use it as a context manager.

    Tests read ``requests`` (every request, in arrival order) and ``writes`` (what the client
    changed), and program failures with :meth:`rate_limit`, :meth:`fail`, :meth:`hang` and
    :meth:`reject_credentials`. ``errors`` collects exceptions raised inside the fake itself,
    so a test can tell a fake bug from a client bug.
    """

    #: Timestamp granularity of the vendor, for the default :class:`Clock`.
    resolution_ms = 1

    def __init__(self, *, clock: Clock | None = None, host: str = "127.0.0.1", port: int = 0):
        self.clock = clock or Clock(resolution_ms=self.resolution_ms)
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.writes: list[Write] = []
        self.errors: list[str] = []
        self.faults = FaultPlan()
        self._address = (host, port)
        self._routes = [(m, re.compile(p + r"\Z"), h) for m, p, h in self.routes()]
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer(self._address, _Handler, self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes hung handlers
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("start the fake first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    # -- what tests program and read -----------------------------------------------------------

    def rate_limit(
        self, route: str = "*", *, times: int | None = 1, retry_after: float | None = None
    ) -> Fault:
        """Answer the next ``times`` matching requests with the vendor's 429.

        ``retry_after`` adds a ``Retry-After`` header; none of HubSpot, Mailchimp or Stripe
        documents sending one, so it is off by default and a connector must not rely on it.
        """
        return self.faults.add(Fault("rate_limit", route, times, 429, retry_after=retry_after))

    def fail(self, route: str = "*", *, status: int = 500, times: int | None = 1) -> Fault:
        """Answer with a server error. 500 comes in the vendor's JSON; 502/503/504 come as the
        HTML page a gateway in front of the API sends, which a client must not parse as JSON."""
        if status < 500:
            raise ValueError("use a 5xx status; 401 and 429 have their own methods")
        return self.faults.add(Fault("error", route, times, status))

    def hang(self, route: str = "*", *, seconds: float, times: int | None = 1) -> Fault:
        """Hold matching requests for ``seconds`` before the API answers them normally."""
        return self.faults.add(Fault("hang", route, times, seconds=seconds))

    def reject_credentials(self, route: str = "*", *, times: int | None = None) -> Fault:
        """Answer with the vendor's 401 (until :meth:`clear_faults` unless ``times`` is set)."""
        return self.faults.add(Fault("unauthorized", route, times, 401))

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Logged requests matching a route pattern such as ``"GET /v1/customers"``."""
        probe = Fault("probe", route, None)
        return [r for r in list(self.requests) if probe.matches(r.method, r.path)]

    # -- what a vendor subclass provides -------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        """``(method or "*", path regex with named groups, handler)``."""
        return []

    def authenticate(self, request: RecordedRequest) -> Reply | None:
        return None

    def admit(self, request: RecordedRequest) -> Reply | None:
        """Called before anything else; a reply refuses the request (no :meth:`release`)."""
        return None

    def release(self, request: RecordedRequest) -> None:
        """Called once an admitted request has its answer."""

    def decorate(self, request: RecordedRequest, reply: Reply) -> None:
        """Add the headers the vendor sends on every response."""

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        return Reply(401, {"error": "unauthorized"})

    def rate_limited_reply(self, request: RecordedRequest, fault: Fault) -> Reply:
        return Reply(429, {"error": "rate limited"})

    def server_error_reply(self, request: RecordedRequest, status: int) -> Reply:
        reason = _REASONS.get(status, "Server Error")
        page = GATEWAY_PAGE.format(status=status, reason=reason)
        return Reply(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def not_found_reply(self, request: RecordedRequest) -> Reply:
        return Reply(404, {"error": "not found"})

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.requests.append(request)
        reply = self.admit(request)
        if reply is None:
            try:
                reply = self._answer(request)
            finally:
                self.release(request)
        self.decorate(request, reply)
        request.status = reply.status
        return reply

    def _answer(self, request: RecordedRequest) -> Reply:
        fault = self.faults.take(request.method, request.path)
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.seconds)
            fault = None
        if fault is not None:
            return self._fault_reply(request, fault)
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method in ("*", request.method):
                try:
                    with self.lock:
                        return handler(request, **match.groupdict())
                except Refusal as refusal:
                    return refusal.reply
                except Exception:
                    self.errors.append(traceback.format_exc())
                    return self.server_error_reply(request, 500)
        return self.not_found_reply(request)

    def _fault_reply(self, request: RecordedRequest, fault: Fault) -> Reply:
        if fault.kind == "unauthorized":
            return self.unauthorized_reply(request)
        if fault.kind == "error":
            return self.server_error_reply(request, fault.status)
        reply = self.rate_limited_reply(request, fault)
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = f"{fault.retry_after:g}"
        return reply


class Sink(FakeServer):
    """Answers every request with ``status`` (200) and logs it: the receiving end of webhooks."""

    def __init__(self, *, status: int = 200, **kwargs: Any) -> None:
        self.status = status
        super().__init__(**kwargs)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("*", r"/.*", lambda request: Reply(self.status, {"ok": self.status < 300}))]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, fake: FakeServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        # Keep-alive connections park a thread in a blocking read; closing ends it now.
        with self.connections_lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # the log is RecordedRequest
        pass

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            raw_query=split.query,
        )
        reply = self.server.fake.handle(request)
        payload, headers = reply.encode()
        try:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
