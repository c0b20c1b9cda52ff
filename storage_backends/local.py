"""Local folder storage: the embedded default.

File I/O runs in worker threads (anyio). An upload goes to a hidden temporary file beside
its final name, is fsynced, then renamed over the name, and the folder is fsynced: a crash
leaves either the old object or the new one, never half of one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar, Self

import anyio

from storage_backends import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    StorageBackend,
    check_name,
    check_prefix,
    is_name,
    storage_errors,
)
from storage_backends.config import ConfigReader
from workspace.hookspecs import hookimpl


@hookimpl
def register_storage_backends(register: Any) -> None:
    register(LocalBackend)


class LocalBackend(StorageBackend):
    kind: ClassVar[str] = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.location = f"local folder {self.root}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(cls.kind, config)
        path = read.text("path")
        read.done()
        return cls(Path(path))

    def _path(self, name: str) -> Path:
        path = self.root.joinpath(*check_name(name).split("/"))
        # check_name already rules out "..", "/x" and "\\"; this guards the guard.
        if self.root not in path.parents:
            raise ValueError(f"invalid storage object name {name!r}")
        return path

    def _errors(self, action: str, name: str) -> Any:
        return storage_errors(self.location, action, name, (OSError,))

    async def put(self, name: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(name)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        with self._errors("writing", name):
            await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
            file = await anyio.open_file(temp, "xb")
        size = 0
        try:
            async for chunk in chunks:
                with self._errors("writing", name):
                    await file.write(chunk)
                size += len(chunk)
            with self._errors("writing", name):
                await file.flush()
                await anyio.to_thread.run_sync(os.fsync, file.wrapped.fileno())
                await file.aclose()
                await anyio.to_thread.run_sync(_replace, temp, path)
        except BaseException:
            with anyio.CancelScope(shield=True), suppress(OSError):
                await file.aclose()
                await anyio.to_thread.run_sync(lambda: temp.unlink(missing_ok=True))
            raise
        return size

    async def get(self, name: str) -> AsyncGenerator[bytes]:
        path = self._path(name)
        with self._errors("reading", name):
            try:
                file = await anyio.open_file(path, "rb")
            except (FileNotFoundError, NotADirectoryError):
                raise ObjectNotFound(f"{self.location}: no object {name!r}") from None
        async with file:
            while True:
                with self._errors("reading", name):
                    chunk = await file.read(CHUNK_SIZE)
                if not chunk:
                    return
                yield chunk

    async def delete(self, name: str) -> None:
        path = self._path(name)
        with self._errors("deleting", name):
            await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def exists(self, name: str) -> bool:
        return await self.stat(name) is not None

    async def stat(self, name: str) -> ObjectInfo | None:
        path = self._path(name)
        with self._errors("checking", name):
            return await anyio.to_thread.run_sync(_stat, path)

    async def list(self, prefix: str = "") -> AsyncGenerator[str]:
        folder = check_prefix(prefix).rpartition("/")[0]
        with self._errors("listing", prefix):
            names = await anyio.to_thread.run_sync(_walk, self.root, folder)
        for name in names:
            if name.startswith(prefix):
                yield name


def _replace(temp: Path, path: Path) -> None:
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _stat(path: Path) -> ObjectInfo | None:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return ObjectInfo(info.st_size) if path.is_file() else None


def _walk(root: Path, folder: str) -> list[str]:
    """Names of the files under ``root/folder``; hidden (temporary) files and folders and
    anything that is not a valid name are skipped."""
    start = root.joinpath(*folder.split("/")) if folder else root
    names = []
    for current, dirs, files in os.walk(start):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(current).relative_to(root).as_posix()
        for file in files:
            name = file if base == "." else f"{base}/{file}"
            if is_name(name):
                names.append(name)
    return names
