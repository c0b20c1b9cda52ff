"""Copying a workspace's record data to another database, resumable batch by batch.

The record data of a workspace is, per record type, its table ``rt_<id>``, a link table
``lnk_<field>`` per multi-valued field (multiple choice, relations) and its dedupe keys table
``dk_<id>``. A move copies all of them to the target database:

1. :func:`prepare_target` creates the tables there through the schema engine (same columns,
   indexes and collations); a table left by an interrupted copy is reused once it is checked
   to match the definition.
2. :func:`copy_tables` copies each table in keyset batches (see ``data_batches``), rows with
   their primary keys, and keeps in ``data_move_tables`` the last key whose batch is
   committed on the target. A copy killed half way resumes after that key.
3. ``data_verify.verify`` compares row counts and per-range checksums of both sides and,
   with repair, copies a differing range again before comparing it once more (catching up
   with writes made during the copy); ``data_verify.settle`` does the same, while writes are
   frozen, for the rows of records written since; :func:`retry` copies the tables found
   different again.

A batch is written as "delete the batch's key range on the target, then insert its rows",
in one target transaction. When a copy dies after the target committed a batch but before
the control database recorded it, the resumed copy writes that batch again: the delete makes
that idempotent on MySQL and SQLite alike. ``INSERT IGNORE`` or an upsert would not do: they
would quietly keep a stale row (or skip a row clashing on a unique index) instead of making
the range equal to the source. The last batch deletes every key after the previous one, so
rows a crashed earlier attempt left beyond the source's last key go too.

Freezing writes, switching and the old copy are :mod:`workspace.databases.moves`' part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    column,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy import table as sql_table
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import batches, gate
from workspace.db import inserted_id, is_mysql, transaction
from workspace.errors import Conflict
from workspace.schema import ddl, tables
from workspace.schema.tables import RecordTypeDef

MOVES, TABLES = m.data_moves, m.data_move_tables
#: The views of the connection's MySQL database with their SQL (shown to their definer
#: without the SHOW VIEW privilege, which SHOW CREATE VIEW would need).
VIEWS = (
    select(column("TABLE_NAME", String), column("VIEW_DEFINITION", String))
    .select_from(sql_table("VIEWS", schema="information_schema"))
    .where(column("TABLE_SCHEMA") == func.database())
)
DEFAULT_BATCH = 1000
#: Told after each batch is committed on the target and recorded in the control database:
#: (table name, rows copied of it so far).
Progress = Callable[[str, int], None]


def record_tables(types: Sequence[RecordTypeDef]) -> Iterator[tuple[int, Table]]:
    """Every table holding the types' record data: record table, link tables, keys table."""
    for rt in types:
        yield rt.id, rt.table
        for f in rt.link_fields:
            yield rt.id, rt.link_table(f)
        yield rt.id, rt.keys_table


def start(
    conn: Connection,
    workspace_id: int,
    *,
    source_id: int | None,
    target_id: int | None,
    started_by: int | None = None,
    **values: Any,
) -> int:
    """Inside the caller's transaction: record a new move of the workspace's records
    (``None`` is the managed database) and return its id. One move at a time: an unfinished
    one is resumed or cancelled, not started again."""
    gate.lock_workspace(conn, workspace_id, exclusive=True)  # two admins: one move
    running = gate.unfinished_move(conn, workspace_id)
    if running is not None:
        raise Conflict(f"move {running.id} of this workspace's records is not finished yet")
    return inserted_id(
        conn.execute(
            insert(MOVES).values(
                workspace_id=workspace_id,
                source_id=source_id,
                target_id=target_id,
                state="copying",
                started_by=started_by,
                started_at=utcnow(),
                **values,
            )
        )
    )


def prepare_target(target: Engine, types: Sequence[RecordTypeDef]) -> None:
    """Create the types' tables in the target database, or check that tables already there
    (from an interrupted copy) match their definitions. Raises Conflict naming what does not
    match, before any DDL touches that type's tables."""
    for rt in types:
        with transaction(target, write=True) as conn:
            present = ddl.existing_tables(conn) & {t.name for _, t in record_tables([rt])}
            # Indexes may be missing (a copy killed between CREATE TABLE and CREATE INDEX):
            # the schema engine adds them below. Anything else is someone else's table.
            _refuse(rt, [d for d in differences(conn, rt, present) if d[0] != "add_index"])
            ddl.create_record_table(conn, rt)
            _refuse(rt, differences(conn, rt))


