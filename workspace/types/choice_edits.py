"""Renaming and removing the choices of a field that holds data, as a schema change.

A choice edit is written down first (see :mod:`workspace.types.schema_changes`) and carried
out here, by whichever process completes it: removed choices are cleared (each cleared value
in the activity history), renamed values move to their new label through placeholders, so a
rename chain such as A -> B, B -> A never mixes values up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select, update

from workspace import activity
from workspace import models as m
from workspace.db import Tx, transaction, unit_of_work
from workspace.principal import Principal
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

F = m.fields


def apply(
    runtime: Runtime,
    row: Any,
    op: dict[str, Any],
    *,
    note_progress: Callable[[Connection, int, dict[str, Any]], None],
    finish: Callable[[Connection, int], None],
) -> bool:
    """Carry out a written-down choice edit (always forward: it loses nothing unasked).

    False when the field is gone (nothing left to relabel). ``note_progress`` and ``finish``
    are the schema change protocol's bookkeeping, run inside this edit's own transactions.

    Step one clears removed choices and moves renamed values to placeholders; step two gives
    the placeholders their new labels and publishes the config. On one database both steps
    commit together; on two, the progress in between is written down.
    """
    with transaction(runtime.control) as conn:
        rt = definitions.build_def(conn, row["id"], runtime)
    f = rt.field_by_id(op["field"])
    if f is None:
        return False
    data_engine = runtime.data_engine(row["workspace_id"])
    renames = [tuple(pair) for pair in op["renames"]]
    placeholders = [f"\n{i}" for i in range(len(renames))]  # no label holds a line break
    split = False
    with unit_of_work(runtime.control, data_engine, write=True) as tx:
        if op["phase"] == "clear":
            _clear(tx, rt, f, op)
            _relabel(tx.data, rt, f, [b for b, _ in renames], placeholders)
            split = tx.data is not tx.control
            if split:
                note_progress(tx.control, rt.id, {**op, "phase": "relabel"})
        if not split:
            _relabel_and_publish(tx, rt, f, op, renames, placeholders, finish)
    if split:
        with unit_of_work(runtime.control, data_engine, write=True) as tx:
            _relabel_and_publish(tx, rt, f, op, renames, placeholders, finish)
    return True


def _relabel_and_publish(
    tx: Tx,
    rt: RecordTypeDef,
    f: FieldDef,
    op: dict[str, Any],
    renames: list[tuple[str, ...]],
    placeholders: list[str],
    finish: Callable[[Connection, int], None],
) -> None:
    _relabel(tx.data, rt, f, placeholders, [a for _, a in renames])
    tx.control.execute(update(F).where(F.c.id == f.id).values(op["values"]))
    finish(tx.control, rt.id)


def _target(rt: RecordTypeDef, f: FieldDef) -> Any:
    return rt.link_table(f).c.value if f.type.uses_link_table else rt.table.c[f.column]


def hits(conn: Connection, rt: RecordTypeDef, f: FieldDef, labels: list[str]) -> list[Any]:
    column = _target(rt, f)
    id_column = column.table.c.record_id if f.type.uses_link_table else rt.table.c.id
    query = select(id_column, column).where(column.in_(labels)).order_by(id_column, column)
    return list(conn.execute(query).all())


def _clear(tx: Tx, rt: RecordTypeDef, f: FieldDef, op: dict[str, Any]) -> None:
    if not op["removed"]:
        return
    found = hits(tx.data, rt, f, op["removed"])
    if not found:
        return
    column = _target(rt, f)
    if f.type.uses_link_table:
        tx.data.execute(column.table.delete().where(column.in_(op["removed"])))
    else:
        tx.data.execute(
            update(rt.table).where(column.in_(op["removed"])).values({column.name: None})
        )
    entries = [activity.Entry(h[0], "convert", [activity.change(f.key, h[1], None)]) for h in found]
    actor = op["actor"]
    principal = Principal(
        actor["user_id"], "", source=actor["source"], source_ref=actor["source_ref"]
    )
    activity.write(tx.control, principal, rt.workspace_id, rt.id, entries)


def _relabel(
    conn: Connection, rt: RecordTypeDef, f: FieldDef, before: list[str], after: list[str]
) -> None:
    """Idempotent while ``before`` and ``after`` are disjoint, as placeholders and labels are."""
    column = _target(rt, f)
    for old, new in zip(before, after, strict=True):
        conn.execute(update(column.table).where(column == old).values({column.name: new}))
