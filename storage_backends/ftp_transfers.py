"""Uploads and downloads of the FTP backend, as tasks on its pool's loop.

An upload: folders made as needed (MKD, remembered per backend so a burst into the same
folders asks once), STOR to a hidden temporary name, the stored size read back with SIZE and,
where the server offers one, its hash compared with the hash of the bytes sent; then RNFR/RNTO
over the final name. Any difference fails the upload and removes the temporary file, so a
file row never points at bytes the server did not keep. A download checks the size first
(a missing object is an answer, not a broken connection) and counts what arrives.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import PurePosixPath

import aioftp
from aioftp.client import DataConnectionThrottleStreamIO

from storage_backends import CHUNK_SIZE, ObjectNotFound, StorageError
from storage_backends.ftp_client import ANY, FtpClient
from storage_backends.ftp_hashes import HashCheck, Hasher, choose
from storage_backends.ftp_pool import Operation, Pool
from storage_backends.ftp_server import ERRORS, FtpServer

#: Folders remembered as made; past this many the memory starts over.
MAX_FOLDERS = 10_000


class Transfers:
    def __init__(self, server: FtpServer, pool: Pool) -> None:
        self.server = server
        self.pool = pool
        # Only touched on the pool's loop.
        self._folders: set[PurePosixPath] = set()

    def _failed(self, name: str, why: str) -> StorageError:
        message = f"{self.server.location}: writing {name!r} failed: {why}"
        return StorageError(message, reason=why)

    async def upload(
        self, op: Operation[int], name: str, temp: PurePosixPath, path: PurePosixPath
    ) -> int:
        """Store the chunks the caller hands in (``None`` ends them) under ``path``."""
        errors = self.server.errors
        async with self.pool.connection("writing", name) as client:
            check = choose(client.features)
            hasher = check.hasher() if check else None
            with errors("writing", name):
                stream = await self._store(client, temp)
            size = 0
            try:
                while True:
                    chunk, reply = await op.request()
                    op.answer(reply, None)  # taken: the caller may prepare the next one
                    if chunk is None:
                        break
                    with errors("writing", name):
                        await stream.write(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    size += len(chunk)
                with errors("writing", name):
                    await stream.finish()
                    await self._verify(client, name, temp, size, check, hasher)
                    await client.rename(temp, path)
            except BaseException:
                stream.close()
                # The connection is mid-transfer (the pool drops it): clean up over another.
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.server.timeout):
                        await self._discard(temp)
                raise
        return size

    async def _store(
        self, client: FtpClient, temp: PurePosixPath
    ) -> DataConnectionThrottleStreamIO:
        folder = temp.parent
        known = folder in self._folders
        if not known:
            await self._make_folders(client, folder)
        try:
            return await client.transfer(f"STOR {temp}")
        except aioftp.StatusCodeError:
            if not known:
                raise
        # Someone removed a folder we made earlier: make it again, once.
        self._folders.discard(folder)
        await self._make_folders(client, folder)
        return await client.transfer(f"STOR {temp}")

    async def _make_folders(self, client: FtpClient, folder: PurePosixPath) -> None:
        """MKD ``folder``; if that fails, its parents first, then again. A refusal of a folder
        that exists is expected (servers answer 550 to both); STOR tells what really failed."""
        if folder in self._folders or folder == folder.parent:
            return
        code, _ = await client.command(f"MKD {folder}", ANY)
        if not code.matches("257"):
            await self._make_folders(client, folder.parent)
            await client.command(f"MKD {folder}", ANY)
        if len(self._folders) >= MAX_FOLDERS:
            self._folders.clear()
        self._folders.add(folder)

    async def _verify(
        self,
        client: FtpClient,
        name: str,
        temp: PurePosixPath,
        size: int,
        check: HashCheck | None,
        hasher: Hasher | None,
    ) -> None:
        stored = await client.size(temp)
        if stored != size:
            got = "nothing" if stored is None else f"{stored} bytes"
            raise self._failed(name, f"the server kept {got} of {size}")
        if check is None or hasher is None:
            return
        theirs = await check.fetch(client, temp)
        ours = hasher.hexdigest()
        if theirs is not None and theirs != ours:
            raise self._failed(
                name,
                f"the server's {check.label} of the stored bytes is {theirs}, not the "
                f"{ours} of the {size} bytes sent",
            )

    async def _discard(self, temp: PurePosixPath) -> None:
        """Remove what a failed upload left; best effort."""
        with suppress(StorageError, *ERRORS):
            async with self.pool.connection("removing", temp.name) as client:
                await client.command(f"DELE {temp}", ANY)

    async def download(self, op: Operation[None], name: str, path: PurePosixPath) -> None:
        """Hand the caller the object's blocks (lists of parts), one per request; an empty one
        at the end."""
        errors = self.server.errors
        async with self.pool.connection("reading", name) as client:
            with errors("reading", name):
                size = await client.size(path)
            if size is None:
                raise ObjectNotFound(f"{self.server.location}: no object {name!r}")
            with errors("reading", name):
                stream = await client.transfer(f"RETR {path}")
            try:
                got = 0
                while True:
                    # Read ahead: the next block arrives while the caller uses this one.
                    with errors("reading", name):
                        block = await _read_block(stream)
                    _, reply = await op.request()
                    if not block:
                        break
                    got += sum(map(len, block))
                    op.answer(reply, block)
                with errors("reading", name):
                    await stream.finish()
            finally:
                stream.close()
            if got != size:
                why = f"the server sent {got} bytes of {size}"
                message = f"{self.server.location}: reading {name!r} failed: {why}"
                raise StorageError(message, reason=why)
            op.answer(reply, [])


async def _read_block(stream: DataConnectionThrottleStreamIO) -> list[bytes]:
    """The parts of up to CHUNK_SIZE bytes, fewer only at the end: each block handed to the
    caller is a trip between threads, and the network delivers 64 KiB at a time."""
    parts: list[bytes] = []
    size = 0
    while size < CHUNK_SIZE:
        part = await stream.read(CHUNK_SIZE - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return parts
