"""Files over HTTP, shared by the API and the pages: reading uploads, sending downloads.

Uploads: Litestar parses multipart bodies into ``UploadFile`` objects backed by a
``SpooledTemporaryFile`` that moves to disk past 1 MiB, so a file never sits whole in memory;
the services then read it in chunks (hash and type first, then the backend). Upload routes
are exempt from ``max_body_bytes`` and limited by :class:`UploadLimit` instead, from
``max_file_bytes``, before Litestar (or the CSRF check) reads the body.

Downloads: the bytes were verified against the hash before the first one is sent (see
``services.file_blobs.fetch``); only raster images are inline, everything else is an
attachment, always with ``nosniff`` and a CSP that lets nothing run.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import IO, Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Request
from litestar.datastructures import UploadFile
from litestar.response import Stream
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from storage_backends import CHUNK_SIZE
from workspace.errors import TooLarge
from workspace.files.content import is_inline
from workspace.files.files import MAX_FILES, Download, Incoming

#: Room for the multipart envelope and the small form fields around the files.
ENVELOPE = 1024 * 1024
#: A file response may run nothing and be framed by nobody.
FILE_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
)
UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x7e]|["\\%;]')


def upload_limit(max_file_bytes: int) -> int:
    """The largest body an upload route takes."""
    return max_file_bytes * MAX_FILES + ENVELOPE


class UploadLimit:
    """ASGI middleware of the upload routes: at most ``MAX_FILES`` files of
    ``max_file_bytes`` (plus the envelope) per request, checked on the declared length and
    on the bytes as they arrive, so an endless body is cut off early."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        per_file = scope["app"].state.runtime.settings.max_file_bytes
        limit = upload_limit(per_file)
        problem = TooLarge(
            f"the upload is larger than {MAX_FILES} files of the {per_file} bytes allowed each",
            fields={"files": f"each file may have at most {per_file} bytes"},
        )
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            raise problem
        seen = 0

        async def counted() -> ReceiveMessage:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise problem
            return message

        await self.app(scope, counted, send)


async def read_uploads(request: Request[Any, Any, Any]) -> tuple[list[Incoming], dict[str, str]]:
    """The files sent as ``files`` (repeatable) and the other form fields of a multipart
    body (``web.uploads.close_uploaded_files`` closes the files after the response)."""
    form = await request.form()
    incoming = [
        Incoming(value.filename, value.file)  # type: ignore[arg-type]
        for value in form.getall("files", [])
        if isinstance(value, UploadFile) and value.filename
    ]
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return incoming, fields


def download_response(download: Download) -> Stream:
    """The verified bytes of a file, streamed from their temporary file."""
    f = download.file
    inline = is_inline(f["content_type"])
    headers = {
        "Content-Disposition": content_disposition(f["name"], inline=inline),
        "Content-Length": str(f["size"]),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "private, no-cache",
        "ETag": f'"{f["sha256"]}"',
    }
    media_type = f["content_type"] if inline else _download_type(f["content_type"])
    return Stream(_chunks(download.content), media_type=media_type, headers=headers)


def _download_type(content_type: str) -> str:
    """Attachments keep their sniffed type, except text, which is said to be plain text
    (Litestar adds ``charset=utf-8``) so no browser takes it for a page even if it ignored
    ``attachment``."""
    return "text/plain" if content_type.startswith("text/") else content_type


async def _chunks(content: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(content.read, CHUNK_SIZE):
            yield chunk
    finally:
        content.close()


def content_disposition(name: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients and the exact name as UTF-8 in
    ``filename*`` (RFC 5987 percent-encoding), so non-ASCII names survive and nothing in a
    name can break out of the header."""
    fallback = UNSAFE_IN_QUOTES.sub("_", name) or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
