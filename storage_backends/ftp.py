"""FTP and FTPS storage through aioftp: one connection per operation, passive data
connections. With ``tls`` on, every connection is upgraded with AUTH TLS before logging in
(explicit FTPS, RFC 4217: the password never crosses the wire in clear) and data connections
are protected too (PROT P); the server's certificate is checked against the system's trusted
CAs, or against ``ca_cert`` (PEM) for a server with its own CA.

An upload goes to a hidden temporary name beside the final one, its size is checked on the
server, then it is renamed over the name. If the upload fails the temporary file is removed
through a fresh connection; if the server is gone, a hidden ``.<name>.<hex>.part`` file may
stay behind, which ``list`` never shows.
"""

from __future__ import annotations

import re
import ssl
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import PurePosixPath
from typing import Any, ClassVar, Self

import aioftp
import anyio

from storage_backends import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    StorageBackend,
    StorageError,
    check_name,
    check_prefix,
    explain_error,
    is_name,
    storage_errors,
)
from storage_backends.config import ConfigReader
from workspace.hookspecs import hookimpl

#: aioftp raises ValueError for replies it cannot parse (a server that does not speak FTP).
ERRORS = (aioftp.AIOFTPException, OSError, ValueError)
PASSIVE_COMMANDS = ("epsv", "pasv")
_BASE = re.compile(r"/[A-Za-z0-9._/-]*")


@hookimpl
def register_storage_backends(register: Any) -> None:
    register(FtpBackend)


class FtpBackend(StorageBackend):
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
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.base = PurePosixPath(base_path)
        self.passive_commands = passive_commands
        self.timeout = timeout
        self.tls = tls
        scheme = "ftps" if tls else "ftp"
        self.location = f"FTP server {scheme}://{user}@{host}:{port}{self.base}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
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
        return cls(host, **options)

    def _path(self, name: str) -> PurePosixPath:
        return self.base.joinpath(*check_name(name).split("/"))

    def _errors(self, action: str, name: str, stage: str = "") -> Any:
        def reason(exc: BaseException) -> str:
            return f"{stage}: {self._reason(exc)}" if stage else self._reason(exc)

        return storage_errors(self.location, action, name, ERRORS, reason)

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, aioftp.StatusCodeError):
            info = exc.info if isinstance(exc.info, list) else [exc.info]
            text = " ".join(line.strip() for line in info if line.strip())
            return f"the server answered {exc.received_codes[-1]} {text}".strip()
        if isinstance(exc, TimeoutError):
            return f"timed out after {self.timeout:g} s"
        return explain_error(exc)

    @asynccontextmanager
    async def _session(self, action: str, name: str) -> AsyncIterator[aioftp.Client]:
        """A logged-in connection for one operation; QUIT when the operation went well."""
        client = aioftp.Client(
            socket_timeout=self.timeout,
            connection_timeout=self.timeout,
            passive_commands=self.passive_commands,
            # Data connections go to the host the admin gave (its check holds), never to the
            # address a server names in its PASV reply (which could point inside our network).
            trust_server_pasv_ipv4_address=False,
        )
        try:
            with self._errors(action, name, f"connecting to {self.host}:{self.port}"):
                await client.connect(self.host, self.port)
            if self.tls is not None:
                with self._errors(action, name, "starting TLS (AUTH TLS)"):
                    await client.upgrade_to_tls(self.tls)
            with self._errors(action, name, f"logging in as {self.user!r}"):
                await client.login(self.user, self.password)
            yield client
            with suppress(*ERRORS):
                await client.command("QUIT", "2xx")
        finally:
            if client._stream is not None:
                with anyio.CancelScope(shield=True):
                    await self._close(client._stream)

    async def _close(self, stream: Any) -> None:
        """Close a control or data connection and wait until it is closed: a TLS connection
        closes in a round trip, which must not be left to a loop that is about to end."""
        stream.close()
        with suppress(OSError, ssl.SSLError), anyio.move_on_after(self.timeout):
            await stream.writer.wait_closed()

    async def put(self, name: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(name)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        size = 0
        async with self._session("writing", name) as client:
            with self._errors("writing", name):
                await client.make_directory(path.parent)
                stream = await client.upload_stream(temp)
            try:
                async for chunk in chunks:
                    with self._errors("writing", name):
                        await stream.write(chunk)
                    size += len(chunk)
                with self._errors("writing", name):
                    await stream.finish()
                    stored = await _stat(client, temp)
                    if stored is None or stored.size != size:
                        got = "nothing" if stored is None else f"{stored.size} bytes"
                        raise StorageError(
                            f"{self.location}: writing {name!r} failed: the server kept "
                            f"{got} of {size}"
                        )
                    await client.rename(temp, path)
            except BaseException:
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.timeout):
                    await self._close(stream)
                    await self._discard(temp)
                raise
            await self._close(stream)
        return size

    async def _discard(self, temp: PurePosixPath) -> None:
        """Remove what a failed upload left, over a fresh connection; best effort."""
        with suppress(StorageError, *ERRORS):
            async with self._session("removing", temp.name) as client:
                await client.remove_file(temp)

    async def get(self, name: str) -> AsyncGenerator[bytes]:
        path = self._path(name)
        async with self._session("reading", name) as client:
            with self._errors("reading", name):
                # Asked first: aioftp leaks the data connection when RETR is refused.
                info = await _stat(client, path)
                if info is None:
                    raise ObjectNotFound(f"{self.location}: no object {name!r}")
                stream = await client.download_stream(path)
            size = 0
            try:
                while True:
                    with self._errors("reading", name):
                        block = await stream.read(CHUNK_SIZE)
                    if not block:
                        break
                    size += len(block)
                    yield block
                with self._errors("reading", name):
                    await stream.finish()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._close(stream)
            if size != info.size:
                raise StorageError(
                    f"{self.location}: reading {name!r} failed: the server sent {size} bytes "
                    f"of {info.size}"
                )

    async def delete(self, name: str) -> None:
        path = self._path(name)
        async with self._session("deleting", name) as client:
            with self._errors("deleting", name):
                try:
                    await client.remove_file(path)
                except aioftp.StatusCodeError as exc:
                    if not exc.received_codes[-1].matches("550") or await _stat(client, path):
                        raise

    async def exists(self, name: str) -> bool:
        return await self.stat(name) is not None

    async def stat(self, name: str) -> ObjectInfo | None:
        path = self._path(name)
        async with self._session("checking", name) as client:
            with self._errors("checking", name):
                return await _stat(client, path)

    async def list(self, prefix: str = "") -> AsyncGenerator[str]:
        folder = check_prefix(prefix).rpartition("/")[0]
        start = self.base.joinpath(*folder.split("/")) if folder else self.base
        async with self._session("listing", prefix) as client:
            with self._errors("listing", prefix):
                try:
                    found = await client.is_dir(start)
                except aioftp.StatusCodeError as exc:
                    if not exc.received_codes[-1].matches("550"):
                        raise
                    found = False
                entries = await client.list(start, recursive=True) if found else []
        for path, info in entries:
            name = path.relative_to(self.base).as_posix()
            if info["type"] == "file" and name.startswith(prefix) and is_name(name):
                yield name


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


async def _stat(client: aioftp.Client, path: PurePosixPath) -> ObjectInfo | None:
    try:
        info = await client.stat(path)
    except aioftp.StatusCodeError as exc:
        if exc.received_codes[-1].matches("550"):
            return None
        raise
    return ObjectInfo(int(info["size"])) if info.get("type") == "file" else None