def _refuse(rt: RecordTypeDef, problems: list[tuple[str, str]]) -> None:
    if problems:
        found = "; ".join(f"{kind} {name}" for kind, name in problems[:5])
        if len(problems) > 5:
            found += f" and {len(problems) - 5} more"
        raise Conflict(
            f"the target database already has tables that differ from record type {rt.name!r}: "
            + found
        )


def differences(
    conn: Connection, rt: RecordTypeDef, only: set[str] | None = None
) -> list[tuple[str, str]]:
    """How the type's tables (or those of them in ``only``) in ``conn``'s database differ
    from the definition: columns, types, nullability, indexes, as Alembic's autogenerate
    compares them. Each difference is (what, table or column or index name)."""
    names = {table.name for _, table in record_tables([rt])} if only is None else only

    def ours(name: str | None, kind: str, parent: Any) -> bool:
        return kind != "table" or name in names

    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": ours})
    metadata = MetaData()
    for table in rt.table.metadata.tables.values():
        if table.name in names:
            table.to_metadata(metadata)
    return [_describe(diff) for diff in compare_metadata(context, metadata)]


def _describe(diff: Any) -> tuple[str, str]:
    """(what, where) of one of Alembic's differences, where naming the table."""
    step = diff[0] if isinstance(diff, list) else diff  # a column's changes come as a list
    kind, rest = str(step[0]), step[1:]
    if kind in {"add_column", "remove_column"}:
        return kind, f"{rest[1]}.{rest[2].name}"
    if kind.startswith("modify_"):
        return kind, f"{rest[1]}.{rest[2]}"
    table = getattr(rest[0], "table", None)  # an index or constraint; else a table
    return kind, (f"{table.name}." if table is not None else "") + str(rest[0].name)


def retry(conn: Connection, move_id: int) -> list[str]:
    """Inside the caller's transaction: copy the tables verification found different again,
    from the start (after whatever changed the copy is dealt with), and return their names;
    the move is ``copying`` again."""
    where = (TABLES.c.move_id == move_id) & (TABLES.c.state == "mismatch")
    names = list(conn.execute(select(TABLES.c.table_name).where(where)).scalars())
    conn.execute(
        update(TABLES)
        .where(where)
        .values(state="pending", last_key=None, copied_rows=0, mismatch=None, checksum=None)
    )
    conn.execute(
        update(MOVES)
        .where(MOVES.c.id == move_id)
        .values(state="copying", error=None, finished_at=None)
    )
    return names


