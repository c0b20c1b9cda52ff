"""Checks shared by the schema-change tests: does the real table match the metadata?"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import inspect, select, update

from workspace import models as m
from workspace.runtime import Runtime
from workspace.schema import definitions, tables

RT, F = m.record_types, m.fields


def type_row(runtime: Runtime, record_type_id: int) -> Any:
    with runtime.control.connect() as conn:
        return conn.execute(select(RT).where(RT.c.id == record_type_id)).mappings().first()


def field_rows(runtime: Runtime, record_type_id: int) -> list[Any]:
    with runtime.control.connect() as conn:
        query = select(F).where(F.c.record_type_id == record_type_id).order_by(F.c.id)
        return list(conn.execute(query).mappings())


def columns(runtime: Runtime, record_type_id: int) -> dict[str, str]:
    """The record table's real columns: name -> type as the database reports it."""
    found = inspect(runtime.control).get_columns(f"rt_{record_type_id}")
    return {c["name"]: repr(c["type"]) for c in found}


def link_tables(runtime: Runtime, field_ids: set[int]) -> set[str]:
    """Real link tables (any generation) of the given fields."""
    pattern = re.compile(r"^lnk_(\d+)(_\d+)?$")
    return {
        name
        for name in inspect(runtime.control).get_table_names()
        if (hit := pattern.match(name)) and int(hit.group(1)) in field_ids
    }


def assert_agrees(runtime: Runtime, record_type_id: int, *, known: set[int] = frozenset()) -> None:
    """The type is settled and its table, link tables and indexes are what the metadata says.

    ``known`` holds ids of fields that existed at some point (deleted ones too), so leftover
    link tables of those are caught.
    """
    row = type_row(runtime, record_type_id)
    assert row is not None
    assert row["pending_change"] is None, row["pending_change"]
    assert row["state"] == "ready"
    rows = field_rows(runtime, record_type_id)
    assert {r["state"] for r in rows} <= {"ready"}, [(r["id"], r["state"]) for r in rows]
    with runtime.control.connect() as conn:
        rt = definitions.build_def(conn, record_type_id, runtime)
    assert set(columns(runtime, record_type_id)) == {c.name for c in rt.table.columns}
    ids = {f.id for f in rt.fields} | set(known)
    assert link_tables(runtime, ids) == {f.column for f in rt.link_fields}
    assert _our_indexes(runtime, rt) == {str(ix.name) for ix in tables.field_indexes(rt)}


def assert_gone(runtime: Runtime, record_type_id: int, field_ids: set[int]) -> None:
    """No metadata, table or link table is left of a record type."""
    assert type_row(runtime, record_type_id) is None
    assert field_rows(runtime, record_type_id) == []
    names = set(inspect(runtime.control).get_table_names())
    assert f"rt_{record_type_id}" not in names
    assert f"dk_{record_type_id}" not in names
    assert link_tables(runtime, field_ids) == set()


def _our_indexes(runtime: Runtime, rt: Any) -> set[str]:
    prefixes = (f"ix_{rt.id}_", f"uq_{rt.id}_")
    found = inspect(runtime.control).get_indexes(rt.table.name)
    return {str(ix["name"]) for ix in found if str(ix["name"]).startswith(prefixes)}


def expire_lease(runtime: Runtime, record_type_id: int) -> None:
    """Make a written-down change look abandoned, as after a crashed process."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with runtime.control.begin() as conn:
        conn.execute(update(RT).where(RT.c.id == record_type_id).values(lease_until=past))
