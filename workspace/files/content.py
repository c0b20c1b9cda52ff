"""What an uploaded file is, decided from its bytes: size, SHA-256, content type, a safe name.

The client's file name is kept for display only and its declared content type is ignored:
the type is sniffed from the first bytes with ``filetype`` (pure Python magic-number tables,
so no libmagic on the host; see the README). Anything it does not know is text when it
decodes as UTF-8, else ``application/octet-stream``: only the raster image types decide how a
file is served (inline), and those ``filetype`` recognises exactly.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

import filetype  # type: ignore[import-untyped]

from storage_backends import CHUNK_SIZE

#: Bytes read to sniff the type (filetype needs 261; text detection likes a little more).
HEAD = 8192
#: Types served inline (shown in the browser); everything else is a download. SVG is not
#: here: it is a document that can carry scripts.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
NAME_MAX = 255
BINARY = "application/octet-stream"


@dataclass(frozen=True)
class Scanned:
    """One uploaded file after reading it once: the facts the row and the blob need."""

    name: str
    size: int
    sha256: str
    content_type: str
    file: BinaryIO


def scan(name: str, file: BinaryIO) -> Scanned:
    """Read ``file`` from the start in chunks (never whole) for its size, hash and type."""
    file.seek(0)
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := file.read(CHUNK_SIZE):
        if len(head) < HEAD:
            head += chunk[: HEAD - len(head)]
        digest.update(chunk)
        size += len(chunk)
    return Scanned(clean_name(name), size, digest.hexdigest(), sniff(head), file)


def sniff(head: bytes) -> str:
    """The content type of a file starting with ``head``."""
    found = filetype.guess_mime(head) if head else None
    if isinstance(found, str):
        return found
    if head and b"\0" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the end of the head is still text.
            if exc.start < len(head) - 3:
                return BINARY
        return "text/plain"
    return BINARY if head else "application/x-empty"


def clean_name(raw: str) -> str:
    """The name to show: the last path part (browsers on Windows send ``C:\\...\\x.pdf``),
    without control characters, NFC-normalised, at most 255 characters, never empty."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in {"", ".", ".."}:
        name = "file"
    if len(name) > NAME_MAX:
        _stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        name = name[: NAME_MAX - len(keep) - 1] + "." + keep if keep else name[:NAME_MAX]
    return name


def is_inline(content_type: str) -> bool:
    return content_type in INLINE_TYPES


def human_size(size: int) -> str:
    """Bytes as people read them: 0 B, 999 B, 1.5 KB, 12 MB (powers of 1000, like file
    managers, phones and Jinja's ``filesizeformat``), the same on every page and message."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    if unit == "B":
        return f"{size} B"
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
