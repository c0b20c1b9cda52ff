"""ASGI middleware applying ``Idempotency-Key`` to every POST of the API.

It sits inside authentication (the caller is known) and outside the handler, so it can store
exactly the bytes the client received and replay them. The request body is hashed as it
arrives and spooled to a temporary file past 1 MiB, so an upload of many megabytes with a key
costs disk, not memory; the route's own body limit applies (an upload route's, for uploads).
"""

from __future__ import annotations

import hashlib
import json
from tempfile import SpooledTemporaryFile
from typing import IO, Any

import anyio.to_thread
from litestar.handlers import HTTPRouteHandler
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from workspace import idempotency
from workspace.errors import BadRequest, TooLarge, WorkspaceError
from workspace.principal import Principal
from workspace.web.file_transfer import upload_limit

HEADER = b"idempotency-key"
SPOOL_IN_MEMORY = 1024 * 1024
REPLAY_CHUNK = 256 * 1024
KEPT_HEADERS = {"content-type", "location", "retry-after"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers", [])).get(HEADER) if scope["type"] == "http" else None
        if key is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        try:
            await self._idempotent(scope, receive, send, key)
        except WorkspaceError as exc:
            await _send_json(send, exc.status, exc.to_dict())

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, raw_key: bytes) -> None:
        key = raw_key.decode("latin-1").strip()
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise BadRequest("Idempotency-Key: must be 1-255 printable characters")
        runtime = scope["app"].state.runtime
        principal: Principal = scope["user"]
        workspace = scope.get("path_params", {}).get("workspace_id")
        claim_scope = f"ws:{workspace}" if workspace is not None else f"user:{principal.user_id}"
        digest = hashlib.sha256()
        for part in (
            str(principal.user_id),
            scope["path"],
            scope.get("query_string", b"").decode(),
        ):
            digest.update(part.encode() + b"\0")
        with SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
            ending = await _read_body(receive, _limit(scope, runtime), digest, body)
            stored = await anyio.to_thread.run_sync(
                idempotency.claim, runtime, claim_scope, key, digest.hexdigest()
            )
            if stored is not None:
                await _replay(send, stored)
                return
            body.seek(0)
            replay = _replayed(body, ending)
            await self._run_and_store(scope, replay, send, runtime, claim_scope, key)

    async def _run_and_store(
        self,
        scope: Scope,
        replay_receive: Receive,
        send: Send,
        runtime: Any,
        claim_scope: str,
        key: str,
    ) -> None:
        status, headers, chunks = 500, {}, []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {
                    k.decode().lower(): v.decode()
                    for k, v in message.get("headers", [])
                    if k.decode().lower() in KEPT_HEADERS
                }
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await anyio.to_thread.run_sync(idempotency.release, runtime, claim_scope, key)
            raise
        if status >= 500:
            await anyio.to_thread.run_sync(idempotency.release, runtime, claim_scope, key)
            return
        stored = idempotency.Stored(status, headers, b"".join(chunks))
        await anyio.to_thread.run_sync(idempotency.complete, runtime, claim_scope, key, stored)


def _limit(scope: Scope, runtime: Any) -> int:
    """The route's body limit; an upload route (no plain limit) takes ten files."""
    handler = scope.get("route_handler")
    limit = (
        handler.resolve_request_max_body_size()
        if isinstance(handler, HTTPRouteHandler)
        else runtime.settings.max_body_bytes
    )
    return limit if limit is not None else upload_limit(runtime.settings.max_file_bytes)


async def _read_body(receive: Receive, limit: int, digest: Any, body: IO[bytes]) -> list[Any]:
    """Spool the request body into ``body``, hashing it; returns the messages after it."""
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return [message]
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes")
        digest.update(chunk)
        await anyio.to_thread.run_sync(body.write, chunk)
        if not message.get("more_body"):
            return []


def _replayed(body: IO[bytes], ending: list[Any]) -> Receive:
    """A receive() that hands the spooled body to the app in chunks, then what followed."""
    done = False

    async def receive() -> ReceiveMessage:
        nonlocal done
        if not done:
            chunk = await anyio.to_thread.run_sync(body.read, REPLAY_CHUNK)
            done = len(chunk) < REPLAY_CHUNK
            return {"type": "http.request", "body": chunk, "more_body": not done}
        return ending.pop(0) if ending else {"type": "http.disconnect"}

    return receive


async def _replay(send: Send, stored: idempotency.Stored) -> None:
    headers = [(k.encode(), v.encode()) for k, v in stored.headers.items()]
    headers.append((b"idempotent-replayed", b"true"))
    await _send(send, stored.status, headers, stored.body)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await _send(send, status, headers, payload)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": headers,
    }
    await send(start)
    # ``more_body: False`` is the ASGI default, spelled out because the event type requires it.
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
