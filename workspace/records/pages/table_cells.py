"""The table's cells: the quick-add row, inline edits and their version conflicts.

Mixed into ``TablePages`` (one controller, so the routes list stays as it is); each edit
saves one field with the version its editor was opened at, through ``records``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Template

from workspace.errors import BadRequest, NotFound, VersionConflict, WorkspaceError
from workspace.records import records
from workspace.records.pages.table_view import Table, editable_field, open_table, row_context
from workspace.web.fields import form_values
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
AnyRequest = Request[Any, Any, Any]


class TableCells:
    @post("/t/{record_type_id:int}/table/add", sync_to_thread=True)
    def add_record(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        data: Form,
    ) -> Template:
        """The quick-add row: create a record from the shown columns, then a fresh row."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        state, _ = table.state({"cols": [str(data["cols"])]} if "cols" in data else {})
        values = form_values(table.rt, data)
        base = {"columns": state.shown(table.fields), "fields": table.fields, "add_oob": True}
        try:
            record = records.create(runtime, table.acc, table.rt, values)
        except WorkspaceError as exc:
            if exc.status not in {409, 422}:
                raise
            context = {
                **row_context(runtime, table, [], pickers=True),
                **base,
                "add_values": values,
                "add_errors": exc.fields or {"": exc.message},
                "add_focus": False,
            }
            return Template("table/_add_failed.html", context=context, status_code=exc.status)
        context = {
            **row_context(runtime, table, [record]),
            **base,
            "add_values": {},
            "add_errors": {},
            "add_focus": True,
        }
        return Template("table/_added.html", context=context)

    @get("/t/{record_type_id:int}/table/cell/{record_id:int}/{key:str}", sync_to_thread=True)
    def cell(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        key: str,
    ) -> Template:
        """The cell as shown (after Esc, or to start over)."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        return self._cell(runtime, table, record_id, key)

    @get("/t/{record_type_id:int}/table/cell/{record_id:int}/{key:str}/edit", sync_to_thread=True)
    def edit_cell(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        key: str,
    ) -> Template:
        """The cell's editor, with the record's current value and version."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        table.acc.require("member")
        f = editable_field(table, key)
        record = records.get(runtime, table.acc, table.rt, record_id)
        return self._editor(runtime, table, record, f, record["fields"].get(f.key))

    @post("/t/{record_type_id:int}/table/cell/{record_id:int}/{key:str}", sync_to_thread=True)
    def save_cell(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        key: str,
        data: Form,
    ) -> Template:
        """Save one field with the version the editor was opened at: a change made by
        someone else since then is a conflict shown in the cell, never overwritten."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        f = editable_field(table, key)
        version = str(data.get("version", ""))
        if not version.isdigit() or len(version) > 18:
            raise BadRequest("version: the editor did not send the record's version")
        values = form_values(table.rt, {**data, "_fields": key})
        try:
            records.update_record(
                runtime, table.acc, table.rt, record_id, values, version=int(version)
            )
        except VersionConflict as exc:
            context = {
                **row_context(runtime, table, []),
                "record_id": record_id,
                "f": f,
                "mine": values.get(key),
                "message": exc.message,
            }
            return Template("table/_cell_conflict.html", context=context, status_code=409)
        except WorkspaceError as exc:
            if exc.status not in {409, 422}:
                raise
            record = records.get(runtime, table.acc, table.rt, record_id)
            error = exc.fields.get(key) or exc.message
            return self._editor(
                runtime, table, record, f, values.get(key), error=error, status=exc.status
            )
        return self._cell(runtime, table, record_id, key)

    @get("/t/{record_type_id:int}/table/row/{record_id:int}", sync_to_thread=True)
    def row(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
    ) -> Template:
        """A row again, as it is now (after a conflict)."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        state, _ = table.state(request.query_params.dict())
        try:
            items = [records.get(runtime, table.acc, table.rt, record_id)]
        except NotFound:
            items = []
        context = {
            **row_context(runtime, table, items),
            "record_id": record_id,
            "columns": state.shown(table.fields),
        }
        return Template("table/_row_again.html", context=context)

    def _cell(self, runtime: Any, table: Table, record_id: int, key: str) -> Template:
        f = table.fields.get(key) or editable_field(table, key)
        record = records.get(runtime, table.acc, table.rt, record_id)
        context = {**row_context(runtime, table, [record]), "r": record, "f": f, "focus": True}
        return Template("table/_cell_one.html", context=context)

    def _editor(
        self,
        runtime: Any,
        table: Table,
        record: dict[str, Any],
        f: Any,
        value: Any,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        context = {
            **row_context(runtime, table, [record], pickers=f.type.name == "relation"),
            "r": record,
            "f": f,
            "value": value,
            "error": error,
        }
        return Template("table/_cell_edit.html", context=context, status_code=status)
