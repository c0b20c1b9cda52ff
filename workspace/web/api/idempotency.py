"""ASGI middleware applying ``Idempotency-Key`` to every POST of the API.

It sits inside authentication (the caller is known) and outside the handler, so it can store
exactly the bytes the client received and replay them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio.to_thread
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

from workspace.errors import BadRequest, TooLarge, WorkspaceError
from workspace.services import idempotency
from workspace.services.principal import Principal

HEADER = b"idempotency-key"
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
        body, messages = await _read_body(receive, runtime.settings.max_body_bytes)
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
        digest.update(body)
        stored = await anyio.to_thread.run_sync(
            idempotency.claim, runtime, claim_scope, key, digest.hexdigest()
        )
        if stored is not None:
            await _replay(send, stored)
            return
        await self._run_and_store(scope, messages, send, runtime, claim_scope, key)

    async def _run_and_store(
        self,
        scope: Scope,
        messages: list[ReceiveMessage],
        send: Send,
        runtime: Any,
        claim_scope: str,
        key: str,
    ) -> None:
        pending = list(messages)
        status, headers, chunks = 500, {}, []

        async def replay_receive() -> ReceiveMessage:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

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


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, list[ReceiveMessage]]:
    messages: list[ReceiveMessage] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes")
        if not message.get("more_body"):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    return body, messages


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
