"""Workspaces, members and the workspace-wide activity feed."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody

from workspace import activity
from workspace.access import workspaces
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import MemberIn, RolePatch, WorkspaceIn, WorkspacePatch
from workspace.work import mentions

WS = "/workspaces/{workspace_id:int}"


class WorkspaceController(Controller):
    path = "/workspaces"
    tags = ["workspaces"]

    @get("/", sync_to_thread=True)
    def list_workspaces(self, runtime: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        return workspaces.list_for(runtime, principal)

    @post("/", sync_to_thread=True)
    def create_workspace(
        self, runtime: RuntimeDep, principal: PrincipalDep, data: JSONBody[WorkspaceIn]
    ) -> dict[str, Any]:
        return workspaces.create(runtime, principal, data.name, data.phone_region)

    @get("/{workspace_id:int}", sync_to_thread=True)
    def get_workspace(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        return workspaces.get(runtime, workspaces.access(runtime, principal, workspace_id))

    @patch("/{workspace_id:int}", sync_to_thread=True)
    def update_workspace(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[WorkspacePatch],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return workspaces.update_settings(runtime, acc, data.sent())

    @delete("/{workspace_id:int}", sync_to_thread=True)
    def delete_workspace(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> None:
        """Deletes the workspace with all its record types and records."""
        workspaces.delete_workspace(runtime, workspaces.access(runtime, principal, workspace_id))

    @get("/{workspace_id:int}/activity", sync_to_thread=True)
    def workspace_activity(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        limit: int = 50,
        before: int | None = None,
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return activity.for_workspace(runtime, acc, limit=limit, before=before)


class MemberController(Controller):
    path = WS + "/members"
    tags = ["members"]

    @get("/", sync_to_thread=True)
    def list_members(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, q: str | None = None
    ) -> list[dict[str, Any]]:
        """Every member; with ``q``, at most 10 whose name, email or mention handle contains
        it, each with the ``handle`` to write after an ``@`` in a comment."""
        members = workspaces.list_members(
            runtime, workspaces.access(runtime, principal, workspace_id)
        )
        return members if q is None else mentions.search(members, q)

    @post("/", sync_to_thread=True)
    def add_member(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[MemberIn],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return workspaces.add_member(runtime, acc, data.email, data.role)

    @patch("/{user_id:int}", sync_to_thread=True)
    def change_role(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        user_id: int,
        data: JSONBody[RolePatch],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return workspaces.change_role(runtime, acc, user_id, data.role)

    @delete("/{user_id:int}", sync_to_thread=True)
    def remove_member(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, user_id: int
    ) -> None:
        acc = workspaces.access(runtime, principal, workspace_id)
        workspaces.remove_member(runtime, acc, user_id)
