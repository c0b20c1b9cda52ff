"""The data database page of a workspace (admins): where its records live, the privileges a
connection needs, test connection, and where the records go: a workspace without record
types is connected to its own MySQL (or back) at once, one with records is moved there (or
back) by a move: copied, verified and switched while it keeps working.

A move's progress, retry, cancel and the retiring of its old copy are in
:mod:`workspace.databases.pages.moves`; both render the page through :func:`render`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access.sessions import SessionUser
from workspace.databases import connections, gate
from workspace.databases import moves as data_moves
from workspace.errors import WorkspaceError
from workspace.runtime import Runtime
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
PAGE = "/w/{workspace_id:int}/settings/database"
#: The form's text inputs; TLS is a checkbox.
TEXT_INPUTS = ("host", "port", "database", "user", "password", "ca_cert")
#: What a successful post says on the page it redirects to (``?done=<key>``).
NOTICES = {
    "connected": "Connected: record types created from now on keep their records there.",
    "managed": "Back on the managed database.",
    "started": "The move has started. You can leave this page: the copy goes on, and picks "
    "up where it stopped if the server restarts.",
    "retried": "The move carries on from where it stopped.",
    "cancelled": "Move cancelled: the records stay where they were.",
    "retired": "Old copy retired: its tables were dropped.",
}


def spec_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The settings typed into the form (the service checks and names each one)."""
    spec: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in TEXT_INPUTS}
    spec["password"] = str(form.get("password", ""))  # spaces may be part of a password
    spec["tls"] = form.get("tls") == "on"
    return spec


class DatabasePages(Controller):
    """Forms post, then redirect (303) to the page, so a reload never posts again; a refused
    post shows the page again with the error next to its field or as a banner."""

    path = "/"

    @get(PAGE, sync_to_thread=True)
    def page(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, done: str | None = None
    ) -> Template:
        return render(runtime, user, workspace_id, notice=NOTICES.get(done or ""))

    @post(PAGE + "/connect", sync_to_thread=True)
    def connect(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        """The form's buttons: "Test connection" shows the outcome and stores nothing;
        "Connect" (no record types yet) tests, then switches; "Start move" tests, then moves
        the records there in the background."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        spec = spec_from_form(data)
        action = data.get("action")
        try:
            if action == "test":
                tested = connections.test_connection(runtime, acc, spec)
                return render(runtime, user, workspace_id, form=spec, tested=tested)
            if action == "move":
                data_moves.start(runtime, acc, spec)
            else:
                connections.connect(runtime, acc, spec)
        except WorkspaceError as exc:
            return render(runtime, user, workspace_id, form=spec, error=exc)
        return back(workspace_id, "started" if action == "move" else "connected")

    @post(PAGE + "/managed", sync_to_thread=True)
    def managed(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        """Back to the managed database: at once without record types, else by a move."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        move = data.get("action") == "move"
        try:
            if move:
                data_moves.start(runtime, acc, "managed")
            else:
                connections.disconnect(runtime, acc)
        except WorkspaceError as exc:
            return render(runtime, user, workspace_id, error=exc)
        return back(workspace_id, "started" if move else "managed")


def render(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    *,
    form: dict[str, Any] | None = None,
    error: WorkspaceError | None = None,
    tested: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Template:
    """The whole page; after a refused post with the typed settings (never the password) and
    the error next to its field, or as a banner when it concerns no field."""
    acc, context = workspace_context(runtime, user, workspace_id)
    info = connections.overview(runtime, acc)
    values = dict(form or {})
    values.pop("password", None)  # never sent back to the browser
    if form is None and info["connection"] and info["can_switch"]:
        values = dict(info["connection"])  # to change the settings; a move goes elsewhere
    move = info["move"]
    context.update(
        info=info,
        move=move,
        moving=under_way(move),
        unfinished=bool(move and move["state"] in gate.UNFINISHED),
        values=values,
        errors=error.fields if error else {},
        error=error.message if error else None,
        tested=tested,
        notice=notice,
        section="database",
    )
    status = error.status if error else 200
    return Template("database/page.html", context=context, status_code=status)


def under_way(move: dict[str, Any] | None) -> bool:
    """Whether a move is copying or switching: the page polls its progress."""
    return bool(move and move["state"] in data_moves.RUNNING)


def base_url(workspace_id: int) -> str:
    return f"/w/{workspace_id}/settings/database"


def back(workspace_id: int, done: str) -> Redirect:
    """Where a successful post goes: the page, saying what happened."""
    return Redirect(f"{base_url(workspace_id)}?done={done}", status_code=303)
