"""Keyset batches of record data and their checksums, the same on MySQL and SQLite.

A table is read in primary-key order, ``batch`` rows at a time, each batch starting after the
last key of the one before: no OFFSET (which rereads everything skipped), and a copy can
resume from a key kept in the control database. The key columns are compared as
``a > x OR (a = x AND b > y)`` rather than as a row value ``(a, b) > (x, y)``, which
older MySQL versions cannot use an index for.

Checksums are computed here in Python over values read through the table's own column
types, so a DECIMAL on MySQL and the REAL SQLite keeps for it, or a DATETIME(6) and SQLite's
text, give the same text; MySQL's ``CHECKSUM TABLE`` depends on the server's version and row
format and is not comparable across servers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, Table, and_, func, or_, select, true

from workspace.db import transaction

Key = list[Any]


def key_columns(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def key_of(table: Table, row: Row[Any]) -> Key:
    return [row._mapping[column.name] for column in key_columns(table)]


def after(columns: Sequence[Any], key: Sequence[Any] | None) -> ColumnElement[bool]:
    """Rows whose key sorts after ``key`` (every row for None)."""
    if key is None:
        return true()
    head, value = columns[0], key[0]
    if len(columns) == 1:
        return head > value  # type: ignore[no-any-return]
    return or_(head > value, and_(head == value, after(columns[1:], key[1:])))


def up_to(columns: Sequence[Any], key: Sequence[Any]) -> ColumnElement[bool]:
    """Rows whose key sorts before or at ``key``."""
    head, value = columns[0], key[0]
    if len(columns) == 1:
        return head <= value  # type: ignore[no-any-return]
    return or_(head < value, and_(head == value, up_to(columns[1:], key[1:])))


def key_range(table: Table, low: Key | None, high: Key | None) -> ColumnElement[bool]:
    """Keys after ``low`` up to ``high``; without ``high`` every key after ``low``."""
    columns = key_columns(table)
    upper = true() if high is None else up_to(columns, high)
    return and_(after(columns, low), upper)


def read_batch(conn: Connection, table: Table, low: Key | None, size: int) -> list[Row[Any]]:
    """The next ``size`` rows after key ``low``, in key order."""
    columns = key_columns(table)
    query = select(table).where(after(columns, low)).order_by(*columns).limit(size)
    return list(conn.execute(query))


def read_range(
    conn: Connection, table: Table, low: Key | None, high: Key | None, limit: int | None
) -> list[Row[Any]]:
    """At most ``limit`` (None: all) rows with keys after ``low`` up to ``high``, in key
    order."""
    query = (
        select(table).where(key_range(table, low, high)).order_by(*key_columns(table)).limit(limit)
    )
    return list(conn.execute(query))


@dataclass(frozen=True)
class Range:
    """One key range of a table on both sides: the source's batch of rows after ``low`` up
    to ``high`` (None: to the end), their checksum, and whether the target's rows in the
    range are the same."""

    low: Key | None
    high: Key | None
    rows: list[Row[Any]]
    checksum: str
    equal: bool

    def describe(self, table: Table) -> str:
        where = f"rows after {describe_key(self.low)}"
        where += " to the end" if self.high is None else f" up to {describe_key(self.high)}"
        return f"{table.name}: {where} differ"


def ranges(source: Engine, target: Engine, table: Table, size: int) -> Iterator[Range]:
    """Walk the table on both sides in the source's batches of ``size`` rows."""
    low: Key | None = None
    while True:
        with transaction(source) as conn:
            rows = read_batch(conn, table, low, size)
        last = len(rows) < size
        high = None if last else key_of(table, rows[-1])
        ours = digest(rows)
        yield Range(low, high, rows, ours, matches(target, table, low, high, rows, ours))
        if last:
            return
        low = high


def matches(
    target: Engine,
    table: Table,
    low: Key | None,
    high: Key | None,
    rows: Sequence[Row[Any]],
    checksum: str,
) -> bool:
    """Whether the target holds exactly ``rows`` (whose digest is ``checksum``) in the key
    range after ``low`` up to ``high``."""
    with transaction(target) as conn:
        # One row more than the source has tells a surplus apart from a match.
        theirs = read_range(conn, table, low, high, len(rows) + 1)
    return len(theirs) == len(rows) and digest(theirs) == checksum


def count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def digest(rows: Sequence[Row[Any]]) -> str:
    """SHA-256 over the rows as text, independent of the order the database returned them
    in: within a key range, two servers may order text keys differently (MariaDB's
    ``utf8mb4_bin`` pads with spaces, so ``"a\\t"`` sorts before ``"a"`` there and after it on
    SQLite). Where that moves a key across a batch boundary, verification reports the range
    as different rather than passing it."""
    lines = sorted(json.dumps([as_text(v) for v in row], ensure_ascii=False) for row in rows)
    sha = hashlib.sha256()
    for line in lines:
        sha.update(line.encode())
        sha.update(b"\n")
    return sha.hexdigest()


def as_text(value: Any) -> str | None:
    """One value as text that means the same whichever database it was read from."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"no text form for a {type(value).__name__} value")


def describe_key(key: Key | None) -> str:
    if key is None:
        return "the start"
    return "key (" + ", ".join(json.dumps(v, ensure_ascii=False, default=str) for v in key) + ")"
