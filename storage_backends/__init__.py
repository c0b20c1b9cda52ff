"""File storage backends: where file bytes live (local folder, S3, FTP), behind one small
interface.

Objects are addressed by *names* the server derives from content hashes ("ab/cd/<sha256>"),
never from user input, and every backend checks them with :func:`check_name`. An object is
visible under its name only once the backend has confirmed the whole of it: backends write to
a temporary name and rename, or complete a multipart upload. Everything streams in chunks.

Built-in backends register through the ``register_storage_backends`` hook exactly as a
third-party backend does (``storage_backends.local``, ``.s3``, ``.ftp`` in DEFAULT_PLUGINS).
This module imports nothing from ``workspace``: ``workspace`` re-exports it for plugins.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

#: Chunk size of downloads. Uploads stream whatever chunks the caller hands in.
CHUNK_SIZE = 1024 * 1024

MAX_NAME_LENGTH = 512
_SEGMENT = r"[0-9a-z_-][0-9a-z._-]{0,199}"
_NAME = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX = re.compile(rf"(?:{_SEGMENT}/)*(?:{_SEGMENT})?")


class StorageError(Exception):
    """A backend could not do what was asked: unreachable, timed out, refused, misconfigured
    on the server side, or the object is missing. The message says where and what failed;
    ``reason`` is the part after "failed:" (for messages that add their own context)."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or message


class ObjectNotFound(StorageError):
    """``get`` of a name that holds no object."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid object name, else raise ValueError.

    Names are lowercase path segments of ``[0-9a-z._-]`` joined by "/", none starting with a
    dot (so no "." or "..", and the backends' hidden temporary names can never collide with
    an object), no leading or doubled "/", no backslash, at most 512 characters.
    """
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise ValueError(f"invalid storage object name {name!r}")
    return name


def check_prefix(prefix: str) -> str:
    """Like :func:`check_name` for the argument of ``list``: "" or the start of a name."""
    if (
        not isinstance(prefix, str)
        or len(prefix) > MAX_NAME_LENGTH
        or not _PREFIX.fullmatch(prefix)
    ):
        raise ValueError(f"invalid storage name prefix {prefix!r}")
    return prefix


def is_name(name: str) -> bool:
    """Whether a stored path is an object name (listings skip temporary and foreign files)."""
    return len(name) <= MAX_NAME_LENGTH and _NAME.fullmatch(name) is not None


