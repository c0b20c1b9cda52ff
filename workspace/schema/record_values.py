"""Record values in and out: API input -> validated stored values, rows -> API output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, MetaData, RowMapping, Table, select

from workspace import models as m
from workspace.schema import naming
from workspace.schema.coltypes import UtcDateTime
from workspace.schema.fields import FieldDef, FieldError, Lookup, ValueContext
from workspace.schema.tables import SYSTEM_COLUMNS, RecordTypeDef

#: Keys a client may send at the top level of a record body besides "fields".
READ_ONLY = frozenset(SYSTEM_COLUMNS) | {"workspace", "type", "deleted"}


@dataclass
class Parsed:
    """One item's parsed values, keyed by field key, and what was wrong with it."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def parse_values(
    rt: RecordTypeDef, raw: Any, ctx: ValueContext, *, partial: bool, text: bool = False
) -> Parsed:
    """Validate a ``fields`` object. ``partial`` (updates) skips fields that were not sent;
    ``text`` reads values written for people (an import's cells: "yes", "12.50 EUR")."""
    out = Parsed()
    if not isinstance(raw, Mapping):
        out.errors["fields"] = "must be an object of field key -> value"
        return out
    for key in raw:
        if rt.field_by_key(str(key)) is None:
            out.errors[str(key)] = (
                "is set by the server" if key in READ_ONLY else "no such field in this record type"
            )
    for f in rt.fields:
        if f.key not in raw:
            if not partial and f.required:
                out.errors[f.key] = "is required"
            continue
        try:
            value = (f.type.parse_text if text else f.type.parse)(f, raw[f.key], ctx)
        except FieldError as exc:
            out.errors[f.key] = str(exc)
            continue
        if value is None and f.required:
            out.errors[f.key] = "is required"
            continue
        out.values[f.key] = value
    return out


def resolve_references(rt: RecordTypeDef, items: Sequence[Parsed], lookup: Lookup) -> None:
    """Check (and resolve) values pointing at records or users, batch-wise per field."""
    for f in rt.fields:
        holders = [item for item in items if f.key in item.values and not item.errors]
        if not holders:
            continue
        values = [item.values[f.key] for item in holders]
        resolved, errors = f.type.resolve(f, values, lookup)
        for index, item in enumerate(holders):
            item.values[f.key] = resolved[index]
            if index in errors:
                item.errors[f.key] = errors[index]


def make_lookup(control: Connection, data: Connection, workspace_id: int) -> Lookup:
    def existing_records(record_type_id: int, ids: set[int]) -> set[int]:
        # An adopted type's records are read through its view.
        adopted = control.execute(
            select(m.record_types.c.source).where(m.record_types.c.id == record_type_id)
        ).scalar()
        name = naming.record_view if adopted else naming.record_table
        table = Table(
            name(record_type_id),
            MetaData(),
            Column("id", BigInteger, primary_key=True),
            Column("deleted_at", UtcDateTime),
        )
        found = data.execute(
            select(table.c.id).where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
        )
        return set(found.scalars())

    def member_ids(ids: set[int]) -> set[int]:
        M = m.memberships
        query = select(M.c.user_id).where(M.c.workspace_id == workspace_id, M.c.user_id.in_(ids))
        return set(control.execute(query).scalars())

    def member_ids_by_email(emails: set[str]) -> dict[str, int]:
        M, U = m.memberships, m.users
        query = (
            select(U.c.email, U.c.id)
            .join(M, M.c.user_id == U.c.id)
            .where(M.c.workspace_id == workspace_id, U.c.email.in_(emails))
        )
        return {email: user_id for email, user_id in control.execute(query)}

    return Lookup(existing_records, member_ids, member_ids_by_email)


def to_columns(rt: RecordTypeDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for the scalar fields among ``values``."""
    row: dict[str, Any] = {}
    for f in rt.scalar_fields:
        if f.key in values:
            row.update(f.type.to_row(f, values[f.key]))
    return row


def load_links(
    conn: Connection, rt: RecordTypeDef, fields: Sequence[FieldDef], ids: Sequence[int]
) -> dict[str, dict[int, list[Any]]]:
    """Link-table values per field column and record id, one query per field."""
    found: dict[str, dict[int, list[Any]]] = {}
    if not ids:
        return found
    for f in fields:
        link = rt.link_table(f)
        per_record: dict[int, list[Any]] = {}
        rows = conn.execute(
            select(link.c.record_id, link.c.value).where(link.c.record_id.in_(list(ids)))
        )
        for record_id, value in rows:
            per_record.setdefault(record_id, []).append(value)
        found[f.column] = per_record
    return found


def record_out(rt: RecordTypeDef, row: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape of a record (``row`` holds link values under the link tables' names):
    system columns at the top, values under "fields"."""
    record = {
        "id": row["id"],
        "type": rt.id,
        "workspace": rt.workspace_id,
        "version": row["version"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
        "fields": {f.key: f.type.from_row(f, row) for f in rt.fields},
    }
    if row["deleted_at"] is not None:
        record["deleted_at"] = row["deleted_at"]
        record["deleted_by"] = row["deleted_by"]
    return record


def with_links(
    conn: Connection, rt: RecordTypeDef, rows: Sequence[RowMapping]
) -> list[dict[str, Any]]:
    """Rows as dicts with each link field's values added under its link table's name."""
    links = load_links(conn, rt, rt.link_fields, [r["id"] for r in rows])
    full = [dict(r) for r in rows]
    for row in full:
        for f in rt.link_fields:
            row[f.column] = links[f.column].get(row["id"], [])
    return full


def load_records(
    conn: Connection, rt: RecordTypeDef, rows: Sequence[RowMapping]
) -> list[dict[str, Any]]:
    return [record_out(rt, row) for row in with_links(conn, rt, rows)]
