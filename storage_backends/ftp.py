"""FTP and FTPS storage through aioftp, on the servers admins run: vsftpd, proftpd, pure-ftpd,
pyftpdlib. With ``tls`` on, every connection is upgraded with AUTH TLS before logging in
(explicit FTPS, RFC 4217: the password never crosses the wire in clear) and data connections
are protected too (PROT P); the server's certificate is checked against the system's trusted
CAs, or against ``ca_cert`` (PEM) for a server with its own CA.

Connections are kept logged in and reused (:mod:`storage_backends.ftp_pool`); data
connections are passive and start TLS the way vsftpd and pure-ftpd expect
(:mod:`storage_backends.ftp_client`); every connection goes to the address that was checked
(:mod:`storage_backends.ftp_server`).

An upload goes to a hidden temporary name beside the final one (``.<name>.<hex>.part``); its
size is read back with SIZE (vsftpd, proftpd, pure-ftpd and pyftpdlib have it; MLST or a
listing otherwise, which some servers hide dot-files from) and, where the server offers a hash
command (:mod:`storage_backends.ftp_hashes`), its hash too; only then is it renamed over the
name. If anything differs the temporary file is removed and the upload fails. If the server is
gone the temporary file may stay behind: ``list`` never shows it.
"""

from __future__ import annotations

import re
import ssl
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, ClassVar, Self, TypeVar

import aioftp
import anyio

from storage_backends import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    StorageBackend,
    check_name,
    check_prefix,
    is_name,
)
from storage_backends.config import ConfigReader
from storage_backends.ftp_client import ANY
from storage_backends.ftp_pool import Operation, Pool
from storage_backends.ftp_server import FtpServer
from storage_backends.ftp_transfers import Transfers
from workspace.hookspecs import hookimpl

T = TypeVar("T")
PASSIVE_COMMANDS = ("epsv", "pasv")
#: Idle connections a backend keeps logged in, and for how long.
KEEP_CONNECTIONS = 4
IDLE_SECONDS = 20.0
#: How long a connection taken from the pool may take to answer NOOP.
CHECK_SECONDS = 5.0
_BASE = re.compile(r"/[A-Za-z0-9._/-]*")


@hookimpl
def register_storage_backends(register: Any) -> None:
    register(FtpBackend)


