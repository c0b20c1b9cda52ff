"""Field owners, the ownership map and retiring, per record type, for API clients."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody

from workspace.connectors import ownership, ownership_map, retire
from workspace.schema.definitions import open_type, public_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body

FIELD = "/fields/{key:str}"


class OwnerIn(Body):
    """``connection``: the id of the connection that alone writes the field; null gives it
    back to the workspace."""

    connection: int | None = None


class TakeOverIn(Body):
    """Which value wins where the workspace and the tool differ: workspace or tool."""

    winner: str = "workspace"


class RetireIn(Body):
    note: str = ""
    successor: int | None = None


class OwnershipController(Controller):
    path = "/workspaces/{workspace_id:int}/types/{record_type_id:int}"
    tags = ["ownership"]

    @get("/ownership", sync_to_thread=True)
    def ownership_map(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> dict[str, Any]:
        """Per field: owner, tools keeping a copy, changes in the last 30/90 days by source,
        last change, and records differing from each tool as of the last sync."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return ownership_map.build(runtime, acc, rt)

    @get("/ownership.csv", sync_to_thread=True, media_type="text/csv")
    def ownership_csv(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> Response[str]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        text = ownership_map.as_csv(ownership_map.build(runtime, acc, rt))
        name = f"ownership-{record_type_id}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @put(FIELD + "/owner", sync_to_thread=True)
    def set_owner(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        key: str,
        data: JSONBody[OwnerIn],
    ) -> dict[str, Any]:
        """Give a field to one connection, or back to the workspace (admins)."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return public_type(ownership.set_owner(runtime, acc, rt, key, data.connection))

    @get(FIELD + "/take-over", sync_to_thread=True)
    def take_over_preview(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        key: str,
    ) -> dict[str, Any]:
        """Before the workspace takes a field over from its tool: the records whose values
        differ, with both values."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return retire.preview(runtime, acc, rt, key)

    @post(FIELD + "/take-over", sync_to_thread=True, status_code=200)
    def take_over(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        key: str,
        data: JSONBody[TakeOverIn],
    ) -> dict[str, Any]:
        """The workspace owns the field from now on and pushes it to the tool."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return retire.take_over(runtime, acc, rt, key, data.winner)

    @post("/retire", sync_to_thread=True, status_code=200)
    def retire_type(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[RetireIn],
    ) -> dict[str, Any]:
        """Read-only on every path (409 ``type_retired``), still readable and exportable."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return public_type(retire.retire_type(runtime, acc, rt, data.note, data.successor))

    @post("/restore", sync_to_thread=True, status_code=200)
    def restore_type(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> dict[str, Any]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return public_type(retire.restore_type(runtime, acc, rt))
