"""The caller's in-app notifications in a workspace: list, and mark read."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import JSONBody

from workspace.access import workspaces
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body
from workspace.work import notifications


class MarkReadBody(Body):
    #: The notifications to mark read; null marks every unread one.
    ids: list[int] | None = None


class NotificationController(Controller):
    path = "/workspaces/{workspace_id:int}/notifications"
    tags = ["notifications"]

    @get("/", sync_to_thread=True)
    def list_notifications(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        unread: bool = False,
        limit: int = 50,
        before: int | None = None,
    ) -> dict[str, Any]:
        """Mentions of the caller and tasks given to them, newest first, with the number
        still unread."""
        acc = workspaces.access(runtime, principal, workspace_id)
        page = notifications.list_notifications(
            runtime, acc, unread=unread, limit=limit, before=before
        )
        return {**page, "unread": notifications.unread_count(runtime, acc)}

    @post("/read", sync_to_thread=True, status_code=200)
    def mark_read(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[MarkReadBody],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return {"marked": notifications.mark_read(runtime, acc, data.ids)}
