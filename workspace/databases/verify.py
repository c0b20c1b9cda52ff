"""Checking that a copy of a workspace's record data equals its source.

Each table is compared by its row count on both sides and by SHA-256 checksums of the same
key ranges on both sides: the source is read in keyset batches, and for each batch the
target's rows in that batch's key range. The first range that differs is named, so an admin
(or the next attempt) knows where to look. Values are hashed as text computed in Python (see
``data_batches``), so the comparison holds across MySQL, MariaDB and SQLite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, delete, func, insert, select, update

from workspace.databases import batches, copies
from workspace.databases.copies import DEFAULT_BATCH, TABLES, record_tables
from workspace.db import transaction
from workspace.schema.tables import RecordTypeDef

#: Rewrites the target's key range (low, high] to hold the source's rows.
Repair = Callable[[batches.Key | None, batches.Key | None, list[Any]], None]
#: What :func:`settle` takes beyond copying the rows written since the walk: one row count
#: per table on each side and the switch's control transaction (a move of 100,000 records
#: under load froze writes for about 0.2 s in all).
SETTLE_FIXED = dt.timedelta(seconds=0.5)


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

    With ``repair`` (a move resumed while frozen, when the walk before the freeze is not
    known), a key range that differs is copied again and compared once more: the copy is
    made equal and verified in one read of both sides. Only a range that still differs is a
    mismatch."""
    unique = copies.unique_columns(types)
    found = []
    for _, table in record_tables(types):
        fix = partial(copies.write_range, target, table, unique=unique[table.name])
        found.append(check_table(source, target, table, batch_size, fix if repair else None, beat))
    _record(control, move_id, found)
    return [r for r in found if r.mismatch]


#: Per table, key ranges (low, high] that still differed after a walk copied them again.
Unsettled = dict[str, list[tuple[batches.Key | None, batches.Key | None]]]


def walk(
    source: Engine,
    target: Engine,
    types: Sequence[RecordTypeDef],
    *,
    batch_size: int = DEFAULT_BATCH,
    beat: Callable[[], None] | None = None,
) -> tuple[Unsettled, dict[str, str]]:
    """While writes go on: compare every key range of every table on both sides, copy a
    range that differs again and compare it once more. Returns the ranges that still differ
    (a write landed in one meanwhile, or the target changes what it is given) and each
    table's checksum, the SHA-256 over its ranges' checksums."""
    unique = copies.unique_columns(types)
    left: Unsettled = {}
    checksums = {}
    for _, table in record_tables(types):
        whole = hashlib.sha256()
        for found in batches.ranges(source, target, table, batch_size):
            if not found.equal:
                copies.write_range(
                    target, table, found.low, found.high, found.rows, unique[table.name]
                )
                if not batches.matches(
                    target, table, found.low, found.high, found.rows, found.checksum
                ):
                    left.setdefault(table.name, []).append((found.low, found.high))
            whole.update(found.checksum.encode())
            if beat is not None:
                beat()
        checksums[table.name] = whole.hexdigest()
    return left, checksums


def settle(
    control: Engine,
    move_id: int,
    source: Engine,
    target: Engine,
    types: Sequence[RecordTypeDef],
    since: dt.datetime,
    walked: tuple[Unsettled, dict[str, str]],
    *,
    beat: Callable[[], None] | None = None,
) -> list[TableCheck]:
    """While writes are frozen, after a :func:`walk` that began at ``since``: make the copy
    equal and prove it, reading only what may have changed since the walk compared it.
    Records the result per table and returns the tables that differ.

    The walk found every range equal, or made it equal and compared it again, except the
    ranges it returns. Rows written after ``since`` may have changed after the walk read
    them: every write of a record, its links and its dedupe keys moves the record's
    ``updated_at`` (a merge also moves those of the records whose links it points at the
    survivor), so the rows of records written since are copied again and compared, and so
    are the ranges the walk left different (a target that alters what it is given fails
    here, naming the range). Last, each table's row count is compared on both sides. The
    freeze so lasts as long as the latest writes take to copy, not as long as reading the
    whole workspace on both sides (bench/data_move.py)."""
    left, checksums = walked
    written = _written_since(source, types, since)
    unique = copies.unique_columns(types)
    found = []
    for rt in types:
        for table, taken in _tables_and_rows(rt, written):
            fix = partial(copies.write_range, target, table, unique=unique[table.name])
            mismatch = _settle_ranges(source, target, table, left.get(table.name, []), fix)
            mismatch = mismatch or _settle_rows(source, target, table, taken, beat)
            source_rows, target_rows = _counts(source, target, table)
            mismatch = mismatch or _count_mismatch(table, source_rows, target_rows)
            checksum = None if mismatch else checksums.get(table.name)
            found.append(TableCheck(table.name, source_rows, target_rows, checksum, mismatch))
    _record(control, move_id, found)
    return [r for r in found if r.mismatch]


