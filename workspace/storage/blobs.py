"""Moving file bytes to and from a storage backend, from the sync code of the services.

Services run in worker threads (Litestar's ``sync_to_thread`` uses asyncio's executor, whose
threads are not anyio's, so ``anyio.from_thread`` does not apply) and the backends are async:
:func:`run_async` runs each backend call on a private event loop in the calling thread. That
loop serves this one call only, so reading and writing the local temporary file inside it
blocks nothing else. Bytes always move in chunks through a temporary file, never as a whole
in memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import IO, Any, BinaryIO, TypeVar

import anyio

from storage_backends import CHUNK_SIZE, ObjectNotFound, StorageBackend, StorageError
from workspace.errors import Unavailable, WorkspaceError

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Tries of a put: writing a content-addressed blob again is harmless, so it is retried.
PUT_ATTEMPTS = 3
RETRY_DELAY = 0.2


class FileDamaged(WorkspaceError):
    """The stored bytes no longer match the file's hash (or are gone): nothing is sent."""

    status = 502
    code = "file_damaged"


def run_async(func: Callable[..., Coroutine[Any, Any, T]], *args: object) -> T:
    """Run an async backend call to the end from sync code.

    A fresh context: a worker thread inherits the request's context variables, which would
    tell anyio that asyncio is running here already. A thread that does run an event loop
    (a sync caller inside async code, such as Playwright's sync API in the tests) hands the
    call to a thread of its own instead of failing."""
    call = functools.partial(contextvars.Context().run, anyio.run, func, *args)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def storage_failed(exc: StorageError) -> Unavailable:
    """The answer to a failed backend: 503 with the backend's own explanation."""
    return Unavailable(f"the file storage failed: {exc.message}", retry_after=5)


def store(backend: StorageBackend, name: str, file: BinaryIO, size: int) -> bool:
    """Put ``file`` under ``name`` unless an object of that size is there already (the same
    content: the name is its hash). Returns whether anything was written."""
    try:
        return run_async(_store, backend, name, file, size)
    except StorageError as exc:
        raise storage_failed(exc) from exc


async def _store(backend: StorageBackend, name: str, file: BinaryIO, size: int) -> bool:
    info = await backend.stat(name)
    if info is not None and info.size == size:
        return False
    for attempt in range(1, PUT_ATTEMPTS + 1):
        try:
            await backend.put(name, _chunks(file))
            return True
        except StorageError as exc:
            if attempt == PUT_ATTEMPTS:
                raise
            log.warning("storing %s failed (attempt %d), retrying: %s", name, attempt, exc)
            await anyio.sleep(RETRY_DELAY * attempt)
    raise AssertionError("unreachable")


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    file.seek(0)
    while chunk := file.read(CHUNK_SIZE):
        yield chunk


def all_exist(backend: StorageBackend, names: Sequence[str]) -> bool:
    try:
        return run_async(_all_exist, backend, names)
    except StorageError as exc:
        raise storage_failed(exc) from exc


async def _all_exist(backend: StorageBackend, names: Sequence[str]) -> bool:
    for name in names:
        if not await backend.exists(name):
            return False
    return True


def delete(backend: StorageBackend, name: str) -> None:
    run_async(backend.delete, name)


def fetch(backends: Sequence[StorageBackend], name: str, sha256: str, label: str) -> IO[bytes]:
    """The blob's bytes in a temporary file (at position 0), checked against ``sha256``.

    Each backend is tried in turn (after a migration the old one still holds a good copy);
    a copy that does not match is logged and never returned. The caller closes the file.
    """
    sink = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller, who closes it)
    try:
        run_async(_fetch, backends, name, sha256, label, sink)
    except StorageError as exc:
        sink.close()
        raise storage_failed(exc) from exc
    except BaseException:
        sink.close()
        raise
    sink.seek(0)
    return sink


async def _fetch(
    backends: Sequence[StorageBackend], name: str, sha256: str, label: str, sink: IO[bytes]
) -> None:
    problems = []
    for backend in backends:
        sink.seek(0)
        sink.truncate()
        digest = hashlib.sha256()
        try:
            async with aclosing(backend.get(name)) as chunks:
                async for chunk in chunks:
                    digest.update(chunk)
                    sink.write(chunk)
        except ObjectNotFound:
            problems.append(f"missing on {backend.location}")
            continue
        if digest.hexdigest() == sha256:
            return
        problems.append(f"damaged on {backend.location} (its content no longer matches its hash)")
    log.error("file %s (blob %s) cannot be read: %s", label, name, "; ".join(problems))
    raise FileDamaged(
        f"{label} cannot be downloaded: the stored copy is "
        + ("; ".join(problems) or "missing")
        + ". Nothing was sent; an administrator can restore it from a backup."
    )


def blob_name(sha256_hex: str) -> str:
    """The storage object name of content with this SHA-256: ``ab/cd/<sha256>``."""
    return f"{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"
