"""Connections under a workspace's settings (admins): connect a tool, test it, sync it,
see its runs and conflicts. Forms post, then redirect (303), so a reload never posts again;
the latest run's progress is polled with htmx while it runs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.connectors import conflicts, connections, engine, mappings, runs
from workspace.connectors.pages.replies import see_other, status_of
from workspace.errors import WorkspaceError
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
PAGE = "/w/{workspace_id:int}/settings/connections"
ONE = PAGE + "/{connection_id:int}"
NOTICES = {
    "saved": "Saved. Test the connection, then map what it should sync.",
    "tested": "The connection works.",
    "started": "A sync is queued: a worker runs it, and its progress shows below.",
    "mapped": "Mapping saved.",
    "decided": "Conflict decided.",
    "deleted": "Disconnected. The fields it owned belong to the workspace again.",
}
DECISIONS = {"keep_workspace", "take_remote", "dismiss"}


def settings_from_form(kind: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """The connection settings typed into the form (blank: not given, so a saved secret
    stays)."""
    config = {}
    for item in kind["credentials"]:
        value = str(form.get(f"config.{item['name']}", "")).strip()
        if value:
            config[item["name"]] = value
    return config


class ConnectionPages(Controller):
    path = "/"

    @get(PAGE, sync_to_thread=True)
    def index(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        kind: str | None = None,
        done: str | None = None,
    ) -> Template:
        return _index(runtime, user, workspace_id, kind=kind, done=done)

    @post(PAGE, sync_to_thread=True)
    def create(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        kind = str(data.get("kind", ""))
        described = {k["kind"]: k for k in connections.kinds(runtime)}.get(kind)
        body = {
            "kind": kind,
            "name": str(data.get("name", "")).strip() or None,
            "base_url": str(data.get("base_url", "")),
            "pull_every": str(data.get("pull_every", "")).strip() or None,
            "config": settings_from_form(described, data) if described else {},
        }
        try:
            made = connections.create(runtime, acc, body)
        except WorkspaceError as exc:
            return _index(runtime, user, workspace_id, kind=kind, form=data, error=exc)
        return see_other(f"/w/{workspace_id}/settings/connections/{made['id']}?done=saved")

    @get(ONE, sync_to_thread=True)
    def show(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        done: str | None = None,
    ) -> Template:
        return _show(runtime, user, workspace_id, connection_id, done=done)

    @post(ONE, sync_to_thread=True)
    def save(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        data: Form,
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            found = connections.get(runtime, acc, connection_id)
            described = {k["kind"]: k for k in connections.kinds(runtime)}[found["kind"]]
            body = {
                "name": str(data.get("name", "")),
                "base_url": str(data.get("base_url", "")),
                "pull_every": str(data.get("pull_every", "")).strip() or None,
                "config": settings_from_form(described, data),
            }
            connections.update_connection(runtime, acc, connection_id, body)
        except (WorkspaceError, KeyError) as exc:
            error = exc if isinstance(exc, WorkspaceError) else None
            return _show(runtime, user, workspace_id, connection_id, error=error, form=data)
        return _back(workspace_id, connection_id, "saved")

    @post(ONE + "/test", sync_to_thread=True)
    def test(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, connection_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            connections.test(runtime, acc, connection_id)
        except WorkspaceError as exc:
            return _show(runtime, user, workspace_id, connection_id, error=exc)
        return _back(workspace_id, connection_id, "tested")

    @post(ONE + "/sync", sync_to_thread=True)
    def sync(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, connection_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            engine.start(runtime, acc, connection_id)
        except WorkspaceError as exc:
            return _show(runtime, user, workspace_id, connection_id, error=exc)
        return _back(workspace_id, connection_id, "started")

    @post(ONE + "/delete", sync_to_thread=True)
    def disconnect(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, connection_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        connections.delete(runtime, acc, connection_id)
        return see_other(f"/w/{workspace_id}/settings/connections?done=deleted")

    @get(ONE + "/progress", sync_to_thread=True)
    def progress(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, connection_id: int
    ) -> Template:
        """The latest run alone, polled by htmx while it runs."""
        acc, context = workspace_context(runtime, user, workspace_id)
        context["connection"] = connections.get(runtime, acc, connection_id)
        context["latest"] = _latest(runtime, acc, connection_id)
        context["queued"] = engine.waiting(runtime, connection_id)
        return Template("connections/_progress.html", context=context)

    @post(ONE + "/conflicts/{conflict_id:int}", sync_to_thread=True)
    def decide(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        conflict_id: int,
        data: Form,
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        decision = str(data.get("decision", ""))
        try:
            conflicts.resolve(runtime, acc, conflict_id, decision)
        except WorkspaceError as exc:
            return _show(runtime, user, workspace_id, connection_id, error=exc)
        return _back(workspace_id, connection_id, "decided")


def _back(workspace_id: int, connection_id: int, done: str) -> Redirect:
    return see_other(f"/w/{workspace_id}/settings/connections/{connection_id}?done={done}")


def _index(
    runtime: Any,
    user: Any,
    workspace_id: int,
    *,
    kind: str | None = None,
    done: str | None = None,
    form: dict[str, Any] | None = None,
    error: WorkspaceError | None = None,
) -> Template:
    acc, context = workspace_context(runtime, user, workspace_id)
    found = connections.list_connections(runtime, acc)
    for c in found:
        c["latest"] = _latest(runtime, acc, c["id"])
    kinds = connections.kinds(runtime)
    chosen = next((k for k in kinds if k["kind"] == kind), kinds[0] if kinds else None)
    context.update(
        section="connections",
        connections=found,
        kinds=kinds,
        chosen=chosen,
        values=form or {},
        errors=error.fields if error else {},
        error=error.message if error else None,
        notice=NOTICES.get(done or ""),
    )
    return Template("connections/index.html", context=context, status_code=status_of(error))


def _show(
    runtime: Any,
    user: Any,
    workspace_id: int,
    connection_id: int,
    *,
    done: str | None = None,
    error: WorkspaceError | None = None,
    form: dict[str, Any] | None = None,
) -> Template:
    acc, context = workspace_context(runtime, user, workspace_id)
    found = connections.get(runtime, acc, connection_id)
    described = {k["kind"]: k for k in connections.kinds(runtime)}.get(found["kind"])
    mapped = {mp["object"]: mp for mp in mappings.list_mappings(runtime, acc, connection_id)}
    recent = runs.list_runs(runtime, acc, connection_id, limit=20)
    context.update(
        section="connections",
        connection=found,
        kind=described,
        mapped=mapped,
        runs=recent,
        latest=recent[0] if recent else None,
        queued=engine.waiting(runtime, connection_id),
        conflicts=conflicts.list_conflicts(runtime, acc, connection_id),
        values=form or {},
        errors=error.fields if error else {},
        error=error.message if error else None,
        notice=NOTICES.get(done or ""),
    )
    status = error.status if error else 200
    return Template("connections/connection.html", context=context, status_code=status)


def _latest(runtime: Any, acc: Any, connection_id: int) -> dict[str, Any] | None:
    found = runs.list_runs(runtime, acc, connection_id, limit=1)
    return found[0] if found else None
