"""Adopting a table of the workspace's own MySQL as a record type (admins only)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import JSONBody
from msgspec import UNSET, UnsetType

from workspace.access import workspaces
from workspace.types import adopt
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body

WS = "/workspaces/{workspace_id:int}"


class AdoptIn(Body):
    """The table to adopt, the record type's name (the table's by default) and the columns
    to map: ``[{"column": "Customer Name", "type": "text", "name": "Name"}]``, type and name
    optional; every offered column with its suggested type when left out."""

    table: str
    name: str | UnsetType = UNSET
    columns: list[dict[str, Any]] | UnsetType = UNSET


class AdoptController(Controller):
    path = WS
    tags = ["database"]

    @get("/database/tables", sync_to_thread=True)
    def list_tables(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """The tables of the workspace's own database that are not the server's, each with
        the record type that adopted it, and what adopted tables can and cannot do. 409 on
        the managed database."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return adopt.list_tables(runtime, acc)

    @get("/database/tables/{table:str}", sync_to_thread=True)
    def describe_table(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, table: str
    ) -> dict[str, Any]:
        """A table's columns: SQL type, nullable, default, primary key, the field types each
        is offered as (the suggested one first) or why it is not; whether the table can be
        adopted and records created in it."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return adopt.describe(runtime, acc, table)

    @post("/types/adopt", sync_to_thread=True, status_code=201)
    def adopt_table(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[AdoptIn],
    ) -> dict[str, Any]:
        """Use the table as a record type without changing it: its rows are the records,
        the chosen columns its fields. 422 naming the table (no single integer primary key)
        or the column; 409 on the managed database."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return adopt.adopt(runtime, acc, data.sent())
