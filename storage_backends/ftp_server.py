"""The FTP server a backend talks to: where it is, how to log in, and how to say what failed.

Each new connection asks the server's host check (``StorageBackend.addresses_for``: the name
looked up once, every address checked under the operator's WORKSPACE_ALLOW_PRIVATE_HOSTS)
and connects to the first of those addresses that accepts; its data connections go to that
same address. The name is never looked up again, so a resolver that answers differently the
second time (DNS rebinding) is never asked. TLS still checks the certificate against the name,
and sends it as SNI.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import PurePosixPath

import aioftp

from storage_backends import explain_error, refuse_every_host, storage_errors
from storage_backends.ftp_client import FtpClient

#: aioftp raises ValueError for replies it cannot parse (a server that does not speak FTP);
#: the host check raises ValueError for a host it refuses.
ERRORS = (aioftp.AIOFTPException, OSError, ValueError)
#: Answers to a write that the server refused for the place (550 no access, 553 name not
#: allowed), and for space (452, 552).
_REFUSED, _FULL = ("550", "553"), ("452", "552")


@dataclass
class FtpServer:
    host: str
    port: int
    user: str
    password: str
    base: PurePosixPath
    passive_commands: tuple[str, ...]
    timeout: float
    tls: ssl.SSLContext | None
    #: The server's host check, set on the backend after it is built; until then every host
    #: is refused.
    addresses_for: Callable[[str], list[str]] = refuse_every_host

    @property
    def location(self) -> str:
        scheme = "ftps" if self.tls else "ftp"
        return f"FTP server {scheme}://{self.user}@{self.host}:{self.port}{self.base}"

    def errors(self, action: str, name: str, stage: str = "") -> AbstractContextManager[None]:
        """Turn aioftp's and the network's errors into a StorageError that says where, what
        and at which stage ("logging in as 'x'") it failed, with a hint where one helps."""

        def reason(exc: BaseException) -> str:
            why = self.reason(exc, action)
            return f"{stage}: {why}" if stage else why

        return storage_errors(self.location, action, name, ERRORS, reason)

    def reason(self, exc: BaseException, action: str = "") -> str:
        if isinstance(exc, aioftp.StatusCodeError):
            info = exc.info if isinstance(exc.info, list) else [exc.info]
            text = " ".join(line.strip() for line in info if line.strip())
            code = exc.received_codes[-1]
            answered = f"the server answered {code} {text}".strip()
            return f"{answered}{self._hint(code, action)}"
        if isinstance(exc, TimeoutError):
            return f"timed out after {self.timeout:g} s"
        return explain_error(exc)

    def _hint(self, code: aioftp.Code, action: str) -> str:
        if action != "writing":
            return ""
        if any(code.matches(c) for c in _FULL):
            return " (the server is out of space, or the user over its quota)"
        if not any(code.matches(c) for c in _REFUSED):
            return ""
        if self.base == PurePosixPath("/"):
            return (
                f" (user {self.user!r} may not write to the top folder / of this server, as "
                "on a chrooted vsftpd: set the base path to a folder the user may write to, "
                "such as /files)"
            )
        return f" (check that user {self.user!r} may create folders and files in {self.base})"

    async def login(self, action: str, name: str) -> FtpClient:
        """A new connection, over TLS if configured, logged in and ready."""
        where = f"connecting to {self.host}:{self.port}"
        with self.errors(action, name, where):
            # A lookup blocks: in a thread, not on the connections' loop.
            addresses = await asyncio.to_thread(self.addresses_for, self.host)
        client = FtpClient(
            timeout=self.timeout,
            passive_commands=self.passive_commands,
            tls=self.tls,
            tls_hostname=self.host,
        )
        try:
            with self.errors(action, name, where):
                await _connect_first(client, addresses, self.port)
            if self.tls is not None:
                with self.errors(action, name, "starting TLS (AUTH TLS)"):
                    await client.start_tls()
            with self.errors(action, name, f"logging in as {self.user!r}"):
                await client.login(self.user, self.password)
                await client.prepare()
        except BaseException:
            client.close()
            raise
        return client


async def _connect_first(client: FtpClient, addresses: list[str], port: int) -> None:
    """Connect to the first of ``addresses`` that answers, in order, as a connection to a
    name tries each of its addresses; the last error if none does."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            await client.connect(address, port)
            return
        except OSError as exc:
            client.close()
            error = exc
    raise error
