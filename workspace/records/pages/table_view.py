"""What the table templates show: a page of records and everything around it.

The controller picks a template; this module gathers its context through the services
(records, views, refs), so the templates only lay out what they are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workspace.errors import BadRequest, NotFound, ValidationFailed
from workspace.principal import Access, Principal
from workspace.records import records, views
from workspace.records.pages.refs import refs_for
from workspace.records.pages.table_state import NO_VALUE, Params, ViewState, table_fields
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

PAGE_SIZE = 50
#: The quick-add row as first shown: empty, no errors, not focused (the page has a search box).
ADD_ROW = {"add_values": {}, "add_errors": {}, "add_focus": False, "add_oob": False}

OP_LABELS = {
    "eq": "is",
    "neq": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "between": "is between",
    "in": "is any of",
    "is_empty": "is empty",
    "not_empty": "is not empty",
}
TIME_LABELS = {
    "gt": "is after",
    "gte": "is on or after",
    "lt": "is before",
    "lte": "is on or before",
}
TEXT_LABELS = {
    "gt": "comes after (A to Z)",
    "gte": "is or comes after",
    "lt": "comes before (A to Z)",
    "lte": "is or comes before",
}
LINK_LABELS = {"contains": "includes", "in": "includes any of"}


def op_label(f: FieldDef, op: str) -> str:
    """The operator in words that fit the field: "is after" for dates, "includes" for tags."""
    kind = f.type.name
    if kind in {"date", "datetime"}:
        return TIME_LABELS.get(op, OP_LABELS[op])
    if kind in {"multiple_choice", "relation"}:
        return LINK_LABELS.get(op, OP_LABELS[op])
    if f.type.searchable:
        return TEXT_LABELS.get(op, OP_LABELS[op])
    return OP_LABELS[op]


def ops_of(f: FieldDef) -> list[str]:
    return [op for op in OP_LABELS if op in f.type.operators]


@dataclass(frozen=True)
class Table:
    """A record type opened for one caller: what every table request starts from."""

    acc: Access
    rt: RecordTypeDef
    fields: dict[str, FieldDef]
    base: str

    @property
    def can_edit(self) -> bool:
        return self.acc.can("member") and self.rt.retired is None

    def state(self, params: Params) -> tuple[ViewState, list[str]]:
        return ViewState.from_query(self.fields, params)

    def value(self, record: Mapping[str, Any], f: FieldDef) -> Any:
        """A cell's value: a field's, or the record's own created/updated time."""
        return record["fields"].get(f.key) if f.id else record.get(f.key)


def open_table(runtime: Runtime, principal: Principal, workspace_id: int, rt_id: int) -> Table:
    acc, rt = definitions.open_type(runtime, principal, workspace_id, rt_id)
    fields = table_fields(rt, runtime.field_types)
    return Table(acc, rt, fields, f"/w/{workspace_id}/t/{rt_id}")


def load_page(
    runtime: Runtime,
    table: Table,
    state: ViewState,
    cursor: str | None = None,
    *,
    with_total: bool = True,
) -> dict[str, Any]:
    """One page of the view. A filter the list refuses (a word in a number filter) comes
    back as ``error`` with ``errors`` per field key, and no records, instead of a 4xx page."""
    try:
        page = records.list_records(
            runtime,
            table.acc,
            table.rt,
            filter=state.filter_tree(table.fields),
            sort=state.sort or None,
            search=state.search or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
            with_total=with_total,
        )
    except (ValidationFailed, BadRequest) as exc:
        errors = {k.removeprefix("filter."): v for k, v in exc.fields.items()}
        return {"items": [], "next_cursor": None, "total": None, "error": exc, "errors": errors}
    return {"total": None, **page, "error": None, "errors": {}}


def view_context(
    runtime: Runtime, table: Table, params: Params, *, cursor: str | None = None
) -> dict[str, Any]:
    """Everything ``table/_view.html`` shows: toolbar, filters, columns, views, records."""
    state, notes = table.state(params)
    page = load_page(runtime, table, state, cursor)
    empty_type = False
    if page["total"] == 0 and state.filtered:
        empty_type = not records.list_records(runtime, table.acc, table.rt, limit=1)["items"]
    elif page["total"] == 0:
        empty_type = True
    pickers = any(table.fields[c.field].type.name == "relation" for c in state.conditions)
    saved = views.list_views(runtime, table.acc, table.rt)
    active = next((v for v in saved if v["id"] == state.view), None)
    changed = active is not None and (
        ViewState.from_config(table.fields, active["config"]).as_view() != state.as_view()
    )
    return {
        **row_context(runtime, table, page["items"], pickers=pickers),
        "state": state,
        "notes": notes,
        "page_errors": page["errors"],
        "filters_open": bool(page["errors"]) or any(not c.complete for c in state.conditions),
        "page": page,
        "cursor": cursor,
        "columns": state.shown(table.fields),
        "fields": table.fields,
        "empty_type": empty_type,
        "views": [
            {**v, "state": ViewState.from_config(table.fields, v["config"], v["id"])} for v in saved
        ],
        "active_view": active,
        "view_changed": changed,
        "can_delete_view": active is not None and views.can_delete(table.acc, active),
        "op_label": op_label,
        "ops_of": ops_of,
        "no_value": NO_VALUE,
        "notice": None,
        "undo": None,
        "save_error": None,
        "save_name": "",
        **ADD_ROW,
    }


def row_context(
    runtime: Runtime, table: Table, items: list[dict[str, Any]], *, pickers: bool = False
) -> dict[str, Any]:
    """What rows and cells need: the type, its refs, the caller's rights and links."""
    return {
        "rt": table.rt,
        "acc": table.acc,
        "table": table,
        "base": table.base,
        "can_edit": table.can_edit,
        "items": items,
        "refs": refs_for(runtime, table.acc, table.rt, items, pickers=pickers),
    }


def editable_field(table: Table, key: str) -> FieldDef:
    f = table.rt.field_by_key(key)
    if f is None:
        raise NotFound("this field no longer exists; reload the page")
    if f.type.outside_record:
        raise BadRequest(f"{f.name}: add or delete its files on the record page")
    return f
