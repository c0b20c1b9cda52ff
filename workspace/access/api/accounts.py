"""The caller, server accounts (admins) and the caller's API tokens."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post
from litestar.params import JSONBody

from workspace.access import auth, users
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import TokenIn, UserIn


class AccountController(Controller):
    path = "/"
    tags = ["accounts"]

    @get("/me", sync_to_thread=False)
    def me(self, principal: PrincipalDep) -> dict[str, Any]:
        return {"id": principal.user_id, "email": principal.email, "is_admin": principal.is_admin}

    @get("/users", sync_to_thread=True)
    def list_users(self, runtime: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        return users.list_users(runtime, principal)

    @post("/users", sync_to_thread=True)
    def create_user(
        self, runtime: RuntimeDep, principal: PrincipalDep, data: JSONBody[UserIn]
    ) -> dict[str, Any]:
        return users.create_user_as(
            runtime,
            principal,
            email=data.email,
            name=data.name,
            password=data.password,
            is_admin=data.is_admin,
        )

    @get("/tokens", sync_to_thread=True)
    def list_tokens(self, runtime: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        return auth.list_tokens(runtime, principal.user_id)

    @post("/tokens", sync_to_thread=True)
    def create_token(
        self, runtime: RuntimeDep, principal: PrincipalDep, data: JSONBody[TokenIn]
    ) -> dict[str, Any]:
        """The token is in the answer once; only its hash is kept."""
        token, raw = auth.create_token(runtime, principal.user_id, data.name)
        return {**token, "token": raw}

    @delete("/tokens/{token_id:int}", sync_to_thread=True)
    def revoke_token(self, runtime: RuntimeDep, principal: PrincipalDep, token_id: int) -> None:
        auth.revoke_token(runtime, principal.user_id, token_id)
