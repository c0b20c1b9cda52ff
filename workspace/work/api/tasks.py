"""Tasks on records: create, list with filters, read and change."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, patch, post
from litestar.params import JSONBody
from msgspec import UNSET, UnsetType

from workspace.access import workspaces
from workspace.errors import ValidationFailed
from workspace.schema.definitions import open_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body
from workspace.work import tasks


class TaskIn(Body):
    record_type: int
    record: int
    title: str
    #: The user id of a member, or null.
    assignee: int | None = None
    #: YYYY-MM-DD, or null.
    due: str | None = None
    status: str = "open"


class TaskPatch(Body):
    title: str | UnsetType = UNSET
    assignee: int | UnsetType | None = UNSET
    due: str | UnsetType | None = UNSET
    status: str | UnsetType = UNSET


class TaskController(Controller):
    path = "/workspaces/{workspace_id:int}/tasks"
    tags = ["tasks"]

    @get("/", sync_to_thread=True)
    def list_tasks(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        assignee: str | None = None,
        status: str | None = None,
        record_type: int | None = None,
        record: int | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> dict[str, Any]:
        """Newest first. ``assignee`` is a user id or ``me``; ``status`` open or done;
        ``record_type`` and ``record`` pick one record's tasks; ``next_before`` pages."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return tasks.list_tasks(
            runtime,
            acc,
            assignee=_assignee(assignee, principal.user_id),
            status=status,
            record_type=record_type,
            record=record,
            limit=limit,
            before=before,
        )

    @post("/", sync_to_thread=True)
    def create_task(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[TaskIn],
    ) -> Response[dict[str, Any]]:
        """A task on a record; the assignee (if not the caller) is notified in-app."""
        acc, rt = open_type(runtime, principal, workspace_id, data.record_type)
        values = {"title": data.title, "assignee": data.assignee, "due": data.due}
        values["status"] = data.status
        return Response(tasks.create(runtime, acc, rt, data.record, values), status_code=201)

    @get("/{task_id:int}", sync_to_thread=True)
    def get_task(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, task_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return tasks.get(runtime, acc, task_id)

    @patch("/{task_id:int}", sync_to_thread=True)
    def update_task(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        task_id: int,
        data: JSONBody[TaskPatch],
    ) -> dict[str, Any]:
        """Change any of title, assignee, due and status (``done`` completes it)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return tasks.update_task(runtime, acc, task_id, data.sent())


def _assignee(raw: str | None, me: int) -> int | None:
    if raw is None:
        return None
    if raw == "me":
        return me
    if raw.isdigit():
        return int(raw)
    raise ValidationFailed.single("assignee", "must be a user id or me")
