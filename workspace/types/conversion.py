"""Changing the type of a field that holds data (choice edits and uniqueness: field_config).

A type change writes a new column next to the old one, converts every value in batches while
record writes are paused (503 + Retry-After), switches the field to the new column, then drops
the old. Nothing is lost silently: values that would not survive are listed and the change is
refused, unless the caller forces it, in which case each lost value is written to the
record's activity history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from workspace import activity
from workspace import models as m
from workspace.db import Tx, transaction, unit_of_work
from workspace.errors import Conflict
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import ddl, naming
from workspace.schema.fields import FieldDef, FieldError, FieldType, Lookup, ValueContext
from workspace.schema.record_values import load_links, make_lookup
from workspace.schema.tables import RecordTypeDef
from workspace.types import schema_changes

F = m.fields
BATCH = 1000
EXAMPLES = 20


@dataclass(frozen=True)
class Loss:
    record_id: int
    old: Any
    reason: str


# ---- type changes ----------------------------------------------------------------------


def convert_field(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    old: FieldDef,
    new_type: FieldType,
    new_config: dict[str, Any],
    *,
    force: bool,
) -> None:
    if any(old.id in c.field_ids for c in rt.unique_together):
        raise Conflict("this field is part of a unique combination; remove that first")
    data_engine = runtime.data_engine(acc.workspace_id)
    ctx = ValueContext(acc.phone_region)
    with transaction(data_engine) as conn:
        texts = sorted({old.type.to_text(old, v) for _, v in _values(conn, rt, old)} - {""})
    new_config = new_type.absorb(new_config, texts)
    namer = naming.link_table if new_type.uses_link_table else naming.field_column
    generation = naming.next_generation(old.column)
    new = FieldDef(
        old.id, old.key, old.name, new_type, new_config, old.position, namer(old.id, generation)
    )
    op = {
        "op": "convert_field",
        "field": old.id,
        "new_column": new.column,
        "old": _row(old),
        "new": _row(new),
    }
    schema_changes.begin(runtime, rt.id, op, pause=True)
    try:
        _refuse_if_changed(runtime, old)
    except Conflict:
        schema_changes.release(runtime, rt.id)
        raise
    data_engine = runtime.data_engine(acc.workspace_id)  # afresh after the claim
    with schema_changes.undo_on_error(runtime, rt.id):
        with unit_of_work(runtime.control, data_engine) as tx:
            losses = [loss for _, _, loss in _converted(tx, rt, old, new, ctx) if loss]
        if losses and not force:
            raise _lossy_conflict(old, new_type, losses)
        with transaction(data_engine, write=True) as conn:
            ddl.add_field(conn, rt, new)
        losses = _backfill(runtime, acc, rt, old, new, ctx)
        # The losses are history of the switch: written with it, so an undone change
        # never claims to have cleared values it kept.
        with transaction(runtime.control, write=True) as conn:
            conn.execute(
                update(F)
                .where(F.c.id == old.id)
                .values(type=new_type.name, config=new_config, column_name=new.column)
            )
            entries = [
                activity.Entry(
                    loss.record_id, "convert", [activity.change(old.key, loss.old, None)]
                )
                for loss in losses
            ]
            activity.write(conn, acc.principal, acc.workspace_id, rt.id, entries)
            schema_changes.publish(conn, rt.id, state="ready")
    schema_changes.complete(runtime, rt.id)


def _refuse_if_changed(runtime: Runtime, old: FieldDef) -> None:
    """After the claim: the field must still be what the change was planned from."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(F).where(F.c.id == old.id, F.c.state == "ready")).first()
    now = None if row is None else (row.type, row.config or {}, row.column_name)
    if now != (old.type.name, dict(old.config), old.column):
        raise Conflict("the field was changed meanwhile; look at it again and retry")


def _backfill(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    old: FieldDef,
    new: FieldDef,
    ctx: ValueContext,
) -> list[Loss]:
    """Write every converted value into the new column; return the values that were lost."""
    data_engine = runtime.data_engine(acc.workspace_id)
    losses: list[Loss] = []
    with unit_of_work(runtime.control, data_engine) as reader:
        for batch in _chunks(_converted(reader, rt, old, new, ctx), BATCH):
            try:
                with transaction(data_engine, write=True) as conn:
                    _write_values(conn, rt, new, [(rid, value) for rid, value, _ in batch])
            except IntegrityError:
                raise Conflict(
                    f"converted values of {old.name!r} clash with its unique setting; "
                    "make it non-unique first or clean up the duplicates"
                ) from None
            losses.extend(loss for _, _, loss in batch if loss)
            schema_changes.renew(runtime, rt.id)
    return losses


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _converted(
    tx: Tx, rt: RecordTypeDef, old: FieldDef, new: FieldDef, ctx: ValueContext
) -> Iterator[tuple[int, Any, Loss | None]]:
    """Every record's converted value, or what it loses. References (records, members) are
    checked batch by batch, as record writes check them."""
    lookup = make_lookup(tx.control, tx.data, rt.workspace_id)
    for batch in _chunks(_values(tx.data, rt, old), BATCH):
        yield from _convert_batch(batch, old, new, ctx, lookup)


