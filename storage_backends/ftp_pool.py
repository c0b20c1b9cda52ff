"""The connections of one FTP backend, kept logged in on an event loop of their own.

Why a loop of its own: the services call a backend through ``run_async``, which makes a fresh
event loop for every call (one upload, one delete of a purge), and an asyncio connection
belongs to the loop that opened it. Kept on the caller's loop, a connection would die with it
after each call; on a loop in a daemon thread it outlives its callers, so a burst of uploads, a
purge or a migration logs in once instead of once per file (proftpd takes ~180 ms a login).

Every operation runs as one task on that loop (:meth:`Pool.start`), which holds its
connection from start to end and hands it back, or drops it, in its own ``finally``: a caller
that is cancelled, or whose loop ends, cannot leak one. The caller talks to the task through
:class:`Operation` (chunks in, blocks out, the result), from any thread and any loop.

Only the pool's own thread touches the idle connections, so they need no lock; a lock guards
only starting and stopping that thread. A connection taken from the pool is checked first (the
server has not closed it, and it answers NOOP within a few seconds) and dropped if not; a
connection whose operation failed in any way is closed, never put back. Idle connections are
closed after ``idle`` seconds, and once none is left and no operation runs, the thread ends:
a backend nobody uses holds no socket and no thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any, Generic, TypeVar

import aioftp

from storage_backends import StorageError
from storage_backends.ftp_client import FtpClient

T = TypeVar("T")
#: What a dead or confused connection raises (aioftp raises ValueError for replies it cannot
#: parse).
BROKEN = (aioftp.AIOFTPException, OSError, ValueError, TimeoutError)
Connect = Callable[[str, str], Awaitable[FtpClient]]
_ABANDONED = object()


class Pool:
    """Up to ``keep`` idle logged-in connections, made by ``connect(action, name)``.

    ``sound_after`` lists the errors after which a connection is still fine to reuse (the
    backend's "no such object", answered by the server in good order).
    """

    def __init__(
        self,
        connect: Connect,
        *,
        keep: int,
        idle: float,
        check_timeout: float,
        sound_after: tuple[type[BaseException], ...] = (),
        name: str = "ftp",
    ) -> None:
        self._connect = connect
        self.keep = keep
        self.idle = idle
        self.check_timeout = check_timeout
        self._sound_after = sound_after
        self._name = name
        #: Connections logged in so far (the benchmark and tests read it).
        self.opened = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = 0
        self._closed = False
        self._pid = os.getpid()
        self._inherited: list[Any] = []
        # Only on the pool's loop:
        self._idle: list[tuple[FtpClient, float]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()  # asyncio itself keeps only weak ones

    # ---- from any thread -------------------------------------------------------------

    def start(self, work: Callable[[Operation[T]], Coroutine[Any, Any, T]]) -> Operation[T]:
        """Run ``work(operation)`` as a task on the pool's loop, starting its thread if
        need be."""
        with self._lock:
            if self._closed:
                raise StorageError("the FTP backend has been closed")
            if self._pid != os.getpid():
                self._forget()
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._serve, args=(self._loop,), name=self._name, daemon=True
                )
                self._thread.start()
            loop = self._loop
            self._running += 1
        operation: Operation[T] = Operation(loop)
        loop.call_soon_threadsafe(self._spawn, operation, work)
        return operation

    def _forget(self) -> None:
        """In a forked child: the parent's loop thread did not come along, and its loop and
        connections are the parent's. They are kept, untouched, for the child's lifetime:
        closing them here would unregister the parent's sockets from the epoll instance
        parent and child share, and a QUIT would end the parent's sessions."""
        self._inherited.append((self._loop, self._idle, self._closing, self._tasks))
        self._pid = os.getpid()
        self._loop = self._thread = None
        self._running = 0
        self._idle, self._closing, self._tasks = [], set(), set()

    def close(self, *, wait: float = 10.0) -> None:
        """Log out of the idle connections and end the thread once running operations are
        done; wait for that up to ``wait`` seconds (0: do not wait). Operations started
        afterwards fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            self._running += 1  # keeps the loop up until the shutdown below has run
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        if wait and threading.current_thread() is not thread:
            thread.join(wait)

    # ---- on the pool's loop ------------------------------------------------------------

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        reaper = loop.create_task(self._reap())
        try:
            loop.run_forever()
        finally:
            reaper.cancel()
            leftovers = asyncio.all_tasks(loop)
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def _spawn(
        self, operation: Operation[T], work: Callable[[Operation[T]], Coroutine[Any, Any, T]]
    ) -> None:
        task = asyncio.get_running_loop().create_task(work(operation))
        operation.task = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._ended, operation))

    def _ended(self, operation: Operation[Any], task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        with self._lock:
            self._running -= 1
        operation.settle(task)
        if self._closed:
            self._stop_if_unused()

    @asynccontextmanager
    async def connection(self, action: str, name: str) -> AsyncIterator[FtpClient]:
        """A sound connection for one operation: an idle one, else a new one."""
        client = await self._take(action, name)
        try:
            yield client
        except self._sound_after:
            self._give_back(client)
            raise
        except BaseException:
            self._retire(client, polite=False)
            raise
        self._give_back(client)

    async def _take(self, action: str, name: str) -> FtpClient:
        while self._idle:
            client, _ = self._idle.pop()  # the most recently used: least likely timed out
            try:
                sound = await self._sound(client)
            except BaseException:
                self._retire(client, polite=False)
                raise
            if sound:
                return client
            self._retire(client, polite=False)
        client = await self._connect(action, name)
        self.opened += 1
        return client

    async def _sound(self, client: FtpClient) -> bool:
        if client.at_eof():
            return False
        try:
            async with asyncio.timeout(self.check_timeout):
                await client.command("NOOP", "200")
        except BROKEN:
            return False
        return True

    def _give_back(self, client: FtpClient) -> None:
        if self._closed or len(self._idle) >= self.keep:
            self._retire(client)
        else:
            self._idle.append((client, time.monotonic()))

    def _retire(self, client: FtpClient, *, polite: bool = True) -> None:
        """Close ``client`` in the background: QUIT first if it is sound."""
        task = asyncio.get_running_loop().create_task(self._close(client, polite))
        self._closing.add(task)
        task.add_done_callback(self._closed_one)

    def _closed_one(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if self._closed:
            self._stop_if_unused()

    async def _close(self, client: FtpClient, polite: bool) -> None:
        if polite:
            with suppress(*BROKEN):
                async with asyncio.timeout(self.check_timeout):
                    await client.command("QUIT", "2xx")
        if client._stream is None:
            return
        writer = client._stream.writer
        client.close()
        # A TLS connection closes in a round trip (close_notify): wait for it, briefly.
        with suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(self.check_timeout):
                await writer.wait_closed()

    async def _reap(self) -> None:
        tick = min(self.idle / 4, 5.0)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            expired = [c for c, since in self._idle if now - since >= self.idle]
            self._idle = [(c, since) for c, since in self._idle if now - since < self.idle]
            for client in expired:
                self._retire(client)
            self._stop_if_unused()

    async def _shutdown(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            self._retire(client)
        with self._lock:
            self._running -= 1
        self._stop_if_unused()

    def _stop_if_unused(self) -> None:
        """End the loop (and so the thread) when nothing is idle, closing or running: on
        the reaper's tick, so a burst of operations keeps one thread, or at once once closed."""
        if self._idle or self._closing:
            return
        with self._lock:
            if self._running or self._loop is None:
                return
            self._loop = self._thread = None
        asyncio.get_running_loop().stop()


class Operation(Generic[T]):
    """A task on a pool's loop, seen from the caller's loop: :meth:`ask` hands it a
    request (a chunk to write, a wish for the next block) and waits for its answer,
    :meth:`result` waits for its end, :meth:`abandon` cancels it and waits until its clean-up
    is done. On the pool's side the task reads requests with :meth:`request` and answers
    them with :meth:`answer`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.task: asyncio.Task[T] | None = None
        self.outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._requests: asyncio.Queue[tuple[Any, concurrent.futures.Future[Any]]] = asyncio.Queue()
        self._watched: asyncio.Future[T] | None = None

    # ---- the caller's side

    def _ended(self) -> asyncio.Future[T]:
        if self._watched is None:
            self._watched = watch(self.outcome)
        return self._watched

    async def ask(self, request: Any) -> Any:
        """The task's answer to ``request``; its error if it ends without answering."""
        reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._requests.put_nowait, (request, reply))
        answer, ended = watch(reply), self._ended()
        await asyncio.wait({answer, ended}, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        ended.result()
        raise RuntimeError("the FTP operation ended without answering")

    async def result(self) -> T:
        return await self._ended()

    async def abandon(self, timeout: float) -> None:
        """Cancel the task and wait, up to ``timeout`` seconds, until it has cleaned up."""
        self._loop.call_soon_threadsafe(self._cancel)
        with suppress(TimeoutError):
            await asyncio.wait_for(watch(self.finished), timeout)
        ended = self._watched
        if ended is not None and ended.done() and not ended.cancelled():
            ended.exception()  # seen: the caller raises its own error instead

    def _cancel(self) -> None:
        # Cancelling alone is not enough on Python 3.11: asyncio.wait_for (which aioftp
        # wraps every read and write in) drops a cancellation that arrives as the awaited
        # write completes, and the task would then wait for a request forever.
        self._requests.put_nowait((_ABANDONED, concurrent.futures.Future()))
        if self.task is not None:
            self.task.cancel()

    # ---- the pool's side

    async def request(self) -> tuple[Any, concurrent.futures.Future[Any]]:
        """The caller's next request; CancelledError once the caller has abandoned."""
        request = await self._requests.get()
        if request[0] is _ABANDONED:
            raise asyncio.CancelledError
        return request

    @staticmethod
    def answer(reply: concurrent.futures.Future[Any], value: Any) -> None:
        with suppress(concurrent.futures.InvalidStateError):
            reply.set_result(value)

    def settle(self, task: asyncio.Task[T]) -> None:
        """Pass the task's outcome on to the caller's side."""
        try:
            if task.cancelled():
                self.outcome.cancel()
            elif (error := task.exception()) is not None:
                self.outcome.set_exception(error)
            else:
                self.outcome.set_result(task.result())
        finally:
            self.finished.set_result(None)


def watch(source: concurrent.futures.Future[T]) -> asyncio.Future[T]:
    """A future of the running loop that completes as ``source`` does. Unlike
    ``asyncio.wrap_future``, cancelling it leaves ``source`` alone, and a ``source`` that
    completes after this loop has closed is ignored rather than raising in its thread."""
    loop = asyncio.get_running_loop()
    target: asyncio.Future[T] = loop.create_future()

    def relay(done: concurrent.futures.Future[T]) -> None:
        with suppress(RuntimeError):  # the caller's loop has closed: nobody waits any more
            loop.call_soon_threadsafe(_copy, done, target)

    source.add_done_callback(relay)
    return target


def _copy(source: concurrent.futures.Future[T], target: asyncio.Future[T]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