class FtpBackend(StorageBackend):
    """Objects under ``base_path`` on an FTP server.

    Every new connection goes to an address ``addresses_for`` (the server's host check, set
    after building) returned for the host; ``keep_connections`` 0 logs in afresh for every
    operation.
    Call :meth:`close` to log out of the kept connections (a backend nobody holds any more
    is closed when it is garbage collected, and idle connections close after 20 s anyway).
    """

    kind: ClassVar[str] = "ftp"

    def __init__(
        self,
        host: str,
        *,
        port: int = 21,
        user: str = "anonymous",
        password: str = "",
        base_path: str = "/",
        passive_commands: tuple[str, ...] = PASSIVE_COMMANDS,
        timeout: float = 30.0,
        tls: ssl.SSLContext | None = None,
        keep_connections: int = KEEP_CONNECTIONS,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.base = PurePosixPath(base_path)
        self.timeout = timeout
        self.server = FtpServer(
            host=host,
            port=port,
            user=user,
            password=password,
            base=self.base,
            passive_commands=passive_commands,
            timeout=timeout,
            tls=tls,
        )
        self.location = self.server.location
        self.pool = Pool(
            self.server.login,
            keep=keep_connections,
            idle=IDLE_SECONDS,
            check_timeout=min(CHECK_SECONDS, timeout),
            sound_after=(ObjectNotFound,),
            name=f"ftp {host}:{port}",
        )
        self.transfers = Transfers(self.server, self.pool)
        # The pool holds no reference back to the backend, so this can run.
        weakref.finalize(self, self.pool.close, wait=0)

    @property
    def addresses_for(self) -> Callable[[str], list[str]]:
        return self.server.addresses_for

    @addresses_for.setter
    def addresses_for(self, check: Callable[[str], list[str]]) -> None:
        self.server.addresses_for = check

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, keep_connections: int = KEEP_CONNECTIONS
    ) -> Self:
        read = ConfigReader(cls.kind, config)
        host = read.text("host")
        base_path = read.text("base_path", "/")
        if isinstance(base_path, str) and (not _BASE.fullmatch(base_path) or ".." in base_path):
            read.error("base_path", "must start with / and hold only letters, digits and . _ / -")
        passive = config.get("passive_commands", PASSIVE_COMMANDS)
        read.seen.add("passive_commands")
        if (
            not isinstance(passive, list | tuple)
            or not passive
            or not set(passive) <= set(PASSIVE_COMMANDS)
        ):
            read.error("passive_commands", "must list one or both of epsv, pasv")
            passive = PASSIVE_COMMANDS
        credentials = {
            "user": read.text("user", "anonymous"),
            "password": read.text("password", ""),
        }
        for key, value in credentials.items():
            if isinstance(value, str) and ("\r" in value or "\n" in value):
                read.error(key, "must be one line")
        tls = _tls_context(read)
        options = {
            "tls": tls,
            "port": read.integer("port", 21, 1, 65535),
            **credentials,
            "base_path": base_path,
            "passive_commands": tuple(passive),
            "timeout": read.timeout(),
        }
        read.done()
        return cls(host, keep_connections=keep_connections, **options)

    def close(self) -> None:
        """Log out of the kept connections and end the backend's connection thread."""
        self.pool.close()

    def _path(self, name: str) -> PurePosixPath:
        return self.base.joinpath(*check_name(name).split("/"))

    # ---- the caller's side: each operation is a task on the pool's loop ------------------

    async def _run(self, work: Callable[[Operation[T]], Coroutine[Any, Any, T]]) -> T:
        operation = self.pool.start(work)
        try:
            return await operation.result()
        except BaseException:
            await self._abandon(operation)
            raise

    async def _abandon(self, operation: Operation[Any]) -> None:
        with anyio.CancelScope(shield=True):
            await operation.abandon(self.timeout)

    async def put(self, name: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(name)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        operation = self.pool.start(lambda op: self.transfers.upload(op, name, temp, path))
        try:
            # Handed over in blocks of about CHUNK_SIZE: each hand-over is a trip between
            # threads, and web uploads come in 64 KiB chunks.
            block: list[bytes] = []
            size = 0
            async for chunk in chunks:
                block.append(chunk)
                size += len(chunk)
                if size >= CHUNK_SIZE:
                    await operation.ask(b"".join(block))
                    block, size = [], 0
            if size:
                await operation.ask(b"".join(block))
            await operation.ask(None)
            return await operation.result()
        except BaseException:
            await self._abandon(operation)
            raise

    async def get(self, name: str) -> AsyncGenerator[bytes]:
        path = self._path(name)
        operation = self.pool.start(lambda op: self.transfers.download(op, name, path))
        try:
            while block := await operation.ask(CHUNK_SIZE):
                for part in block:
                    yield part
            await operation.result()
        except BaseException:
            await self._abandon(operation)
            raise

    async def delete(self, name: str) -> None:
        path = self._path(name)
        await self._run(lambda op: self._delete(name, path))

    async def exists(self, name: str) -> bool:
        return await self.stat(name) is not None

    async def stat(self, name: str) -> ObjectInfo | None:
        path = self._path(name)
        return await self._run(lambda op: self._stat(name, path))

    async def list(self, prefix: str = "") -> AsyncGenerator[str]:
        check_prefix(prefix)
        for name in await self._run(lambda op: self._list(prefix)):
            yield name

    # ---- the pool's side ---------------------------------------------------------------

    async def _delete(self, name: str, path: PurePosixPath) -> None:
        async with self.pool.connection("deleting", name) as client:
            with self.server.errors("deleting", name):
                code, info = await client.command(f"DELE {path}", ANY)
                if code.matches("2xx"):
                    return
                if code.matches("550") and await client.size(path) is None:
                    return  # nothing there: deleting it twice is not an error
                client.check_codes((aioftp.Code("250"),), code, info)

    async def _stat(self, name: str, path: PurePosixPath) -> ObjectInfo | None:
        async with self.pool.connection("checking", name) as client:
            with self.server.errors("checking", name):
                size = await client.size(path)
        return None if size is None else ObjectInfo(size)

    async def _list(self, prefix: str) -> Sequence[str]:
        folder = prefix.rpartition("/")[0]
        start = self.base.joinpath(*folder.split("/")) if folder else self.base
        found = []
        async with self.pool.connection("listing", prefix) as client:
            with self.server.errors("listing", prefix):
                if start != self.base and await client.size(start) is not None:
                    return []  # a file where the prefix's folder would be
                pending = [start]
                while pending:
                    for path, info in await client.entries(pending.pop()):
                        name = path.relative_to(self.base).as_posix()
                        if info["type"] == "dir" and _may_hold(name, prefix):
                            pending.append(path)
                        elif info["type"] == "file" and name.startswith(prefix) and is_name(name):
                            found.append(name)
        return found


def _may_hold(folder: str, prefix: str) -> bool:
    """Whether names starting with ``prefix`` can lie inside ``folder`` (a relative path)."""
    return (folder + "/").startswith(prefix) or prefix.startswith(folder + "/")


def _tls_context(read: ConfigReader) -> ssl.SSLContext | None:
    """The TLS context of ``tls: true``, trusting ``ca_cert`` (PEM) when given."""
    tls = read.boolean("tls", False)
    ca_cert = read.text("ca_cert", None)
    if not tls:
        if ca_cert:
            read.error("ca_cert", "applies only with tls on")
        return None
    try:
        return (
            ssl.create_default_context(cadata=ca_cert) if ca_cert else ssl.create_default_context()
        )
    except (ssl.SSLError, ValueError):
        read.error("ca_cert", "must be a PEM certificate (-----BEGIN CERTIFICATE-----...)")
        return None
