"""The only module that changes the shape of record data (CREATE / ALTER / DROP).

MySQL commits every DDL statement on its own, so no step here may assume it runs inside the
caller's transaction. Every function is idempotent instead: it looks at what exists and does
only what is missing. A change that died half way is finished or undone by running the same
function again (see ``services.schema_changes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection, Index, MetaData, Select, inspect

from workspace.schema import adopted, naming, tables
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef, SpanDef


def _ops(conn: Connection) -> Operations:
    return Operations(MigrationContext.configure(conn))


def create_record_table(conn: Connection, rt: RecordTypeDef) -> None:
    """Create the type's table, its link tables and indexes (whatever is missing).

    For an adopted type: the side, keys and link tables and the view, never anything on the
    customer's table.
    """
    if rt.source is not None:
        ours = [rt.side_table, rt.keys_table, *(rt.link_table(f) for f in rt.link_fields)]
        for table in ours:
            table.create(conn, checkfirst=True)
        replace_view(conn, rt.table.name, adopted.view_query(rt))
        return
    rt.table.metadata.create_all(conn, checkfirst=True)
    ensure_indexes(conn, rt.table.name, tables.field_indexes(rt))


def drop_record_table(conn: Connection, rt: RecordTypeDef) -> None:
    """Drop the type's tables. An adopted type's view and side tables go; the customer's
    table and its rows stay as they are."""
    names = [f.column for f in rt.link_fields] + [rt.keys_table.name]
    if rt.source is not None:
        drop_view(conn, rt.table.name)
        names.append(rt.side_table.name)
    else:
        names.append(rt.table.name)
    existing = set(inspect(conn).get_table_names())
    for name in names:
        if name in existing:
            _ops(conn).drop_table(name)


def ensure_keys_table(conn: Connection, rt: RecordTypeDef) -> None:
    """The dedupe keys table (types created before dedupe existed may lack it)."""
    rt.keys_table.create(conn, checkfirst=True)


def ensure_span_keys_table(conn: Connection, span: SpanDef) -> None:
    """The key space of a rule across record types."""
    span.keys_table.create(conn, checkfirst=True)


def drop_span_keys_table(conn: Connection, span_id: int) -> None:
    if naming.span_keys_table(span_id) in set(inspect(conn).get_table_names()):
        _ops(conn).drop_table(naming.span_keys_table(span_id))


def add_field(conn: Connection, rt: RecordTypeDef, f: FieldDef) -> None:
    """Add a field's columns or link table and its index to an existing record table."""
    if f.type.uses_link_table:
        link = f.type.link_table(f, MetaData())
        assert link is not None
        link.create(conn, checkfirst=True)
        return
    if rt.source is not None:
        raise ValueError("an adopted table gets no new columns")  # refused by the services
    present = {c["name"] for c in inspect(conn).get_columns(rt.table.name)}
    ops = _ops(conn)
    for column in f.type.columns(f):
        if column.name not in present:
            ops.add_column(rt.table.name, column)
    ensure_indexes(conn, rt.table.name, tables.field_index_list(rt.id, f))


def drop_field(conn: Connection, rt: RecordTypeDef, f: FieldDef) -> None:
    """Drop a field's indexes, columns or link table (whatever still exists)."""
    inspector = inspect(conn)
    if f.type.uses_link_table:
        if f.column in inspector.get_table_names():
            _ops(conn).drop_table(f.column)
        return
    if rt.source is not None:
        return  # the customer's column stays; the field only stops mapping it
    names = {c.name for c in f.type.columns(f)}
    for index in inspector.get_indexes(rt.table.name):
        if names & set(index["column_names"]):
            _ops(conn).drop_index(str(index["name"]), table_name=rt.table.name)
    present = {c["name"] for c in inspector.get_columns(rt.table.name)}
    ops = _ops(conn)
    for name in sorted(names & present):
        ops.drop_column(rt.table.name, name)


def ensure_indexes(conn: Connection, table_name: str, indexes: Iterable[Index]) -> None:
    existing = {ix["name"] for ix in inspect(conn).get_indexes(table_name)}
    ops = _ops(conn)
    for index in indexes:
        if index.name not in existing:
            columns = [c if isinstance(c, str) else c.name for c in index.expressions]
            ops.create_index(str(index.name), table_name, columns, unique=bool(index.unique))


def drop_index(conn: Connection, table_name: str, name: str) -> None:
    existing = {ix["name"] for ix in inspect(conn).get_indexes(table_name)}
    if name in existing:
        _ops(conn).drop_index(name, table_name=table_name)


def existing_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def reconcile_indexes(conn: Connection, rt: RecordTypeDef) -> None:
    """Make the table's own indexes match the definition: drop strays, add what is missing.
    An adopted table has none of ours."""
    if rt.source is not None:
        return
    wanted = tables.field_indexes(rt)
    wanted_names = {index.name for index in wanted}
    ours = (f"ix_{rt.id}_", f"uq_{rt.id}_")
    for index in inspect(conn).get_indexes(rt.table.name):
        name = str(index["name"])
        if name.startswith(ours) and name not in wanted_names:
            _ops(conn).drop_index(name, table_name=rt.table.name)
    ensure_indexes(conn, rt.table.name, wanted)


# ---- readable views ----------------------------------------------------------


def replace_view(conn: Connection, name: str, query: Select[Any]) -> None:
    """Create or replace the view ``name`` as ``query`` (MySQL and MariaDB). Every name in it
    is quoted by the dialect's identifier preparer; the query has no parameters."""
    preparer = conn.dialect.identifier_preparer
    body = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {preparer.quote_identifier(name)} AS {body}")


def drop_view(conn: Connection, name: str) -> None:
    preparer = conn.dialect.identifier_preparer
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {preparer.quote_identifier(name)}")


def existing_names(conn: Connection) -> tuple[set[str], set[str]]:
    """The tables and the views of the connection's database (lower case)."""
    inspector = inspect(conn)
    tables_found = {n.lower() for n in inspector.get_table_names()}
    return tables_found, {n.lower() for n in inspector.get_view_names()}
