"""Bearer-token authentication for the API."""

from __future__ import annotations

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from workspace.access import auth
from workspace.errors import NotAuthenticated, NotFound

#: Ids are signed 64-bit integers; a larger one in the path names nothing (and SQLite's
#: driver would raise OverflowError on it instead of finding no row).
MAX_ID = 2**63 - 1


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("send an API token as 'Authorization: Bearer <token>'")
        runtime = connection.app.state.runtime
        token = token.strip()
        principal = auth.cached_principal(runtime, token) or await anyio.to_thread.run_sync(
            auth.authenticate_token, runtime, token
        )
        _check_path_ids(connection.path_params)
        return AuthenticationResult(user=principal, auth=token)


def _check_path_ids(params: dict[str, object]) -> None:
    for name, value in params.items():
        if isinstance(value, int) and abs(value) > MAX_ID:
            raise NotFound(f"{name.removesuffix('_id').replace('_', ' ')} not found")
