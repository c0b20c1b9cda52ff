"""Logging in and out, changing the password, and the user's API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access import auth, sessions
from workspace.errors import NotAuthenticated, WorkspaceError
from workspace.web.htmx import is_htmx
from workspace.web.session import COOKIE, PrincipalDep, RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]


def safe_next(target: str | None) -> str:
    """Only paths on this site: an open redirect would let a link send users elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class LoginController(Controller):
    """Reachable without a session."""

    path = "/login"

    @get("/", sync_to_thread=False)
    def login_page(
        self, next_: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Template:
        return Template("account/login.html", context={"next": safe_next(next_), "error": None})

    @post("/", sync_to_thread=True, status_code=303)
    def log_in(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, data: Form
    ) -> Response[Any]:
        target = safe_next(data.get("next"))
        try:
            raw = sessions.log_in(
                runtime, str(data.get("email", "")), str(data.get("password", ""))
            )
        except NotAuthenticated as exc:
            context = {"next": target, "error": exc.message, "email": data.get("email", "")}
            return Template("account/login.html", context=context, status_code=401)
        response = Redirect(target, status_code=303)
        response.set_cookie(
            COOKIE,
            raw,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=int(sessions.LIFETIME.total_seconds()),
            path="/",
        )
        return response


class AccountController(Controller):
    path = "/account"

    @get("/", sync_to_thread=True)
    def account_page(self, runtime: RuntimeDep, user: UserDep) -> Template:
        return self._page(runtime, user)

    @post("/logout", sync_to_thread=True, status_code=303)
    def log_out(self, request: Request[Any, Any, Any], runtime: RuntimeDep) -> Response[Any]:
        sessions.log_out(runtime, str(request.auth))
        response = Redirect("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @post("/password", sync_to_thread=True)
    def change_password(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, user: UserDep, data: Form
    ) -> Template:
        if data.get("new_password") != data.get("repeat_password"):
            return self._page(runtime, user, errors={"repeat_password": "does not match"})
        try:
            sessions.change_password(
                runtime,
                user.principal,
                str(data.get("current_password", "")),
                str(data.get("new_password", "")),
                keep=str(request.auth),
            )
        except WorkspaceError as exc:
            return self._page(runtime, user, errors=exc.fields or {"new_password": exc.message})
        return self._page(
            runtime, user, notice="Your password was changed; other sessions were logged out."
        )

    @post("/tokens", sync_to_thread=True)
    def create_token(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, user: UserDep, data: Form
    ) -> Template:
        try:
            _, raw = auth.create_token(runtime, user.principal.user_id, str(data.get("name", "")))
        except WorkspaceError as exc:
            errors = {"token_name": exc.fields.get("name", exc.message)}
            return self._page(runtime, user, request, errors=errors)
        return self._page(runtime, user, request, new_token=raw)

    @post("/tokens/{token_id:int}/revoke", sync_to_thread=True)
    def revoke_token(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        principal: PrincipalDep,
        user: UserDep,
        token_id: int,
    ) -> Template:
        auth.revoke_token(runtime, principal.user_id, token_id)
        return self._page(runtime, user, request, notice="The token was revoked.")

    def _page(
        self, runtime: Any, user: Any, request: Request[Any, Any, Any] | None = None, **extra: Any
    ) -> Template:
        """The account page, or only its token section for htmx (a reload then never
        repeats the POST that showed a new token)."""
        context = {
            "user": user,
            "tokens": auth.list_tokens(runtime, user.principal.user_id),
            "errors": {},
            "notice": None,
            "new_token": None,
            **extra,
        }
        partial = request is not None and is_htmx(request)
        return Template(
            "account/_tokens.html" if partial else "account/account.html", context=context
        )
