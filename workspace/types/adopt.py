"""Adopting a table that already lives in the customer's MySQL as a record type.

An admin picks a table of the workspace's own database, sees its columns with the field type
each is offered as (suggested from the SQL type), leaves out what they like and adopts it. The
table keeps its name, columns and rows; the server adds only tables of its own next to it (see
``schema.adopted``). Which features work on the plain table and which need the side table is
said in :data:`FEATURES`, shown by the API and the page alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Column as SaColumn
from sqlalchemy import Connection, Integer, MetaData, String, Table, func, inspect, select
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import mysql

from workspace import models as m
from workspace.databases.connections import active_row
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import naming
from workspace.types import record_types
from workspace.types.field_specs import only_keys

RT = m.record_types
#: information_schema.COLUMNS, as far as it is read here.
INFO = Table(
    "COLUMNS",
    MetaData(schema="information_schema"),
    SaColumn("TABLE_SCHEMA", String(64), key="table_schema"),
    SaColumn("TABLE_NAME", String(64), key="table_name"),
    SaColumn("COLUMN_NAME", String(64), key="column_name"),
    SaColumn("COLUMN_KEY", String(3), key="column_key"),
    SaColumn("ORDINAL_POSITION", Integer, key="ordinal_position"),
)
#: What an adopted table can do, said plainly wherever adopting is offered.
FEATURES = {
    "plain_table": [
        "List, search, filter, sort and open records; saved views and the readable SQL view",
        "Create and edit records (a create fills the mapped columns; the database fills the "
        "rest with their defaults)",
        "Activity history of every change made through the server (UI, API, forms, imports)",
        "Rows inserted or changed directly in the database by other systems show on the next "
        "read (without activity entries: the server did not see them happen)",
        "Relation, multiple choice and file fields (they live in tables of their own)",
    ],
    "side_table": [
        "Version numbers and 'changed by someone else' conflicts (an edit made directly in "
        "the database does not move the version)",
        "Created and updated by and at (unknown for rows other systems inserted)",
        "Delete and restore: a deleted record stays in your table, hidden from the server",
        "Duplicate checks (match keys kept in dk_<id>): rows other systems insert or change "
        "are matched only once they are saved through the server, or when a rule is added",
    ],
    "not_available": [
        "Unique fields and unique combinations (they would need an index on your table)",
        "Adding columns or changing a column's type: change your table, not the field",
    ],
}
#: Integer ranges of MySQL's integer types, so a number field refuses what would not fit.
INT_RANGES = {
    mysql.TINYINT: 7,
    mysql.SMALLINT: 15,
    mysql.MEDIUMINT: 23,
    mysql.INTEGER: 31,
}
#: utf8mb4 characters that fit each TEXT type (4 bytes each at most).
TEXT_CHARS = {mysql.TINYTEXT: 63, mysql.TEXT: 16_383}
LONG_TEXT_CHARS = 100_000
MAX_DECIMALS = 8
TEXT_CHARS_MAX = 255


@dataclass
class Column:
    """One column of a customer's table and how it can become a field."""

    name: str
    sql_type: str
    nullable: bool
    default: str | None
    primary_key: bool
    auto_increment: bool
    integer: bool
    types: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    why_not: str | None = None

    @property
    def must_fill(self) -> bool:
        """NOT NULL without a default: an INSERT that leaves it out fails."""
        return not self.nullable and self.default is None and not self.auto_increment

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sql_type": self.sql_type,
            "nullable": self.nullable,
            "default": self.default,
            "primary_key": self.primary_key,
            "auto_increment": self.auto_increment,
            "suggested": self.types[0] if self.types else None,
            "types": self.types,
            "config": self.config,
            "why_not": self.why_not,
        }


# ---- looking at the customer's database ------------------------------------------------


