"""Record types, their fields and unique combinations."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, patch, post, put
from litestar.params import JSONBody

from workspace.access import workspaces
from workspace.schema import definitions
from workspace.types import record_types
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import (
    FieldIn,
    FieldOrder,
    FieldPatch,
    RecordTypeIn,
    RecordTypePatch,
    UniqueIn,
)

TYPE = "/{record_type_id:int}"


class RecordTypeController(Controller):
    path = "/workspaces/{workspace_id:int}/types"
    tags = ["record types"]

    @get("/", sync_to_thread=True)
    def list_types(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> list[dict[str, Any]]:
        return record_types.list_types(runtime, workspaces.access(runtime, principal, workspace_id))

    @post("/", sync_to_thread=True)
    def create_type(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[RecordTypeIn],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.create_type(runtime, acc, data.sent())

    @get(TYPE, sync_to_thread=True)
    def get_type(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return definitions.public_type(record_types.get_type(runtime, acc, record_type_id))

    @patch(TYPE, sync_to_thread=True)
    def rename_type(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[RecordTypePatch],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.rename_type(runtime, acc, record_type_id, data.name)

    @delete(TYPE, sync_to_thread=True)
    def delete_type(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> None:
        """Drops the record type with all its records (and relation fields pointing at it)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        record_types.delete_type(runtime, acc, record_type_id)

    @post(TYPE + "/fields", sync_to_thread=True)
    def add_field(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[FieldIn],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.add_field(runtime, acc, record_type_id, data.sent())

    @patch(TYPE + "/fields/{field_id:int}", sync_to_thread=True)
    def change_field(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        field_id: int,
        data: JSONBody[FieldPatch],
        force: bool = False,
    ) -> dict[str, Any]:
        """Rename, reconfigure or retype a field. A change that would lose values answers 409
        with the affected records; repeat with ``?force=true`` to clear them."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.change_field(
            runtime, acc, record_type_id, field_id, data.sent(), force=force
        )

    @delete(TYPE + "/fields/{field_id:int}", sync_to_thread=True)
    def delete_field(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        field_id: int,
    ) -> None:
        acc = workspaces.access(runtime, principal, workspace_id)
        record_types.delete_field(runtime, acc, record_type_id, field_id)

    @put(TYPE + "/field-order", sync_to_thread=True)
    def reorder_fields(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[FieldOrder],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.reorder_fields(runtime, acc, record_type_id, data.order)

    @post(TYPE + "/unique", sync_to_thread=True)
    def add_unique(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[UniqueIn],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.add_unique_together(runtime, acc, record_type_id, data.fields)

    @delete(TYPE + "/unique/{combo_id:str}", sync_to_thread=True, status_code=200)
    def remove_unique(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        combo_id: str,
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return record_types.remove_unique_together(runtime, acc, record_type_id, combo_id)
