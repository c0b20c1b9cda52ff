"""Adopted tables: a customer's existing table used as a record type as it is.

The server issues no DDL on the customer's table. What it adds next to it is its own: the side
table ``rs_<id>`` (bookkeeping), the dedupe keys table ``dk_<id>``, link tables of
multi-valued fields, and the view ``rv_<id>`` that reads the customer's rows with their
bookkeeping under the names of a record table. The view reads the live table, so a row that
another system inserts or changes is seen on the next read.

Why a view rather than the join in every query: the view has exactly the columns of a record
table, so ``rt.table`` stays a plain ``Table`` and every read, filter, sort, search, keyset
page, lock (``SELECT ... FOR UPDATE`` on a MERGE view locks the customer's row) and readable
view works unchanged; only the writes differ, and they all pass through ``schema.rows``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, null, select, true

from workspace.schema.tables import SYSTEM_COLUMNS, RecordTypeDef


def view_query(rt: RecordTypeDef) -> Select[Any]:
    """The customer's rows outer-joined with their side rows, labelled as ``rt.table``."""
    source, side = rt.source_table, rt.side_table
    has_side = side.c.id.is_not(None)
    system = {
        "id": source.c.id,
        "version": func.coalesce(side.c.version, 1),
        # No side row: nobody deleted it through the server, so it is alive.
        "alive": case((has_side, side.c.alive), else_=true()),
    }
    columns = []
    for column in rt.table.columns:
        name = column.name
        if name in SYSTEM_COLUMNS:
            columns.append(system.get(name, side.c[name]).label(name))
        elif name in source.c:
            columns.append(source.c[name].label(name))
        elif name.endswith("_k") and name[:-2] in source.c:
            # A text field's sort and search key: lower case (the customer's collation
            # decides about accents) instead of a kept folded copy.
            columns.append(func.lower(source.c[name[:-2]]).label(name))
        else:
            columns.append(null().label(name))
    return select(*columns).select_from(source.outerjoin(side, side.c.id == source.c.id))