def list_tables(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """The tables of the workspace's own database that are not the server's, each with the
    record type that adopted it (if one did)."""
    acc.require("admin")
    adopted = _adopted(runtime, acc)
    with transaction(_customer_engine(runtime, acc)) as data:
        names = _foreign_tables(data)
    return {
        "tables": [{"name": n, "adopted_as": adopted.get(n)} for n in names],
        "features": FEATURES,
    }


def describe(runtime: Runtime, acc: Access, table: str) -> dict[str, Any]:
    """A table's columns with their SQL types and the field types each is offered as, and
    whether the table can be adopted (and records created in it)."""
    acc.require("admin")
    adopted = _adopted(runtime, acc)
    with transaction(_customer_engine(runtime, acc)) as data:
        columns = _columns(data, _known_table(data, table))
    key = _key(columns)
    why_not = _why_not_adoptable(table, columns, adopted)
    return {
        "table": table,
        "key": key.name if key is not None else None,
        "adoptable": why_not is None,
        "why_not": why_not,
        "adopted_as": adopted.get(table),
        "columns": [c.public() for c in columns],
        "no_create": _no_create(columns, {c.name for c in columns if c.types}),
        "features": FEATURES,
    }


def _customer_engine(runtime: Runtime, acc: Access) -> Any:
    with transaction(runtime.control) as conn:
        row = active_row(conn, acc.workspace_id)
    if row is None:
        raise Conflict(
            "this workspace keeps its records in the managed database, which holds no tables "
            "of yours; connect the workspace to your own MySQL to adopt a table there"
        )
    return runtime.data_engine(acc.workspace_id)


def _foreign_tables(data: Connection) -> list[str]:
    """Base tables (not views) whose names are not the server's record tables."""
    return sorted(n for n in inspect(data).get_table_names() if not naming.is_record_table(n))


def _known_table(data: Connection, table: Any) -> str:
    """``table`` if it is one of :func:`_foreign_tables` (so no other name reaches SQL)."""
    if not isinstance(table, str) or table not in _foreign_tables(data):
        raise NotFound(f"no table {str(table)[:64]!r} of yours in this workspace's database")
    return table


def _adopted(runtime: Runtime, acc: Access) -> dict[str, dict[str, Any]]:
    with transaction(runtime.control) as conn:
        rows = conn.execute(
            select(RT.c.id, RT.c.name, RT.c.source).where(
                RT.c.workspace_id == acc.workspace_id, RT.c.source.is_not(None)
            )
        ).all()
    return {r.source["table"]: {"id": r.id, "name": r.name} for r in rows if r.source}


def _columns(data: Connection, table: str) -> list[Column]:
    """The table's columns: names and keys as information_schema has them, types as
    SQLAlchemy reflects them (same order). The reflection parses SHOW CREATE TABLE and leaves
    a backtick in a name doubled (```a``b``` reads as "a``b")."""
    named = data.execute(
        select(INFO.c.column_name, INFO.c.column_key)
        .where(INFO.c.table_schema == func.database(), INFO.c.table_name == table)
        .order_by(INFO.c.ordinal_position)
    ).all()
    keys = [row.column_name for row in named if row.column_key == "PRI"]
    found = []
    for row, c in zip(named, inspect(data).get_columns(table), strict=True):
        column = Column(
            name=row.column_name,
            sql_type=_sql_type(c["type"]),
            nullable=bool(c["nullable"]),
            default=None if c.get("default") is None else str(c["default"]),
            primary_key=row.column_name in keys,
            auto_increment=c.get("autoincrement") is True,
            integer=isinstance(c["type"], sa_types.Integer),
        )
        if column.primary_key:
            column.why_not = "the primary key is the record's id"
        else:
            _offer(column, c["type"])
        found.append(column)
    if len(keys) != 1:
        for column in found:
            column.primary_key = False  # no single key: no record ids
    return found


def _sql_type(sql_type: Any) -> str:
    try:
        return str(sql_type.compile(dialect=mysql.dialect()))
    except Exception:  # an exotic type SQLAlchemy reflects but cannot print
        return type(sql_type).__name__


def _offer(column: Column, t: Any) -> None:
    """The field types a column can be read and written as, the best first, with the config
    that keeps values within what the column holds; or why it is not offered."""
    if (isinstance(t, mysql.TINYINT) and t.display_width == 1) or isinstance(t, sa_types.Boolean):
        column.types = ["checkbox"]
    elif isinstance(t, mysql.ENUM):
        column.types = ["single_choice"]
        column.config = {"choices": [{"label": label} for label in t.enums]}
    elif isinstance(t, mysql.SET):
        column.why_not = "a SET column holds several values in one column; no field type does"
    elif isinstance(t, sa_types.Integer):
        column.types = ["number"]
        column.config = _int_range(t)
    elif isinstance(t, sa_types.Float):
        column.why_not = "floating-point numbers are inexact; number fields keep exact decimals"
    elif isinstance(t, sa_types.Numeric):
        _offer_decimal(column, t)
    elif isinstance(t, sa_types.Text) or (isinstance(t, sa_types.String) and not t.length):
        chars = next((n for kind, n in TEXT_CHARS.items() if type(t) is kind), LONG_TEXT_CHARS)
        column.types = ["long_text"]
        column.config = {"max_length": chars}
    elif isinstance(t, sa_types.String) and t.length:
        _offer_string(column, t.length)
    elif isinstance(t, sa_types.DateTime):
        column.types = ["datetime"]
    elif isinstance(t, sa_types.Date):
        column.types = ["date"]
    else:
        column.why_not = f"no field type stores {column.sql_type} values"


def _int_range(t: Any) -> dict[str, Any]:
    bits = next((n for kind, n in INT_RANGES.items() if type(t) is kind), None)
    if bits is None:
        return {}  # BIGINT: the number field's own limit is narrower
    if getattr(t, "unsigned", False):
        return {"min": 0, "max": 2 ** (bits + 1) - 1}
    return {"min": -(2**bits), "max": 2**bits - 1}


def _offer_decimal(column: Column, t: Any) -> None:
    scale, precision = t.scale or 0, t.precision or 10
    if scale > MAX_DECIMALS:
        column.why_not = f"number fields keep at most {MAX_DECIMALS} decimal places"
        return
    top = Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)
    column.types = ["number"]
    low = 0 if getattr(t, "unsigned", False) else -top
    column.config = {"decimals": scale, "min": str(low), "max": str(top)}


