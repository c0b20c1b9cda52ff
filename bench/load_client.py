"""A cheap HTTP/1.1 keep-alive load client: asyncio (uvloop when installed) over raw sockets.

The client shares two cores with the server and MySQL, so it does as little as it can: one
prebuilt header block per connection, no HTTP library, response bodies kept only when a
phase asks for them.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

try:
    import uvloop

    LOOP_FACTORY: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
except ImportError:  # plain asyncio works too, it only costs the client more CPU
    LOOP_FACTORY = None

# (method, path with query, JSON body or None)
Request = tuple[str, str, bytes | None]


@dataclass
class Outcome:
    """Latencies and status codes of one measured phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    misses: int = 0
    cpu: float = 0.0
    """CPU seconds this process spent while the requests were in flight (not connecting)."""

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


class HttpLoad:
    """Sends requests built by a callback at a fixed concurrency over keep-alive sockets."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.headers = (
            f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n"
        ).encode()

    def run(
        self,
        make: Callable[[int], Request],
        count: int,
        concurrency: int,
        check: Callable[[int, bytes], bool] | None = None,
    ) -> Outcome:
        """Send ``make(0) .. make(count-1)``; ``check(i, body)`` returning False is a miss."""
        with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
            return runner.run(self._run(make, count, concurrency, check))

    async def _run(
        self,
        make: Callable[[int], Request],
        count: int,
        concurrency: int,
        check: Callable[[int, bytes], bool] | None,
    ) -> Outcome:
        outcome = Outcome()
        counter = iter(range(count))
        conns = [await self._connect() for _ in range(min(concurrency, count))]
        cpu, started = process_cpu(), time.perf_counter()
        await asyncio.gather(*(self._worker(c, make, counter, check, outcome) for c in conns))
        outcome.wall = time.perf_counter() - started
        outcome.cpu = process_cpu() - cpu
        return outcome

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, limit=1 << 22)

    async def _worker(
        self,
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        make: Callable[[int], Request],
        counter: Iterator[int],
        check: Callable[[int, bytes], bool] | None,
        outcome: Outcome,
    ) -> None:
        reader, writer = conn
        for i in counter:
            method, path, body = make(i)
            head = f"{method} {path} HTTP/1.1\r\n".encode() + self.headers
            if body is not None:
                head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            t0 = time.perf_counter()
            writer.write(head + b"\r\n" + (body or b""))
            try:
                status, payload, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                outcome.statuses[0] += 1
                outcome.errors.append(f"{method} {path}: {exc!r}")
                reader, writer = await self._connect()
                continue
            outcome.latencies.append(time.perf_counter() - t0)
            outcome.statuses[status] += 1
            if not 200 <= status < 300:
                if len(outcome.errors) < 5:
                    outcome.errors.append(f"{method} {path} -> {status}: {payload[:300]!r}")
            elif check is not None and not check(i, payload):
                outcome.misses += 1
            if close:
                writer.close()
                reader, writer = await self._connect()
        writer.close()


def process_cpu() -> float:
    """User + system CPU seconds of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if not chunked:
        return status, await reader.readexactly(length), close
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:  # the last chunk; the bench server sends no trailers
            return status, b"".join(p[:-2] for p in parts), close