def _settle_ranges(
    source: Engine,
    target: Engine,
    table: Table,
    ranges: list[tuple[batches.Key | None, batches.Key | None]],
    repair: Repair,
) -> str | None:
    """Copy each range again and compare it; the first that still differs, described."""
    for low, high in ranges:
        with transaction(source) as conn:
            rows = batches.read_range(conn, table, low, high, None)
        repair(low, high, rows)
        if not batches.matches(target, table, low, high, rows, batches.digest(rows)):
            return batches.Range(low, high, rows, "", False).describe(table)
    return None


def expected_freeze(
    source: Engine, types: Sequence[RecordTypeDef], since: dt.datetime, walk: dt.timedelta
) -> dt.timedelta:
    """How long :func:`settle` should take after a :func:`walk` that began at ``since`` and
    took ``walk``: it copies and compares again the records written since, as the walk
    compared every record, so about the walk's time per record for those, plus the row
    counts and the switch (:data:`SETTLE_FIXED`). Read just before the freeze, it is what
    writes refused meanwhile are told to wait (Retry-After)."""
    written = total = 0
    with transaction(source) as conn:
        for rt in types:
            count = select(func.count()).select_from(rt.table)
            total += int(conn.execute(count).scalar_one())
            recent = count.where(rt.table.c.updated_at >= since)
            written += int(conn.execute(recent).scalar_one())
    share = written / total if total else 0.0
    return walk * share + SETTLE_FIXED


def _written_since(
    source: Engine, types: Sequence[RecordTypeDef], since: dt.datetime
) -> dict[int, list[int]]:
    """Ids of each type's records written at or after ``since``."""
    with transaction(source) as conn:
        return {
            rt.id: list(
                conn.execute(
                    select(rt.table.c.id).where(rt.table.c.updated_at >= since).order_by("id")
                ).scalars()
            )
            for rt in types
        }


def _tables_and_rows(
    rt: RecordTypeDef, written: dict[int, list[int]]
) -> Iterator[tuple[Table, list[ColumnElement[bool]]]]:
    """Each table of the type with the conditions (one per chunk of ids) that select the
    rows of records written since."""
    ids = written[rt.id]
    yield rt.table, _chunked(rt.table.c.id, ids)
    for f in rt.link_fields:
        link = rt.link_table(f)
        taken = _chunked(link.c.record_id, ids)
        if f.type.name == "relation":
            taken += _chunked(link.c.value, written.get(int(f.config["target"]), []))
        yield link, taken
    yield rt.keys_table, _chunked(rt.keys_table.c.record_id, ids)


def _chunked(column: Any, ids: list[int], size: int = 500) -> list[ColumnElement[bool]]:
    return [column.in_(ids[i : i + size]) for i in range(0, len(ids), size)]


def _settle_rows(
    source: Engine,
    target: Engine,
    table: Table,
    taken: list[ColumnElement[bool]],
    beat: Callable[[], None] | None,
) -> str | None:
    """Copy the rows each condition selects again and compare them on both sides."""
    for where in taken:
        with transaction(source) as conn:
            rows = list(conn.execute(select(table).where(where)))
        with transaction(target, write=True) as conn:
            conn.execute(delete(table).where(where))
            if rows:
                conn.execute(insert(table), [dict(row._mapping) for row in rows])
        with transaction(target) as conn:
            theirs = list(conn.execute(select(table).where(where)))
        if len(theirs) != len(rows) or batches.digest(theirs) != batches.digest(rows):
            return f"{table.name}: rows of records written during the move differ"
        if beat is not None:
            beat()
    return None


def _record(control: Engine, move_id: int, found: list[TableCheck]) -> None:
    """Write what verification found per table into ``data_move_tables``. The rows the
    target holds are what counts as copied from then on: rows written during the move were
    copied by the walk and the frozen step, not by the first copy, and the figures an admin
    sees must agree with what was verified."""
    with transaction(control, write=True) as conn:
        for result in found:
            conn.execute(
                update(TABLES)
                .where(TABLES.c.move_id == move_id, TABLES.c.table_name == result.table)
                .values(
                    state="mismatch" if result.mismatch else "verified",
                    source_rows=result.source_rows,
                    target_rows=result.target_rows,
                    copied_rows=result.target_rows,
                    checksum=result.checksum,
                    mismatch=result.mismatch,
                )
            )


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
    mismatch = _count_mismatch(table, source_rows, target_rows)
    checksum = None if mismatch else whole.hexdigest()
    return TableCheck(table.name, source_rows, target_rows, checksum, mismatch)


def _count_mismatch(table: Table, source_rows: int, target_rows: int) -> str | None:
    if source_rows == target_rows:
        return None
    return f"{table.name}: {source_rows} rows in the source, {target_rows} in the copy"


def _counts(source: Engine, target: Engine, table: Table) -> tuple[int, int]:
    with transaction(source) as conn:
        source_rows = batches.count(conn, table)
    with transaction(target) as conn:
        return source_rows, batches.count(conn, table)