def _convert_batch(
    batch: list[tuple[int, Any]], old: FieldDef, new: FieldDef, ctx: ValueContext, lookup: Lookup
) -> Iterator[tuple[int, Any, Loss | None]]:
    converted: list[tuple[int, Any, Loss | None]] = []
    for record_id, value in batch:
        try:
            converted.append((record_id, convert_value(old, new, value, ctx), None))
        except FieldError as exc:
            converted.append((record_id, None, Loss(record_id, value, str(exc))))
    held = [i for i, (_, value, loss) in enumerate(converted) if loss is None and value is not None]
    resolved, errors = new.type.resolve(new, [converted[i][1] for i in held], lookup)
    for n, i in enumerate(held):
        record_id = converted[i][0]
        if n in errors:
            converted[i] = (record_id, None, Loss(record_id, batch[i][1], errors[n]))
        else:
            converted[i] = (record_id, resolved[n], None)
    return iter(converted)


def convert_value(old: FieldDef, new: FieldDef, value: Any, ctx: ValueContext) -> Any:
    """The new field's reading of an old value: as JSON first, then as its text form."""
    if old.type.is_empty(value):
        return None
    if old.config.get("target", new.config.get("target")) != new.config.get("target"):
        # Record ids count per table: a link to another type's record means nothing here.
        raise FieldError("links to records of another record type")
    try:
        return new.type.parse(new, activity.jsonable(value), ctx)
    except FieldError:
        return new.type.parse_text(new, old.type.to_text(old, value), ctx)


def _values(conn: Connection, rt: RecordTypeDef, f: FieldDef) -> Iterator[tuple[int, Any]]:
    """Every record's value of ``f`` (deleted records too), in id order, batch by batch."""
    table, last = rt.table, 0
    while True:
        ids_and_rows = (
            conn.execute(select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH))
            .mappings()
            .all()
        )
        if not ids_and_rows:
            return
        rows = [dict(r) for r in ids_and_rows]
        if f.type.uses_link_table:
            links = load_links(conn, rt, [f], [r["id"] for r in rows])[f.column]
            for r in rows:
                r[f.column] = links.get(r["id"], [])
        for r in rows:
            yield r["id"], f.type.from_row(f, r)
        last = rows[-1]["id"]


def _write_values(
    conn: Connection, rt: RecordTypeDef, f: FieldDef, values: list[tuple[int, Any]]
) -> None:
    """Write converted values into the new column or link table (not yet in the definition)."""
    if f.type.uses_link_table:
        link = f.type.link_table(f, MetaData())
        assert link is not None
        rows = [{"record_id": rid, "value": v} for rid, vs in values for v in vs or []]
        if rows:
            conn.execute(link.insert(), rows)
        return
    columns = f.type.columns(f)
    target = Table(rt.table.name, MetaData(), Column("id", BigInteger, primary_key=True), *columns)
    params = [
        {"_id": rid, **{f"_{k}": v for k, v in f.type.to_row(f, value).items()}}
        for rid, value in values
    ]
    if params:
        conn.execute(
            update(target)
            .where(target.c.id == bindparam("_id"))
            .values({c.name: bindparam(f"_{c.name}") for c in columns}),
            params,
        )


def _lossy_conflict(old: FieldDef, new_type: FieldType, losses: list[Loss]) -> Conflict:
    examples = [
        {"record": loss.record_id, "value": activity.jsonable(loss.old), "reason": loss.reason}
        for loss in losses[:EXAMPLES]
    ]
    # "forceable": repeating the change with force gets past this refusal (the UI offers
    # "convert anyway" on it, rather than reading the message).
    return Conflict(
        f"{len(losses)} record(s) hold values of {old.name!r} that a {new_type.name} field "
        "cannot keep. Fix those records, or repeat the change with force to clear the values",
        details={"lossy_records": len(losses), "examples": examples, "forceable": True},
    )


def _row(f: FieldDef) -> dict[str, Any]:
    return {
        "id": f.id,
        "key": f.key,
        "name": f.name,
        "type": f.type.name,
        "config": dict(f.config),
        "position": f.position,
        "column_name": f.column,
    }
