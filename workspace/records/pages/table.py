"""The table view of a record type: the screen the team works from daily.

Reading works without JavaScript (GET forms and links carry the view in the URL, see
``table_state``); htmx makes search, "Load more", inline edits and bulk actions partial
updates. Context comes from ``table_view``, cells from ``table_cells``, CSV from
``table_csv``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Stream, Template

from workspace.errors import NotFound, ValidationFailed
from workspace.records import records, views
from workspace.records.pages.table_cells import TableCells
from workspace.records.pages.table_csv import csv_chunks, filename, first_page
from workspace.records.pages.table_state import ViewState, read_condition
from workspace.records.pages.table_view import (
    Table,
    load_page,
    op_label,
    open_table,
    ops_of,
    row_context,
    view_context,
)
from workspace.web.htmx import is_htmx
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
AnyRequest = Request[Any, Any, Any]
#: The table URL answers a full page or, to htmx, only the view: caches must tell them apart.
VARY = {"Vary": "HX-Request, HX-Target"}
MAX_BULK = 500


def _wants_view(request: AnyRequest) -> bool:
    return request.headers.get("hx-target") == "view" and not request.headers.get(
        "hx-history-restore-request"
    )


def _ids(data: dict[str, Any]) -> list[int]:
    raw = data.get("ids") or []
    raw = raw if isinstance(raw, list) else [raw]
    return [int(v) for v in raw if str(v).isdigit() and len(str(v)) < 19][:MAX_BULK]


class TablePages(TableCells, Controller):
    path = "/w/{workspace_id:int}"

    # ---- the table --------------------------------------------------------------------

    @get("/t/{record_type_id:int}", sync_to_thread=True)
    def table_page(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
    ) -> Response[Any]:
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        params = request.query_params.dict()
        if "col" in params or "add" in params:
            # The columns and filter forms post their raw fields; the address to keep,
            # share or reload is the canonical one.
            state, _ = table.state(params)
            return Redirect(f"{table.base}?{state.qs()}", status_code=303)
        cursor = (params.get("cursor") or [""])[-1]
        context = view_context(runtime, table, params, cursor=cursor)
        if _wants_view(request):
            return Template("table/_view.html", context=context, headers=VARY)
        _, layout = workspace_context(runtime, user, workspace_id)
        return Template(
            "table/table.html",
            context={**layout, **context, "current_type": record_type_id},
            headers=VARY,
        )

    @get("/t/{record_type_id:int}/table/rows", sync_to_thread=True)
    def more_rows(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        cursor: str,
    ) -> Template:
        """The next page for "Load more": rows, then the next "Load more" row."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        state, _ = table.state(request.query_params.dict())
        page = load_page(runtime, table, state, cursor, with_total=False)
        context = {
            **row_context(runtime, table, page["items"]),
            "state": state,
            "page": page,
            "columns": state.shown(table.fields),
        }
        return Template("table/_rows.html", context=context)

    @get("/t/{record_type_id:int}/table/filter-row", sync_to_thread=True)
    def filter_row(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        i: int,
    ) -> Template:
        """One condition of the filter form again, after its field or operator changed."""
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        params = request.query_params.dict()  # the whole filter form: the row links to it
        state, _ = table.state(params)
        cond = read_condition(table.fields, params, i)
        if cond is None:
            raise NotFound("this field no longer exists; reload the page")
        pickers = table.fields[cond.field].type.name == "relation"
        context = {
            **row_context(runtime, table, [], pickers=pickers),
            "cond": cond,
            "i": i,
            "state": state,
            "fields": table.fields,
            "page_errors": {},
            "op_label": op_label,
            "ops_of": ops_of,
        }
        return Template("table/_filter_row.html", context=context)

    @get("/t/{record_type_id:int}/table/export.csv", sync_to_thread=True)
    def export_csv(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
    ) -> Response[Any]:
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        state, _ = table.state(request.query_params.dict())
        page = first_page(runtime, table, state)
        if page["error"] is not None:
            raise page["error"]
        return Stream(
            csv_chunks(runtime, table, state, page),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": filename(table)},
        )

    # ---- bulk actions -----------------------------------------------------------------

    @post("/t/{record_type_id:int}/table/delete", sync_to_thread=True)
    def bulk_delete(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        data: Form,
    ) -> Response[Any]:
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        table.acc.require("member")
        done = []
        for record_id in _ids(data):
            try:
                records.delete(runtime, table.acc, table.rt, record_id)
            except NotFound:
                continue  # deleted meanwhile: what was asked for holds
            done.append(record_id)
        if not _ids(data):
            notice = "Tick the boxes of the records to delete first."
        else:
            notice = f"Deleted {len(done)} record{'' if len(done) == 1 else 's'}."
        return self._after_bulk(request, runtime, table, data, notice, undo=done)

    @post("/t/{record_type_id:int}/table/restore", sync_to_thread=True)
    def bulk_restore(
        self,
        request: AnyRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        data: Form,
    ) -> Response[Any]:
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        table.acc.require("member")
        done = 0
        for record_id in _ids(data):
            try:
                records.restore(runtime, table.acc, table.rt, record_id)
                done += 1
            except NotFound:
                continue
        notice = f"Restored {done} record{'' if done == 1 else 's'}."
        return self._after_bulk(request, runtime, table, data, notice, undo=[])

    def _after_bulk(
        self,
        request: AnyRequest,
        runtime: Any,
        table: Table,
        data: dict[str, Any],
        notice: str,
        *,
        undo: list[int],
    ) -> Response[Any]:
        state = ViewState.from_qs(table.fields, str(data.get("back", "")))
        if not is_htmx(request):
            return Redirect(f"{table.base}?{state.qs()}", status_code=303)
        context = view_context(runtime, table, state.params())
        context.update(notice=notice, undo=undo)
        return Template("table/_view.html", context=context)

    # ---- saved views ------------------------------------------------------------------

    @post("/t/{record_type_id:int}/table/views", sync_to_thread=True)
    def save_view(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        data: Form,
    ) -> Response[Any]:
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        state = ViewState.from_qs(table.fields, str(data.get("state", "")))
        try:
            made = views.create_view(
                runtime, table.acc, table.rt, data.get("name"), state.to_config(table.fields)
            )
        except ValidationFailed as exc:
            _, layout = workspace_context(runtime, user, workspace_id)
            context = view_context(runtime, table, state.params())
            context.update(
                layout,
                current_type=record_type_id,
                save_error=exc.fields.get("name") or exc.message,
                save_name=str(data.get("name", "")),
            )
            return Template("table/table.html", context=context, status_code=422)
        opened = ViewState.from_config(table.fields, made["config"], made["id"])
        return Redirect(f"{table.base}?{opened.qs()}", status_code=303)

    @post("/t/{record_type_id:int}/table/views/{view_id:int}/delete", sync_to_thread=True)
    def delete_view(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type_id: int,
        view_id: int,
        data: Form,
    ) -> Response[Any]:
        table = open_table(runtime, user.principal, workspace_id, record_type_id)
        views.delete_view(runtime, table.acc, table.rt, view_id)
        state = ViewState.from_qs(table.fields, str(data.get("back", "")))
        return Redirect(f"{table.base}?{state.as_view().qs()}", status_code=303)
