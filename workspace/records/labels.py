"""Short human labels for records: the value of a record type's first field.

Relations and activity show "Ada Lovelace" instead of "#12"; the first field of a type (the
one the designer lists on top) is its title, as in a spreadsheet's first column.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from workspace.db import transaction
from workspace.principal import Access
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef

LIMIT = 200


def title_of(rt: RecordTypeDef, record: dict[str, Any]) -> str:
    """The label of a record in the API shape (a first field of files gives none, as in
    :func:`labels`, which reads only the record table)."""
    if rt.fields and not rt.fields[0].type.outside_record:
        first = rt.fields[0]
        value = record["fields"].get(first.key)
        text = first.type.to_text(first, value) if value not in (None, [], "") else ""
        if text:
            return text
    return f"#{record['id']}"


def merged_message(rt: RecordTypeDef, record: dict[str, Any]) -> str:
    """What a "new record" that a dedupe rule merged into a record on file says, so nobody
    believes they created a record when they changed someone else's (the API answer's
    ``message``, the record page's notice)."""
    label = title_of(rt, record)
    named = label if label == f"#{record['id']}" else f"{label} #{record['id']}"
    return f"Merged into {named}, which was on file"


def labels(runtime: Runtime, acc: Access, rt: RecordTypeDef, ids: Iterable[int]) -> dict[int, str]:
    """Labels of the given records (deleted ones too, marked), at most 200 at a time."""
    wanted = sorted(set(ids))[:LIMIT]
    if not wanted:
        return {}
    table = rt.table
    first = rt.fields[0] if rt.fields and not rt.fields[0].type.uses_link_table else None
    columns = [table.c.id, table.c.deleted_at]
    if first is not None:
        columns += [table.c[c.name] for c in first.type.columns(first)]
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        rows = conn.execute(select(*columns).where(table.c.id.in_(wanted))).mappings().all()
    found = {}
    for row in rows:
        text = ""
        if first is not None:
            value = first.type.from_row(first, dict(row))
            text = first.type.to_text(first, value) if value is not None else ""
        text = text or f"#{row['id']}"
        found[row["id"]] = text + (" (deleted)" if row["deleted_at"] is not None else "")
    return found


def options(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, search: str = ""
) -> list[tuple[int, str]]:
    """Up to 200 live records of a type as (id, label), for pickers, optionally searched."""
    page = records.list_records(runtime, acc, rt, search=search or None, limit=LIMIT)
    return [(r["id"], title_of(rt, r)) for r in page["items"]]