def _offer_string(column: Column, length: int) -> None:
    if length > TEXT_CHARS_MAX:
        column.types = ["long_text"]
        column.config = {"max_length": length}
        return
    column.types = ["text", "long_text"]
    column.config = {"max_length": length}


def _key(columns: list[Column]) -> Column | None:
    return next((c for c in columns if c.primary_key), None)


def _why_not_adoptable(table: str, columns: list[Column], adopted: Mapping[str, Any]) -> str | None:
    if table in adopted:
        return f"it is already adopted as the record type {adopted[table]['name']!r}"
    key = _key(columns)
    if key is None:
        return (
            f"table {table!r} has no single-column primary key; a record needs one integer "
            "column that tells its rows apart"
        )
    if not key.integer:
        return f"the primary key {key.name!r} of table {table!r} is {key.sql_type}, not an integer"
    return None


def _no_create(columns: list[Column], mapped: set[str]) -> str | None:
    """Why records could not be created by the server with this mapping, or None."""
    key = _key(columns)
    if key is not None and not key.auto_increment:
        return (
            f"its primary key {key.name!r} is not AUTO_INCREMENT, so only your other systems "
            "can add rows"
        )
    unfilled = [c.name for c in columns if c.must_fill and c.name not in mapped]
    if unfilled:
        return (
            "the column(s) "
            + ", ".join(repr(n) for n in unfilled)
            + " must be filled (NOT NULL without a default) but are left out"
        )
    return None


# ---- adopting --------------------------------------------------------------------------