def explain_error(exc: BaseException) -> str:
    """A short reason for the errors every network backend meets: timeouts, refusals."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@contextmanager
def storage_errors(
    location: str,
    action: str,
    target: str,
    errors: tuple[type[BaseException], ...],
    reason: Callable[[BaseException], str] = explain_error,
) -> Iterator[None]:
    """Turn a backend library's ``errors`` raised inside the block into a StorageError that
    says where and what failed: "S3 bucket 'b' at http://...: writing 'ab/cd' failed: ..."."""
    try:
        yield
    except StorageError:
        raise
    except errors as exc:
        why = reason(exc)
        raise StorageError(f"{location}: {action} {target!r} failed: {why}", reason=why) from exc


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def refuse_every_host(host: str) -> list[str]:
    """The host check of a backend the server has not given one: it connects nowhere."""
    raise ValueError(f"{host} is refused: the server has not said which hosts may be reached")


class BadConfig(ValueError):
    """A backend's settings are wrong: ``fields`` names each bad key and says why.

    The storage services answer it as a 422 naming the same keys; backends raise it so they
    need nothing of the server but the hook marker.
    """

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class StorageBackend(Protocol):
    """Where file bytes are stored. Implementations are registered as classes through the
    ``register_storage_backends`` hook and built per configuration with ``from_config``.

    Every method raises :class:`StorageError` (never a library's own exception) when the
    backend fails, and ``ValueError`` for an invalid name. Subclass this protocol explicitly
    to inherit :meth:`probe`.
    """

    #: Configuration kind ("local", "s3", "ftp"), unique across plugins.
    kind: ClassVar[str]
    #: Where objects go, for messages and the admin UI; never holds a secret.
    location: str
    #: Looks up a host an admin typed and returns the addresses the backend may connect to,
    #: in order; raises ValueError saying why for a host it refuses. The server sets it after
    #: building the backend (the checks of ``workspace.net``, under its operator's
    #: ``WORKSPACE_ALLOW_PRIVATE_HOSTS``): an admin's settings never decide it. A network
    #: backend connects only to addresses this returned, and never to the name again (a name
    #: may answer differently the second time). Network backends start with
    #: :func:`refuse_every_host`.
    addresses_for: Callable[[str], list[str]]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build a backend from an admin's settings; raise :class:`BadConfig` naming the
        key for a missing, unknown or invalid one. Does no I/O."""
        ...

    async def put(self, name: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the bytes of ``chunks`` under ``name``, replacing any object there, and
        return how many were written. The object becomes visible only when complete: if the
        backend or ``chunks`` fails, nothing is left under ``name`` (and the exception of
        ``chunks`` propagates unchanged)."""
        ...

    def get(self, name: str) -> AsyncGenerator[bytes]:
        """Stream the object's bytes in chunks; :class:`ObjectNotFound` if there is none.
        Close the iterator (``contextlib.aclosing``) when not reading to the end."""
        ...

    async def delete(self, name: str) -> None:
        """Remove the object; deleting a missing one is not an error."""
        ...

    async def exists(self, name: str) -> bool: ...

    async def stat(self, name: str) -> ObjectInfo | None:
        """Size of the object, or None when there is none."""
        ...

    def list(self, prefix: str = "") -> AsyncGenerator[str]:
        """Names of the stored objects starting with ``prefix``, in no particular order.
        Temporary files of unfinished uploads are never listed."""
        ...

    async def probe(self) -> None:
        """Write, read back and delete a probe object ("test connection"); raise a
        StorageError saying which step failed and why."""
        name = f"probe/{uuid.uuid4().hex}"
        payload = f"workspace storage probe {name}\n".encode()
        step = "writing"
        try:
            await self.put(name, one_chunk(payload))
            step = "reading back"
            async with aclosing(self.get(name)) as chunks:
                data = b"".join([chunk async for chunk in chunks])
            if data != payload:
                raise StorageError(
                    f"{len(data)} bytes came back instead of the {len(payload)} written"
                )
            step = "deleting"
            await self.delete(name)
            if await self.exists(name):
                raise StorageError("the object is still there after deleting it")
        except StorageError as exc:
            if step != "writing":
                with suppress(StorageError):
                    await self.delete(name)
            raise StorageError(
                f"Test connection to {self.location} failed {step} a probe object: {exc.reason}",
                reason=exc.reason,
            ) from exc


class StorageBackendRegistry:
    """Backend classes by ``kind``, filled through the ``register_storage_backends`` hook."""

    def __init__(self) -> None:
        self._classes: dict[str, type[StorageBackend]] = {}

    def register(self, backend: type[StorageBackend]) -> None:
        if backend.kind in self._classes:
            raise ValueError(f"storage backend {backend.kind!r} is registered twice")
        self._classes[backend.kind] = backend

    def get(self, kind: str) -> type[StorageBackend]:
        try:
            return self._classes[kind]
        except (KeyError, TypeError):
            raise LookupError(f"unknown storage backend {kind!r}") from None

    def create(self, kind: str, config: Mapping[str, Any]) -> StorageBackend:
        """A backend of ``kind`` built from ``config`` (validated by the backend)."""
        return self.get(kind).from_config(config)

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, kind: object) -> bool:
        return kind in self._classes


__all__ = [
    "CHUNK_SIZE",
    "BadConfig",
    "ObjectInfo",
    "ObjectNotFound",
    "StorageBackend",
    "StorageBackendRegistry",
    "StorageError",
    "check_name",
    "check_prefix",
    "explain_error",
    "is_name",
    "one_chunk",
    "refuse_every_host",
    "storage_errors",
]
