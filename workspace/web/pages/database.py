"""The data database page of a workspace (admins): where its records live, the privileges a
connection needs, test connection, connect to the workspace's own MySQL and back."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.errors import WorkspaceError
from workspace.services import data_databases
from workspace.web.pages.nav import workspace_context
from workspace.web.pages.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
PAGE = "/w/{workspace_id:int}/settings/database"
#: The form's text inputs; TLS is a checkbox.
TEXT_INPUTS = ("host", "port", "database", "user", "password", "ca_cert")
#: What a successful post says on the page it redirects to (``?done=<key>``).
NOTICES = {
    "connected": "Connected: record types created from now on keep their records there.",
    "managed": "Back on the managed database.",
}


def spec_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The settings typed into the form (the service checks and names each one)."""
    spec: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in TEXT_INPUTS}
    spec["password"] = str(form.get("password", ""))  # spaces may be part of a password
    spec["tls"] = form.get("tls") == "on"
    return spec


class DatabasePages(Controller):
    path = "/"

    @get(PAGE, sync_to_thread=True)
    def page(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, done: str | None = None
    ) -> Template:
        notice = NOTICES.get(done or "")
        return self._page(runtime, user, workspace_id, notice=notice)

    @post(PAGE + "/connect", sync_to_thread=True)
    def connect(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        """The "Test connection" button shows the outcome and stores nothing; "Connect"
        tests, then switches and redirects (303)."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        spec = spec_from_form(data)
        try:
            if data.get("action") == "test":
                tested = data_databases.test_connection(runtime, acc, spec)
                return self._page(runtime, user, workspace_id, form=spec, tested=tested)
            data_databases.connect(runtime, acc, spec)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, form=spec, error=exc)
        return Redirect(f"/w/{workspace_id}/settings/database?done=connected", status_code=303)

    @post(PAGE + "/managed", sync_to_thread=True)
    def managed(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            data_databases.disconnect(runtime, acc)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, error=exc)
        return Redirect(f"/w/{workspace_id}/settings/database?done=managed", status_code=303)

    def _page(
        self,
        runtime: Any,
        user: Any,
        workspace_id: int,
        *,
        form: dict[str, Any] | None = None,
        error: WorkspaceError | None = None,
        tested: dict[str, Any] | None = None,
        notice: str | None = None,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        info = data_databases.overview(runtime, acc)
        values = dict(form or {})
        values.pop("password", None)  # never sent back to the browser
        if form is None and info["connection"]:
            values = dict(info["connection"])
        context.update(
            info=info,
            values=values,
            errors=error.fields if error else {},
            error=error.message if error else None,
            step=error.details.get("step") if error else None,
            tested=tested,
            notice=notice,
            section="database",
        )
        status = error.status if error else 200
        return Template("database/page.html", context=context, status_code=status)