def copy_tables(
    control: Engine,
    move_id: int,
    source: Engine,
    target: Engine,
    types: Sequence[RecordTypeDef],
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> None:
    """Copy every table of the types from ``source`` to ``target`` (prepared before),
    resuming each table after its last committed batch."""
    _add_tables(control, move_id, source, types)
    unique = unique_columns(types)
    for _, table in record_tables(types):
        _copy_table(
            control, move_id, source, target, table, unique[table.name], batch_size, progress
        )


def _add_tables(
    control: Engine, move_id: int, source: Engine, types: Sequence[RecordTypeDef]
) -> None:
    """List the tables to copy, each with its row count now (for the progress bar; the
    exact count is taken again by verification)."""
    with transaction(control) as conn:
        known = set(
            conn.execute(select(TABLES.c.table_name).where(TABLES.c.move_id == move_id)).scalars()
        )
    todo = [(type_id, table) for type_id, table in record_tables(types) if table.name not in known]
    if not todo:
        return
    with transaction(source) as conn:
        counts = {table.name: batches.count(conn, table) for _, table in todo}
    rows = [
        {
            "move_id": move_id,
            "table_name": table.name,
            "record_type_id": type_id,
            "state": "pending",
            "copied_rows": 0,
            "batches": 0,
            "source_rows": counts[table.name],
        }
        for type_id, table in todo
    ]
    with transaction(control, write=True) as conn:
        conn.execute(insert(TABLES), rows)


def _copy_table(
    control: Engine,
    move_id: int,
    source: Engine,
    target: Engine,
    table: Table,
    unique: list[tuple[str, ...]],
    batch_size: int,
    progress: Progress | None,
) -> None:
    where = (TABLES.c.move_id == move_id) & (TABLES.c.table_name == table.name)
    with transaction(control) as conn:
        state = conn.execute(select(TABLES).where(where)).one()
    if state.state != "pending" and state.state != "copying":
        return
    low, copied = state.last_key, state.copied_rows
    while True:
        with transaction(source) as conn:
            rows = batches.read_batch(conn, table, low, batch_size)
        last = len(rows) < batch_size
        high = batches.key_of(table, rows[-1]) if rows else low
        write_range(target, table, low, None if last else high, rows, unique)
        copied += len(rows)
        with transaction(control, write=True) as conn:
            conn.execute(
                update(TABLES)
                .where(where)
                .values(
                    state="copied" if last else "copying",
                    last_key=high,
                    copied_rows=copied,
                    batches=TABLES.c.batches + 1,
                )
            )
        if progress is not None:
            progress(table.name, copied)
        if last:
            return
        low = high


def unique_columns(types: Sequence[RecordTypeDef]) -> dict[str, list[tuple[str, ...]]]:
    """Per table, the column sets its unique indexes hold besides the primary key."""
    found: dict[str, list[tuple[str, ...]]] = {t.name: [] for _, t in record_tables(types)}
    for rt in types:
        indexes = [i for i in tables.field_indexes(rt) if i.unique]
        found[rt.table.name] = [tuple(str(e) for e in i.expressions) for i in indexes]
        keys = [i for i in rt.keys_table.indexes if i.unique]
        found[rt.keys_table.name] = [tuple(c.name for c in i.columns) for i in keys]
    return found


def write_range(
    target: Engine,
    table: Table,
    low: batches.Key | None,
    high: batches.Key | None,
    rows: list[Any],
    unique: Sequence[tuple[str, ...]] = (),
) -> None:
    """Make the key range (``low``, ``high``] of the target's table hold exactly ``rows``.

    A unique value may have moved, in the source, from a row copied earlier to one in this
    range (an email changed on one record and given to a newer one while the copy ran). The
    earlier row on the target is stale then: it is deleted so these rows fit, and the walk
    with repair (``data_verify``) finds its range different and copies it again."""
    values = [dict(row._mapping) for row in rows]
    with transaction(target, write=True) as conn:
        conn.execute(delete(table).where(batches.key_range(table, low, high)))
        if not values:
            return
        try:
            with conn.begin_nested():
                conn.execute(insert(table), values)
        except IntegrityError:
            for columns in unique:
                _delete_holders(conn, table, columns, values)
            conn.execute(insert(table), values)


def _delete_holders(
    conn: Connection, table: Table, columns: tuple[str, ...], values: list[dict[str, Any]]
) -> None:
    """Delete the target's rows holding any of these rows' values of a unique index."""
    held = {tuple(v[name] for name in columns) for v in values}
    held = {h for h in held if None not in h}  # NULLs never clash
    if held:
        key = tuple_(*(table.c[name] for name in columns))
        conn.execute(delete(table).where(key.in_(sorted(held, key=repr))))


def drop_tables(engine: Engine, names: Sequence[str]) -> None:
    """Drop tables a move copied (an old copy being retired, a cancelled move's copy), and
    the readable views over them: only names recorded in ``data_move_tables``, made by this
    server for this workspace. A type changed or deleted since has no definition matching
    them any more, so they go by name."""
    with transaction(engine, write=True) as conn:
        if is_mysql(conn):  # readable views are made only in MySQL databases
            quoted = [f"`{name}`" for name in names]
            for view, body in conn.execute(VIEWS):
                if any(q in (body or "") for q in quoted):
                    ddl.drop_view(conn, view)
        present = ddl.existing_tables(conn)
        for name in names:
            if name in present:
                Table(name, MetaData()).drop(conn)
