"""A readable SQL view per record type in a customer's own database.

Record tables have opaque names (``rt_12``, ``f_34``) so a rename never touches DDL. For BI
tools and SQL users each type gets a view ``v_<type name>`` whose columns carry the field
names (``SELECT "Full name", "Email" FROM v_customer``), refreshed after every change of the
type or its fields. It shows live records only; multi-value fields (relations, multiple
choice) live in link tables and are left out of the view. Views are made only in customer
databases: the managed database is shared by every workspace of the server and read by
nobody else.

Which view belongs to which type is kept in ``data_views``, so a renamed type drops its old
view and a view of another workspace (or a customer's own table) of the same name is never
replaced: the second one is named ``v_<name>_<type id>``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from sqlalchemy import Connection, Select, delete, insert, select, update

from workspace import models as m
from workspace.databases.connections import active_row
from workspace.db import transaction
from workspace.runtime import Runtime
from workspace.schema import ddl, definitions
from workspace.schema.tables import RecordTypeDef

log = logging.getLogger(__name__)
V, RT = m.data_views, m.record_types
#: MySQL's longest identifier.
LONGEST = 64
SYSTEM = (
    ("id", "ID"),
    ("version", "Version"),
    ("created_at", "Created at"),
    ("created_by", "Created by"),
    ("updated_at", "Updated at"),
    ("updated_by", "Updated by"),
)
SUFFIXES = {"cur": "currency"}


def view_query(rt: RecordTypeDef) -> Select[Any]:
    """The live records of the type, each column labelled with its field's name (names that
    clash, ignoring case as MySQL does, get " 2", " 3"...)."""
    taken: set[str] = set()
    columns = []
    named = list(SYSTEM)
    for f in rt.scalar_fields:
        for column in f.type.value_columns(f):
            suffix = column[len(f.column) :].strip("_")
            label = f"{f.name} {SUFFIXES.get(suffix, suffix)}" if suffix else f.name
            named.append((column, label))
    for column, label in named:
        label = _unique(label[:LONGEST].strip(), taken)
        columns.append(rt.table.c[column].label(label))
    return select(*columns).where(rt.table.c.deleted_at.is_(None))


def _unique(label: str, taken: set[str]) -> str:
    candidate, n = label, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{label[: LONGEST - len(str(n)) - 1]} {n}"
    taken.add(candidate.lower())
    return candidate


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:50]


def refresh(runtime: Runtime, workspace_id: int, record_type_id: int) -> None:
    """Create, replace, rename or drop the type's view after a change (a no-op for a
    workspace on the managed database). Safe to run again."""
    with transaction(runtime.control) as conn:
        target = active_row(conn, workspace_id)
        saved = conn.execute(select(V).where(V.c.record_type_id == record_type_id)).first()
        found = conn.execute(
            select(RT.c.schema_version, RT.c.state).where(RT.c.id == record_type_id)
        ).first()
        if found is not None and found.state == "pending":
            return  # its table is not made yet; the change that finishes it refreshes the view
        rt = None
        if found is not None and found.state != "deleting":
            rt = definitions.cached_def(runtime, conn, record_type_id, found.schema_version)
    mine = None
    if saved is not None and target is not None and saved.data_database_id == target.id:
        mine = str(saved.view_name)
    if mine is not None and rt is None:
        with transaction(runtime.data_engines.engine_of(target), write=True) as data:
            ddl.drop_view(data, mine)
    if target is None or rt is None:
        if saved is not None:
            with transaction(runtime.control, write=True) as conn:
                conn.execute(delete(V).where(V.c.record_type_id == record_type_id))
        return
    with transaction(runtime.data_engines.engine_of(target), write=True) as data:
        name = _name(data, rt, mine)
        if mine is not None and mine != name:
            ddl.drop_view(data, mine)
        ddl.replace_view(data, name, view_query(rt))
    values = {"workspace_id": workspace_id, "data_database_id": target.id, "view_name": name}
    with transaction(runtime.control, write=True) as conn:
        if saved is None:
            conn.execute(insert(V).values(record_type_id=record_type_id, **values))
        else:
            conn.execute(update(V).where(V.c.record_type_id == record_type_id).values(values))


def drop_all(runtime: Runtime, workspace_id: int) -> None:
    """Drop every readable view of a workspace being deleted (safe to run again)."""
    with transaction(runtime.control) as conn:
        target = active_row(conn, workspace_id)
        saved = list(conn.execute(select(V).where(V.c.workspace_id == workspace_id)))
    mine = [row for row in saved if target is not None and row.data_database_id == target.id]
    if mine:
        with transaction(runtime.data_engines.engine_of(target), write=True) as data:
            for row in mine:
                ddl.drop_view(data, row.view_name)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(V).where(V.c.workspace_id == workspace_id))


def refresh_quietly(runtime: Runtime, workspace_id: int, record_type_id: int) -> None:
    """:func:`refresh` after a change that has already been made: a view that cannot be
    updated is logged, not turned into a failure of the change itself."""
    try:
        refresh(runtime, workspace_id, record_type_id)
    except Exception:
        log.exception("could not refresh the readable view of record type %s", record_type_id)


def _name(data: Connection, rt: RecordTypeDef, mine: str | None) -> str:
    tables, views = ddl.existing_names(data)
    taken = (tables | views) - {mine.lower()} if mine else tables | views
    base = f"v_{slug(rt.name) or 'type'}"
    return base if base.lower() not in taken else f"{base}_{rt.id}"
