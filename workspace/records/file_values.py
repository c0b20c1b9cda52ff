"""The values of file fields: the files attached to records through a field.

A file field has no column (see ``plugins/fields_files.py``): its value is the record's live
files with that field's id, oldest first. Records are read from the workspace's data
database; their files come from the control database in one query per page of records, and
only for record types that have a file field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from workspace import activity
from workspace import models as m
from workspace.db import transaction
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

F = m.files
FILE_FIELD_TYPE = "file"
#: The columns of a file as a file field's value shows it.
VALUE_KEYS = ("id", "name", "size", "content_type")


def fill(runtime: Runtime, rt: RecordTypeDef, records: Sequence[dict[str, Any]]) -> None:
    """Put each file field's files into ``records`` (API-shaped, changed in place)."""
    fields = rt.outside_fields
    if not fields or not records:
        return
    by_id = {f.id: f for f in fields}
    values: dict[tuple[int, int], list[dict[str, Any]]] = {}
    query = (
        select(F.c.record_id, F.c.field_id, *(F.c[k] for k in VALUE_KEYS))
        .where(
            F.c.record_type_id == rt.id,
            F.c.record_id.in_({r["id"] for r in records}),
            F.c.field_id.in_(list(by_id)),
            F.c.deleted_at.is_(None),
        )
        .order_by(F.c.id)
    )
    with transaction(runtime.control) as conn:
        for row in conn.execute(query).mappings():
            one = {k: row[k] for k in VALUE_KEYS}
            values.setdefault((row["record_id"], row["field_id"]), []).append(one)
    for record in records:
        for f in fields:
            record["fields"][f.key] = values.get((record["id"], f.id), [])


def detach_field(conn: Connection, acc: Access, rt: RecordTypeDef, f: FieldDef) -> int:
    """A file field is being deleted: its files (deleted ones too) stay on their records as
    general attachments, and each record's history says so. Returns how many files moved."""
    rows = conn.execute(
        select(F.c.record_id, *(F.c[k] for k in VALUE_KEYS))
        .where(F.c.record_type_id == rt.id, F.c.field_id == f.id, F.c.deleted_at.is_(None))
        .order_by(F.c.id)
    ).mappings()
    moved: dict[int, list[str]] = {}
    for row in rows:
        moved.setdefault(row["record_id"], []).append(row["name"])
    conn.execute(
        update(F).where(F.c.record_type_id == rt.id, F.c.field_id == f.id).values(field_id=None)
    )
    entries = [
        activity.Entry(
            record_id,
            "files_detached",
            [{"field": f.key, "name": f.name, "old": names, "new": None}],
        )
        for record_id, names in moved.items()
    ]
    activity.write(conn, acc.principal, acc.workspace_id, rt.id, entries)
    return sum(len(names) for names in moved.values())
