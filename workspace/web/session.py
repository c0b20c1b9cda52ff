"""Who is looking at a page: the session cookie, checked against the database."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from workspace.access import sessions
from workspace.access.sessions import SessionUser
from workspace.errors import NotAuthenticated
from workspace.principal import Principal
from workspace.web.deps import RUNTIME, RuntimeDep

COOKIE = "ws_session"


class SessionMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        raw = connection.cookies.get(COOKIE)
        runtime = connection.app.state.runtime
        user = await anyio.to_thread.run_sync(sessions.lookup, runtime, raw) if raw else None
        if user is None:
            raise NotAuthenticated("please log in")
        return AuthenticationResult(user=user, auth=raw)


def provide_user(request: Request[Any, Any, Any]) -> SessionUser:
    return request.user  # type: ignore[no-any-return]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return request.user.principal  # type: ignore[no-any-return]


DEPENDENCIES = {
    "runtime": RUNTIME,
    "user": Provide(provide_user, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
}
UserDep = NamedDependency[SessionUser]
__all__ = ["COOKIE", "DEPENDENCIES", "PrincipalDep", "RuntimeDep", "SessionMiddleware", "UserDep"]
PrincipalDep = NamedDependency[Principal]
