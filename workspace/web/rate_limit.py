"""The API's rate limits as ASGI middleware: one per client address before authentication,
one per token after it (``routes.py`` puts them around the Bearer middleware).

The count is :mod:`workspace.rate_limits`': memory decides most requests; only a request that
needs a new lease waits for the database, in a worker thread. A refused request is a 429
with ``Retry-After`` (the seconds until the window ends) in the API's error shape.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar.types import ASGIApp, Receive, Scope, Send

from workspace.access import auth
from workspace.errors import RateLimited
from workspace.rate_limits import LEASE, RateLimiter, token_bucket


class ApiRateLimit:
    """Counts each API request against the limit ``by`` names: ``address`` (every request,
    signed in or not) or ``token`` (after the Bearer middleware has checked it)."""

    def __init__(self, app: ASGIApp, by: str) -> None:
        assert by in {"address", "token"}
        self.app = app
        self.by = by

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = scope["app"].state.runtime
        limiter: RateLimiter | None = runtime.rate_limits
        if limiter is not None and scope["type"] == "http":
            await self._count(limiter, runtime.settings, scope)
        await self.app(scope, receive, send)

    async def _count(self, limiter: RateLimiter, settings: Any, scope: Scope) -> None:
        if self.by == "address":
            client = scope.get("client")
            bucket = limiter.address_bucket(client[0] if client else "unknown")
            limit, whose = settings.api_address_rate_limit, "from this address"
        else:
            bucket = token_bucket(auth.token_hash(str(scope.get("auth") or "")))
            limit, whose = settings.api_rate_limit, "with this API token"
        wait = limiter.decide(bucket, limit)
        if wait is LEASE:
            wait = await anyio.to_thread.run_sync(limiter.admit, bucket, limit)
        if isinstance(wait, int):
            window = settings.api_rate_window
            raise RateLimited(
                f"too many requests {whose}: at most {limit} every {window} seconds; "
                f"retry in {wait} seconds",
                retry_after=wait,
            )
