"""The current table view as CSV: every page, streamed, safe to open in a spreadsheet (see
:mod:`workspace.records.csv_cells`) and importable back as it was."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from workspace.access import workspaces
from workspace.records import records
from workspace.records.csv_cells import guard
from workspace.records.pages.table_state import ViewState
from workspace.records.pages.table_view import Table, load_page
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef

BATCH = records.LIST_MAX


def filename(table: Table) -> str:
    """A Content-Disposition value: an ASCII name for old clients, the real one for others."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "-", table.rt.name).strip("-.") or "records"
    return f"attachment; filename=\"{ascii_name}.csv\"; filename*=UTF-8''{quote(table.rt.name)}.csv"


def first_page(runtime: Runtime, table: Table, state: ViewState) -> dict[str, Any]:
    """Read before the response starts, so a bad filter is still an error page, not a
    half-sent file."""
    return load_page(runtime, table, state, with_total=False)


def csv_chunks(
    runtime: Runtime, table: Table, state: ViewState, page: dict[str, Any]
) -> Iterator[str]:
    """The header line, then one chunk per page of records: memory stays flat for 100k rows."""
    columns = state.shown(table.fields)
    members = {m["user_id"]: m["email"] for m in workspaces.list_members(runtime, table.acc)}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", *(guard(f.name) for f in columns)])
    yield "\ufeff" + _take(buffer)  # the BOM makes Excel read UTF-8
    while True:
        for record in page["items"]:
            writer.writerow([record["id"], *(_cell(table, f, record, members) for f in columns)])
        yield _take(buffer)
        if not page["next_cursor"]:
            return
        page = records.list_records(
            runtime,
            table.acc,
            table.rt,
            filter=state.filter_tree(table.fields),
            sort=state.sort or None,
            search=state.search or None,
            limit=BATCH,
            cursor=page["next_cursor"],
        )


def _cell(table: Table, f: FieldDef, record: dict[str, Any], members: dict[int, str]) -> str:
    text = _text(table, f, record, members)
    return guard(text) if f.type.free_text else text


def _text(table: Table, f: FieldDef, record: dict[str, Any], members: dict[int, str]) -> str:
    value = table.value(record, f)
    if value is None:
        return ""
    if f.type.name == "user":  # an email reads better than an id and imports back
        return members.get(value, str(value))
    return f.type.to_text(f, value)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
