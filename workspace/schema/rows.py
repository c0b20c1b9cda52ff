"""Writing record rows: one statement on a record table ``rt_<id>``; on an adopted table
 the customer's columns go to their table and the bookkeeping to the side table
``rs_<id>``, in the caller's transaction. Every write of a record's row passes through here,
so the services never need to know which kind of table they write to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.exc import DBAPIError

from workspace.db import inserted_id
from workspace.errors import ValidationFailed
from workspace.schema.tables import RecordTypeDef

#: MySQL's refusals of a value for a column (strict mode), in words for the field.
REFUSED_VALUES = {
    1048: "cannot be empty: its column in your table is NOT NULL",
    1264: "is out of the range of its column in your table",
    1265: "does not fit its column in your table",
    1366: "does not fit its column in your table",
    1406: "is too long for its column in your table",
}


def insert_rows(conn: Connection, rt: RecordTypeDef, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows and return their ids in order: one statement where RETURNING allows
    (MariaDB, SQLite), one per row elsewhere (MySQL) and for adopted tables."""
    if not rows:
        return []
    if rt.source is None:
        if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            return [row[0] for row in conn.execute(rt.insert_returning_id, rows)]
        return [inserted_id(conn.execute(insert(rt.table).values(row))) for row in rows]
    source, side = rt.source_table, rt.side_table
    ids = []
    for row in rows:
        with _refused_values(rt):
            record_id = inserted_id(conn.execute(insert(source).values(_own(source, row))))
        conn.execute(insert(side).values({**_own(side, row), "id": record_id}))
        ids.append(record_id)
    return ids


def update_row(
    conn: Connection,
    rt: RecordTypeDef,
    record_id: int,
    old_version: int,
    values: Mapping[str, Any],
) -> int:
    """``UPDATE ... SET values WHERE id = record_id AND version = old_version``; returns the
    number of rows it matched (0: the version moved on).

    On an adopted table the version lives in the side row; a row that has none yet (another
    system inserted it) is at version 1 and gets its side row now.
    """
    if rt.source is None:
        statement = rt.update_by_id(tuple(sorted(values)))
        params = {**values, "record_id": record_id, "old_version": old_version}
        return int(conn.execute(statement, params).rowcount)
    source, side = rt.source_table, rt.side_table
    own = _own(source, values)
    if own:
        with _refused_values(rt):
            conn.execute(update(source).where(source.c.id == record_id).values(own))
    bookkeeping = _own(side, values)
    done = conn.execute(
        update(side)
        .where(side.c.id == record_id, side.c.version == old_version)
        .values(bookkeeping)
    ).rowcount
    if done:
        return int(done)
    if old_version != 1 or conn.execute(select(side.c.id).where(side.c.id == record_id)).first():
        return 0
    conn.execute(insert(side).values({**bookkeeping, "id": record_id}))
    return 1


def touch_row(
    conn: Connection, rt: RecordTypeDef, record_id: int, values: Mapping[str, Any]
) -> None:
    """Move a record's version on and set ``values`` (updated at and by) without a version
    check: for a change made to it by a write of another record (a merge pointing its links
    at the survivor), so clients holding the old version and anything reading "written
    since" (a data move's frozen step) see that it changed."""
    table = rt.table if rt.source is None else rt.side_table
    done = conn.execute(
        update(table).where(table.c.id == record_id).values(version=table.c.version + 1, **values)
    ).rowcount
    if not done and rt.source is not None:  # no side row yet: it was at version 1
        conn.execute(insert(table).values(id=record_id, version=2, **values))


def _own(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that belong to ``table``'s columns (by key), never its primary key."""
    return {k: v for k, v in values.items() if k in table.c and k != "id"}


@contextmanager
def _refused_values(rt: RecordTypeDef) -> Iterator[None]:
    """A value the customer's column refuses (the field's config may allow more than the
    column holds, or the column was changed since adoption): 422 naming the field."""
    try:
        yield
    except DBAPIError as exc:
        args: tuple[Any, ...] = getattr(exc.orig, "args", ())
        reason = REFUSED_VALUES.get(args[0]) if args else None
        found = re.search(r"column '([^']*)'", str(args[1])) if len(args) > 1 else None
        if reason is None or found is None or rt.source is None:
            raise
        columns = {real: column for column, real in rt.source.columns.items()}
        f = next((f for f in rt.fields if f.column == columns.get(found.group(1))), None)
        raise ValidationFailed.single(f.key if f else found.group(1), reason) from None
