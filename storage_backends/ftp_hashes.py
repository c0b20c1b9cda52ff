"""Checking an upload against the server's own hash of the stored file, where it offers one.

Servers announce hash commands in FEAT: ``HASH`` (draft-bryan-ftp-hash, e.g. ``HASH
SHA-256*;SHA-1;MD5;CRC32``, the algorithm chosen with ``OPTS HASH``) or the older one-purpose
XSHA256, XSHA1, XMD5 and XCRC (proftpd's mod_digest offers both kinds; Serv-U, FileZilla
Server and others some of them). The strongest algorithm offered is used. vsftpd, pure-ftpd
and pyftpdlib offer none: there an upload is checked by its size alone.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from storage_backends.ftp_client import ANY, FtpClient

#: (hashlib name, HASH name, one-purpose command, hex digits), strongest first.
ALGORITHMS = (
    ("sha256", "SHA-256", "XSHA256", 64),
    ("sha1", "SHA-1", "XSHA1", 40),
    ("md5", "MD5", "XMD5", 32),
    ("crc32", "CRC32", "XCRC", 8),
)


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class Crc32:
    """zlib's CRC-32 with hashlib's interface."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def hexdigest(self) -> str:
        return f"{self.value:08x}"


@dataclass(frozen=True)
class HashCheck:
    """How to ask one server for the hash of a stored file."""

    algorithm: str
    #: The algorithm's name in HASH's syntax, also used in messages ("SHA-256").
    label: str
    #: "HASH" or the one-purpose command ("XSHA256").
    command: str
    digits: int

    def hasher(self) -> Hasher:
        return Crc32() if self.algorithm == "crc32" else hashlib.new(self.algorithm)

    async def fetch(self, client: FtpClient, path: PurePosixPath) -> str | None:
        """The server's hex digest of the file at ``path``, or None when it does not give
        one (it refused, or answered in a form not understood)."""
        if self.command == "HASH" and client.hash_choice != self.label:
            code, _ = await client.command(f"OPTS HASH {self.label}", ANY)
            if not code.matches("2xx"):
                return None
            client.hash_choice = self.label
        code, info = await client.command(f"{self.command} {path}", ANY)
        if not code.matches("2xx"):
            return None
        # "213 SHA-256 0-1233 <hex> <path>" for HASH, "250 <hex>" for the X commands.
        hex_digits = re.compile(f"[0-9A-Fa-f]{{{self.digits}}}")
        for token in " ".join(info).split():
            if hex_digits.fullmatch(token):
                return token.lower()
        return None


def choose(features: dict[str, str]) -> HashCheck | None:
    """The strongest hash check the server's FEAT offers, if any."""
    offered = {name.rstrip("*").upper() for name in features.get("HASH", "").split(";")}
    for algorithm, label, command, digits in ALGORITHMS:
        if label in offered:
            return HashCheck(algorithm, label, "HASH", digits)
        if command in features:
            return HashCheck(algorithm, label, command, digits)
    return None
