"""pyftpdlib acting like the many FTP servers out there, one kind per user, for the FTP
backend's checks: ``python -m tests.ftp_variants_server --port N --home DIR --password PW``.

A login is ``<kind>`` or ``<kind>-<damage>``. The kind says what FEAT offers beyond pyftpdlib's
own SIZE and MLST: ``hash`` (HASH, with OPTS HASH choosing SHA-256, SHA-1, MD5 or CRC32, as
proftpd's mod_digest), ``xsha256``, ``xsha1``, ``xmd5``, ``xcrc`` (the one-purpose commands),
``plain`` (nothing more), ``nosize`` (no SIZE) or ``bare`` (neither SIZE nor MLST: listings
only, as old servers). The damage is done to files of 1 KiB and more once received: ``rot``
flips one byte (same size, other bytes: only a hash sees it), ``short`` drops the last one. A
short probe object is left alone, so a connection test passes. Every hash answered is logged,
so a test can tell the check really ran.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import zlib
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

log = logging.getLogger("variants")
KINDS = ("hash", "xsha256", "xsha1", "xmd5", "xcrc", "plain", "nosize", "bare")
DAMAGES = ("rot", "short")
DAMAGE_FROM = 1024
#: HASH's names of the algorithms, by hashlib name.
LABELS = {"sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5", "crc32": "CRC32"}
#: The one-purpose hash commands and their algorithm.
COMMANDS = {"XSHA256": "sha256", "XSHA1": "sha1", "XMD5": "md5", "XCRC": "crc32"}
NOT_HERE = "502 Command not implemented."


def digest(path: str, algorithm: str) -> str:
    data = Path(path).read_bytes()
    if algorithm == "crc32":
        return f"{zlib.crc32(data):08x}"
    return hashlib.new(algorithm, data).hexdigest()


class VariantHandler(FTPHandler):  # type: ignore[misc]
    proto_cmds = {
        **FTPHandler.proto_cmds,
        **{
            command: {"perm": "r", "auth": True, "arg": True, "help": f"{command} <SP> file."}
            for command in ("HASH", *COMMANDS)
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choice = "sha256"

    def kind(self) -> str:
        return (self.username or "").partition("-")[0]

    def damage(self) -> str:
        return (self.username or "").partition("-")[2]

    def ftp_FEAT(self, line: str) -> None:
        kind = self.kind()
        features = ["EPRT", "EPSV", "MDTM", "REST STREAM", "TVFS", "UTF8"]
        if kind not in ("nosize", "bare"):
            features.append("SIZE")
        if kind != "bare":
            features.append("MLST type*;size*;modify*;")
        if kind == "hash":
            chosen = LABELS[self.choice]
            features.append("HASH " + ";".join(n + "*" * (n == chosen) for n in LABELS.values()))
        elif kind.upper() in COMMANDS:
            features.append(kind.upper())
        self.push("211-Features supported:\r\n")
        self.push("".join(f" {feature}\r\n" for feature in sorted(features)))
        self.respond("211 End FEAT.")

    def ftp_SIZE(self, path: str) -> None:
        if self.kind() in ("nosize", "bare"):
            return self.respond(NOT_HERE)
        super().ftp_SIZE(path)

    def ftp_MLST(self, path: str) -> None:
        if self.kind() == "bare":
            return self.respond(NOT_HERE)
        super().ftp_MLST(path)

    def ftp_MLSD(self, path: str) -> None:
        if self.kind() == "bare":
            return self.respond(NOT_HERE)
        super().ftp_MLSD(path)

    def ftp_OPTS(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        if name.upper() != "HASH" or self.kind() != "hash":
            return super().ftp_OPTS(line)
        choices = {label: algorithm for algorithm, label in LABELS.items()}
        if arg.upper() not in choices:
            return self.respond("501 Unknown algorithm.")
        self.choice = choices[arg.upper()]
        self.respond(f"200 {arg.upper()}")

    def ftp_HASH(self, path: str) -> None:
        if self.kind() != "hash":
            return self.respond(NOT_HERE)
        value = self._digest("HASH", path, self.choice)
        size = Path(path).stat().st_size
        where = self.fs.fs2ftp(path)
        self.respond(f"213 {LABELS[self.choice]} 0-{max(size - 1, 0)} {value} {where}")

    def _one_purpose(self, command: str, path: str) -> None:
        if self.kind() != command.lower():
            return self.respond(NOT_HERE)
        self.respond(f"250 {self._digest(command, path, COMMANDS[command])}")

    def ftp_XSHA256(self, path: str) -> None:
        self._one_purpose("XSHA256", path)

    def ftp_XSHA1(self, path: str) -> None:
        self._one_purpose("XSHA1", path)

    def ftp_XMD5(self, path: str) -> None:
        self._one_purpose("XMD5", path)

    def ftp_XCRC(self, path: str) -> None:
        self._one_purpose("XCRC", path)

    def _digest(self, command: str, path: str, algorithm: str) -> str:
        value = digest(path, algorithm)
        log.info("%s %s -> %s", command, self.fs.fs2ftp(path), value)
        return value

    def on_file_received(self, file: str) -> None:
        size = Path(file).stat().st_size
        if size < DAMAGE_FROM or not self.damage():
            return
        with open(file, "r+b") as damaged:
            if self.damage() == "short":
                damaged.truncate(size - 1)
                return
            damaged.seek(size // 2)
            byte = damaged.read(1)
            damaged.seek(size // 2)
            damaged.write(bytes([byte[0] ^ 0xFF]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    authorizer = DummyAuthorizer()
    for kind in KINDS:
        for user in (kind, *(f"{kind}-{damage}" for damage in DAMAGES)):
            authorizer.add_user(user, args.password, args.home, perm="elradfmwMT")
    VariantHandler.authorizer = authorizer
    FTPServer(("127.0.0.1", args.port), VariantHandler).serve_forever()


if __name__ == "__main__":
    main()
