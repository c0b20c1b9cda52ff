"""Checking that a copy of a workspace's record data equals its source (issue #6).

Each table is compared by its row count on both sides and by SHA-256 checksums of the same
key ranges on both sides: the source is read in keyset batches, and for each batch the
target's rows in that batch's key range. The first range that differs is named, so an admin
(or the next attempt) knows where to look. Values are hashed as text computed in Python (see
``data_batches``), so the comparison holds across MySQL, MariaDB and SQLite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine, Table, update

from workspace.db import transaction
from workspace.schema.tables import RecordTypeDef
from workspace.services import data_batches as batches
from workspace.services import data_copy
from workspace.services.data_copy import DEFAULT_BATCH, TABLES, record_tables

#: Rewrites the target's key range (low, high] to hold the source's rows.
Repair = Callable[[batches.Key | None, batches.Key | None, list[Any]], None]


@dataclass(frozen=True)
class TableCheck:
    """What verification found for one table; ``mismatch`` is None when both sides agree."""

    table: str
    source_rows: int
    target_rows: int
    checksum: str | None
    mismatch: str | None


def verify(
    control: Engine,
    move_id: int,
    source: Engine,
    target: Engine,
    types: Sequence[RecordTypeDef],
    *,
    batch_size: int = DEFAULT_BATCH,
    beat: Callable[[], None] | None = None,
    repair: bool = False,
) -> list[TableCheck]:
    """Compare every table of the types on both sides and record the result per table
    (``verified`` or ``mismatch``). Returns the tables that differ. ``beat`` is called after
    each key range (the mover's lease).

    With ``repair`` (while writes are frozen), a key range that differs is copied again and
    compared once more: the copy is made equal and verified in one walk, which keeps the
    freeze to a single read of both sides. Only a range that still differs is a mismatch."""
    unique = data_copy.unique_columns(types)
    found = []
    for _, table in record_tables(types):
        fix = partial(data_copy.write_range, target, table, unique=unique[table.name])
        found.append(check_table(source, target, table, batch_size, fix if repair else None, beat))
    with transaction(control, write=True) as conn:
        for result in found:
            conn.execute(
                update(TABLES)
                .where(TABLES.c.move_id == move_id, TABLES.c.table_name == result.table)
                .values(
                    state="mismatch" if result.mismatch else "verified",
                    source_rows=result.source_rows,
                    target_rows=result.target_rows,
                    checksum=result.checksum,
                    mismatch=result.mismatch,
                )
            )
    return [r for r in found if r.mismatch]


def check_table(
    source: Engine,
    target: Engine,
    table: Table,
    batch_size: int,
    repair: Repair | None = None,
    beat: Callable[[], None] | None = None,
) -> TableCheck:
    """Row counts and range-by-range checksums of one table on both sides; ``repair`` (low,
    high, rows) rewrites a range that differs before it is compared once more."""
    whole = hashlib.sha256()
    for found in batches.ranges(source, target, table, batch_size):
        equal = found.equal
        if not equal and repair is not None:
            repair(found.low, found.high, found.rows)
            equal = batches.matches(
                target, table, found.low, found.high, found.rows, found.checksum
            )
        if not equal:
            rows = _counts(source, target, table)
            return TableCheck(table.name, *rows, None, found.describe(table))
        whole.update(found.checksum.encode())
        if beat is not None:
            beat()
    source_rows, target_rows = _counts(source, target, table)
    if source_rows != target_rows:  # rows written to one side while it was read
        mismatch = f"{table.name}: {source_rows} rows in the source, {target_rows} in the copy"
        return TableCheck(table.name, source_rows, target_rows, None, mismatch)
    return TableCheck(table.name, source_rows, target_rows, whole.hexdigest(), None)


def _counts(source: Engine, target: Engine, table: Table) -> tuple[int, int]:
    with transaction(source) as conn:
        source_rows = batches.count(conn, table)
    with transaction(target) as conn:
        return source_rows, batches.count(conn, table)
