"""Checking that a copy of a workspace's record data equals its source (issue #6).

Each table is compared by its row count on both sides and by SHA-256 checksums of the same
key ranges on both sides: the source is read in keyset batches, and for each batch the
target's rows in that batch's key range. The first range that differs is named, so an admin
(or the next attempt) knows where to look. Values are hashed as text computed in Python (see
``data_batches``), so the comparison holds across MySQL, MariaDB and SQLite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, Table, update

from workspace.clock import utcnow
from workspace.db import transaction
from workspace.schema.tables import RecordTypeDef
from workspace.services import data_batches as batches
from workspace.services.data_copy import DEFAULT_BATCH, MOVES, TABLES, record_tables


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
) -> list[TableCheck]:
    """Compare every table of the types on both sides, record the result per table, and mark
    the move ``verified`` or ``mismatch``. Returns the tables that differ."""
    found = [check_table(source, target, table, batch_size) for _, table in record_tables(types)]
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
        bad = [r for r in found if r.mismatch]
        conn.execute(
            update(MOVES)
            .where(MOVES.c.id == move_id)
            .values(
                state="mismatch" if bad else "verified",
                error="; ".join(str(r.mismatch) for r in bad)[:2000] or None,
                finished_at=utcnow(),
            )
        )
    return bad


def check_table(source: Engine, target: Engine, table: Table, batch_size: int) -> TableCheck:
    """Row counts and range-by-range checksums of one table on both sides."""
    with transaction(source) as conn:
        source_rows = batches.count(conn, table)
    with transaction(target) as conn:
        target_rows = batches.count(conn, table)
    whole = hashlib.sha256()
    low: batches.Key | None = None
    while True:
        with transaction(source) as conn:
            rows = batches.read_batch(conn, table, low, batch_size)
        last = len(rows) < batch_size
        high = None if last else batches.key_of(table, rows[-1])
        with transaction(target) as conn:
            # One row more than the source has tells a surplus apart from a match.
            theirs = batches.read_range(conn, table, low, high, len(rows) + 1)
        ours = batches.digest(rows)
        if len(theirs) != len(rows) or batches.digest(theirs) != ours:
            where = f"rows after {batches.describe_key(low)}"
            where += " to the end" if high is None else f" up to {batches.describe_key(high)}"
            return TableCheck(
                table.name, source_rows, target_rows, None, f"{table.name}: {where} differ"
            )
        whole.update(ours.encode())
        if last:
            break
        low = high
    if source_rows != target_rows:  # rows written to one side while it was read
        mismatch = f"{table.name}: {source_rows} rows in the source, {target_rows} in the copy"
        return TableCheck(table.name, source_rows, target_rows, None, mismatch)
    return TableCheck(table.name, source_rows, target_rows, whole.hexdigest(), None)
