"""One logged-in FTP control connection: aioftp's client, driven the way vsftpd and pure-ftpd
expect, plus the few commands the backend needs (FEAT, SIZE, the hash commands).

aioftp's own transfers (``upload_stream``, ``download_stream``, ``list``) open a passive data
connection with TLS already on it when the control connection uses TLS: the handshake starts
as the connection opens, before the transfer command is sent. vsftpd and pure-ftpd accept the
data connection only once they have the command (RETR, STOR, LIST), answer 150 and only then
start TLS, so each side waits for the other until the timeout. :meth:`FtpClient.transfer`
does it in their order instead: a plain TCP connection, the command, its 1xx answer, then the
TLS handshake (reusing the control connection's TLS session, which vsftpd requires by default
with ``require_ssl_reuse``). pyftpdlib and proftpd accept either order. The backend never calls
aioftp's transfer helpers; it uses this subclass's methods and aioftp's reply and listing
parsers.

Connections go to a literal address (see ``FtpServer.login``) while TLS checks the server's
certificate against the host name the admin typed (SNI included), so :meth:`start_tls` and
:meth:`transfer` pass ``tls_hostname`` rather than the address connected to.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import aioftp
from aioftp.client import DataConnectionThrottleStreamIO, ListInfo
from aioftp.common import SSLSessionBoundContext

#: What a server answers to a command it does not know or does not allow here.
UNSUPPORTED = ("500", "501", "502", "504")
#: What servers answer about a path that is not there (pyftpdlib: 501 to MLSD and MLST).
MISSING = ("550", "501")
#: Expected codes that let any answer through, for commands whose refusal is an answer too.
ANY = "xxx"


class FtpClient(aioftp.Client):
    """aioftp's client with data connections that start TLS after the transfer command."""

    def __init__(
        self,
        *,
        timeout: float,
        passive_commands: tuple[str, ...],
        tls: ssl.SSLContext | None,
        tls_hostname: str,
    ) -> None:
        # Data connections go to the address the control connection went to, never to the
        # one a server names in its PASV reply (which could point inside our network).
        super().__init__(
            socket_timeout=timeout,
            connection_timeout=timeout,
            passive_commands=passive_commands,
            trust_server_pasv_ipv4_address=False,
        )
        self.timeout = timeout
        self.tls = tls
        self.tls_hostname = tls_hostname
        #: FEAT lines by feature name ("SIZE": "", "HASH": "SHA-256*;MD5", ...).
        self.features: dict[str, str] = {}
        #: The algorithm chosen with OPTS HASH on this connection (see ftp_hashes).
        self.hash_choice: str | None = None
        self._size_works = True

    async def start_tls(self) -> None:
        """AUTH TLS on the control connection, then protect data connections (PBSZ, PROT)."""
        assert self.tls is not None
        await self.command("AUTH TLS", "234")
        await self.stream.start_tls(sslcontext=self.tls, server_hostname=self.tls_hostname)
        await self.command("PBSZ 0", "200")
        await self.command("PROT P", "200")

    async def prepare(self) -> None:
        """After logging in: learn the server's features and switch to binary once (SIZE is
        refused in ASCII mode by pyftpdlib and counts differently elsewhere)."""
        code, info = await self.command("FEAT", ANY)
        if code.matches("211"):
            self.features = parse_features(info)
        await self.command("TYPE I", "200")

    def at_eof(self) -> bool:
        """Whether the server has closed the control connection (or it was never opened)."""
        return self._stream is None or self._stream.reader.at_eof()

    async def size(self, path: PurePosixPath) -> int | None:
        """The size of the file at ``path``; None when there is no file there (a folder is
        not a file). SIZE where the server has it, else MLST, else a listing of the folder
        (which some servers keep dot-files out of)."""
        if self._size_works:
            code, info = await self.command(f"SIZE {path}", ANY)
            if code.matches("213"):
                return int(info[0].strip())
            if code.matches("550"):
                return None
            if not any(code.matches(c) for c in UNSUPPORTED):
                self.check_codes((aioftp.Code("213"),), code, info)
            self._size_works = False
        facts: Mapping[str, Any]
        if "MLST" in self.features:
            code, info = await self.command(f"MLST {path}", ANY)
            if any(code.matches(c) for c in MISSING):
                return None
            self.check_codes((aioftp.Code("250"),), code, info)
            facts = self.parse_mlsx_line(info[1].lstrip())[1]
        else:
            found = {p.name: i for p, i in await self.entries(path.parent)}
            facts = found.get(path.name, {})
        return int(facts["size"]) if facts.get("type") == "file" else None

    async def transfer(self, command: str) -> DataConnectionThrottleStreamIO:
        """A data connection for ``command`` (RETR, STOR, LIST...): passive TCP connection
        first, then the command and its 1xx answer, then TLS when the control connection
        has it. The caller reads or writes, then calls ``finish()`` for the 2xx answer."""
        port = await self._passive_port()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can drop a connection that
        # opened just as it was cancelled, leaving the socket open.
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(self.server_host, port)
        try:
            await self.command(command, "1xx")
            if self.tls is not None:
                await writer.start_tls(
                    self._data_tls_context(),
                    server_hostname=self.tls_hostname,
                    ssl_handshake_timeout=self.timeout,
                )
        except BaseException:
            writer.close()
            raise
        return DataConnectionThrottleStreamIO(
            self, reader, writer, throttles={"_": self.throttle}, timeout=self.timeout
        )

    async def entries(self, folder: PurePosixPath) -> list[tuple[PurePosixPath, ListInfo]]:
        """The entries in ``folder`` with their facts (``type``: "file", "dir"..., ``size``),
        empty if there is no such folder. MLSD where the server has it (its facts are exact),
        else LIST."""
        machine = "MLST" in self.features
        parse = self.parse_mlsx_line if machine else self.parse_list_line
        try:
            stream = await self.transfer(f"{'MLSD' if machine else 'LIST'} {folder}")
        except aioftp.StatusCodeError as exc:
            if any(exc.received_codes[-1].matches(c) for c in MISSING):
                return []
            raise
        lines = []
        try:
            while line := await stream.readline():
                lines.append(line)
            await stream.finish()
        finally:
            stream.close()
        entries = []
        for line in lines:
            try:
                path, info = parse(line)
            except ValueError:
                continue  # a line no parser knows ("total 12"): not an entry
            if path.name not in ("", ".", ".."):
                entries.append((folder / path.name, info))
        return entries

    async def _passive_port(self) -> int:
        for number, name in enumerate(self._passive_commands, start=1):
            try:
                if name == "epsv":
                    return (await self._do_epsv())[1]
                return (await self._do_pasv())[1]
            except aioftp.StatusCodeError as exc:
                if number == len(self._passive_commands) or not exc.received_codes[-1].matches(
                    "50x"
                ):
                    raise
        raise ValueError("no passive command configured")

    def _data_tls_context(self) -> ssl.SSLContext:
        """The control connection's context bound to its TLS session, so the data
        connection resumes that session (servers check it is the same client)."""
        ssl_object = self.stream.writer.transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.session is None:
            assert self.tls is not None
            return self.tls
        return SSLSessionBoundContext(
            ssl.PROTOCOL_TLS_CLIENT, context=ssl_object.context, session=ssl_object.session
        )


def parse_features(lines: list[str]) -> dict[str, str]:
    """FEAT's answer (``211-Features:``, `` SIZE``, `` HASH SHA-256*;MD5``, ``211 End``) as
    {name: parameters}; the first and last lines are not features."""
    features = {}
    for line in lines[1:-1]:
        name, _, params = line.strip().partition(" ")
        if name:
            features[name.upper()] = params.strip()
    return features