def adopt(runtime: Runtime, acc: Access, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Make ``spec["table"]`` a record type named ``spec["name"]`` (the table's name by
    default) with a field per chosen column: ``spec["columns"]`` lists
    ``{"column", "type"?, "name"?}`` (every offered column with its suggested type when left
    out). Refused with 422 naming the table or the column; 409 on the managed database."""
    acc.require("admin")
    only_keys(spec, {"table", "name", "columns"}, "")
    table = spec.get("table")
    adopted = _adopted(runtime, acc)
    with transaction(_customer_engine(runtime, acc)) as data:
        if not isinstance(table, str) or table not in _foreign_tables(data):
            raise ValidationFailed.single("table", f"no table {str(table)[:64]!r} of yours")
        columns = _columns(data, table)
    why_not = _why_not_adoptable(table, columns, adopted)
    if why_not is not None:
        raise ValidationFailed.single("table", f"cannot adopt {table!r}: {why_not}")
    chosen = _chosen(columns, spec.get("columns"))
    fields = [_field_spec(column, kind, name) for column, kind, name in chosen]
    _unclash(fields)
    key = _key(columns)
    assert key is not None
    source = {
        "table": table,
        "key": key.name,
        "no_create": _no_create(columns, {c.name for c, _, _ in chosen}),
    }
    name = spec.get("name") or table
    return record_types.create_type(
        runtime,
        acc,
        {"name": name, "fields": fields},
        source=source,
        columns=tuple(c.name for c, _, _ in chosen),
    )


def _chosen(columns: list[Column], wanted: Any) -> list[tuple[Column, str, str | None]]:
    """(column, field type, field name) per chosen column, checked against the offers."""
    by_name = {c.name: c for c in columns}
    if wanted is None:
        return [(c, c.types[0], None) for c in columns if c.types]
    if not isinstance(wanted, list):
        raise ValidationFailed.single("columns", "must be a list of {column, type, name}")
    chosen: list[tuple[Column, str, str | None]] = []
    errors: dict[str, str] = {}
    for index, item in enumerate(wanted):
        label = f"columns[{index}]"
        if not isinstance(item, Mapping) or set(item) - {"column", "type", "name"}:
            errors[label] = "must be an object with column, and optionally type and name"
            continue
        wanted_name = item.get("column")
        column = by_name.get(wanted_name) if isinstance(wanted_name, str) else None
        if column is None:
            errors[label + ".column"] = f"no column {str(item.get('column'))[:64]!r} in the table"
        elif not column.types:
            errors[label + ".column"] = f"{column.name!r} is not offered: {column.why_not}"
        elif any(c is column for c, _, _ in chosen):
            errors[label + ".column"] = f"{column.name!r} is chosen twice"
        elif item.get("type", column.types[0]) not in column.types:
            errors[label + ".type"] = f"{column.name!r} can be: {', '.join(column.types)}"
        else:
            chosen.append((column, item.get("type", column.types[0]), item.get("name")))
    if errors:
        raise ValidationFailed("some columns cannot be adopted like this", fields=errors)
    return chosen


def _field_spec(column: Column, kind: str, name: str | None) -> dict[str, Any]:
    """The field for a column. A column that cannot hold NULL makes the field required (a
    checkbox is never empty), so an empty value is refused by name, not by MySQL."""
    config = dict(column.config) if kind == column.types[0] else {}
    if kind == "long_text" and "max_length" in column.config:
        config = {"max_length": column.config["max_length"]}
    if not column.nullable and kind != "checkbox":
        config["required"] = True
    return {"name": name or column.name, "type": kind, "config": config}


def _unclash(fields: list[dict[str, Any]]) -> None:
    """Column names that differ only in case ("Name", "name") get " 2", " 3"."""
    taken: set[str] = set()
    for spec in fields:
        name, n = " ".join(str(spec["name"]).split()) or "Column", 1
        candidate = name
        while candidate.lower() in taken:
            n += 1
            candidate = f"{name} {n}"
        taken.add(candidate.lower())
        spec["name"] = candidate
