"""The address vendors send webhooks to: ``/api/v1/hooks/connections/<token>``, without a
token of ours (the one in the address finds the connection; the connector checks the
vendor's signature)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Controller, Request, route

from workspace.connectors import webhooks
from workspace.remote import WebhookRequest
from workspace.web.api_deps import RuntimeDep


class VendorHookController(Controller):
    path = "/hooks/connections"
    include_in_schema = False

    @route("/{token:str}", http_method=["GET", "POST"], status_code=200)
    async def receive(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, token: str
    ) -> dict[str, Any]:
        """Kept, checked, and taken at once unless a sync is running (it takes it then)."""
        body = await request.body()
        hook = WebhookRequest(
            method=request.method,
            url=str(request.url),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        return await anyio.to_thread.run_sync(webhooks.receive, runtime, token, hook)
