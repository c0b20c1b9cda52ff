"""Changing a field's options while its column stays: choice edits and uniqueness.

A choice edit is written down and paused like a type change, because it rewrites stored
values: removed choices are cleared (only when forced if records use them, each loss written
to the record's activity) and renamed ones relabelled, then the new config is published. A
swap (a -> b, b -> a) goes through placeholder values that no label can equal, and the
progress is written down between the steps, so a change finished by another process after a
crash never relabels a value twice. On one database both steps commit together; where record
data lives in a database of its own, readers may glimpse the placeholders between the two
commits (writes stay paused throughout).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from workspace import activity
from workspace import models as m
from workspace.db import transaction
from workspace.errors import Conflict
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import ddl
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef, UniqueCombo
from workspace.types import choice_edits, schema_changes

F = m.fields
EXAMPLES = 20


def reconfigure(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    old: FieldDef,
    new_config: dict[str, Any],
    meta: dict[str, Any],
    *,
    force: bool,
) -> None:
    """Options that keep the column: metadata, choice renames/removals, unique on/off."""
    renames, removed = choice_changes(old, new_config)
    values = {**meta, "config": new_config}
    unique_on = bool(new_config.get("unique")) and not old.unique
    unique_off = old.unique and not new_config.get("unique")
    if renames or removed:
        interim = _with_unique_of(old, values)
        _change_choices(runtime, acc, rt, old, interim, renames, removed, force=force)
        if not (unique_on or unique_off):
            return
    if unique_on:
        apply_unique(runtime, acc, rt, [old], field_values=values)
    elif unique_off:
        schema_changes.begin(runtime, rt.id, {"op": "indexes"}, pause=False)
        with schema_changes.undo_on_error(runtime, rt.id):
            with transaction(runtime.control, write=True) as conn:
                conn.execute(update(F).where(F.c.id == old.id).values(values))
                schema_changes.publish(conn, rt.id)
            schema_changes.complete(runtime, rt.id)
    else:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(update(F).where(F.c.id == old.id).values(values))
            schema_changes.publish(conn, rt.id)


def _with_unique_of(old: FieldDef, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the field's current unique setting: that one changes in its own step."""
    config = {k: v for k, v in values["config"].items() if k != "unique"}
    if "unique" in old.config:
        config["unique"] = old.config["unique"]
    return {**values, "config": config}


# ---- choices ---------------------------------------------------------------------------


def choice_changes(old: FieldDef, new_config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The choices ``new_config`` renames (old label -> new) and removes."""
    before = {c["id"]: c["label"] for c in old.config.get("choices", [])}
    after = {c["id"]: c["label"] for c in new_config.get("choices", [])}
    renames = {before[i]: after[i] for i in before.keys() & after.keys() if before[i] != after[i]}
    removed = sorted(before[i] for i in before.keys() - after.keys())
    return renames, removed


def _change_choices(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    f: FieldDef,
    values: dict[str, Any],
    renames: dict[str, str],
    removed: list[str],
    *,
    force: bool,
) -> None:
    if removed and not force:
        _refuse_removal(runtime, acc, rt, f, removed)
    p = acc.principal
    op = {
        "op": "choices",
        "field": f.id,
        "renames": sorted(renames.items()),
        "removed": removed,
        "values": values,
        "actor": {"user_id": p.user_id, "source": p.source, "source_ref": p.source_ref},
        "phase": "clear",
    }
    schema_changes.begin(runtime, rt.id, op, pause=True)
    if removed and not force:
        try:  # writes are paused now: no record can pick a removed choice after this look
            _refuse_removal(runtime, acc, rt, f, removed)
        except Conflict:
            schema_changes.release(runtime, rt.id)
            raise
    with schema_changes.undo_on_error(runtime, rt.id):
        schema_changes.complete(runtime, rt.id)


def _refuse_removal(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, f: FieldDef, removed: list[str]
) -> None:
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        hits = choice_edits.hits(conn, rt, f, removed)
    if hits:
        examples = [{"record": h[0], "value": h[1]} for h in hits[:EXAMPLES]]
        raise Conflict(
            f"{len({h[0] for h in hits})} record(s) use the choices you removed. Keep those "
            "choices, or repeat the change with force to clear the values",
            details={"examples": examples, "forceable": True},
        )


# ---- uniqueness ------------------------------------------------------------------------


def apply_unique(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    chosen: list[FieldDef],
    *,
    field_values: dict[str, Any] | None = None,
    combos: list[dict[str, Any]] | None = None,
) -> None:
    """Make one field or a combination unique: duplicates check, index, then metadata.

    The index comes first: if the process dies before the metadata says "unique", recovery
    sees an index the definition does not want and drops it.
    """
    _refuse_duplicates(runtime, acc, rt, chosen)
    if field_values is not None:
        changed = replace(chosen[0], config=field_values["config"])
        target = replace(rt, fields=tuple(changed if f.id == changed.id else f for f in rt.fields))
    else:
        assert combos is not None
        target = replace(
            rt, unique_together=tuple(UniqueCombo(str(c["id"]), tuple(c["fields"])) for c in combos)
        )
    schema_changes.begin(runtime, rt.id, {"op": "indexes"}, pause=False)
    try:
        with schema_changes.undo_on_error(runtime, rt.id):
            with transaction(runtime.data_engine(acc.workspace_id), write=True) as conn:
                ddl.reconcile_indexes(conn, target)
            with transaction(runtime.control, write=True) as conn:
                if field_values is not None:
                    conn.execute(update(F).where(F.c.id == chosen[0].id).values(field_values))
                extra = {"unique_together": combos} if combos is not None else {}
                schema_changes.finish(conn, rt.id, **extra)
    except IntegrityError:
        raise Conflict("records began to share these values meanwhile; retry") from None


def _refuse_duplicates(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, chosen: list[FieldDef]
) -> None:
    columns = [rt.table.c[f.column] for f in chosen]
    query = (
        select(*columns, func.count(), func.min(rt.table.c.id), func.max(rt.table.c.id))
        .where(rt.table.c.deleted_at.is_(None), *[c.is_not(None) for c in columns])
        .group_by(*columns)
        .having(func.count() > 1)
        .limit(EXAMPLES)
    )
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        clashes = conn.execute(query).all()
    if clashes:
        names = ", ".join(f.name for f in chosen)
        n = len(columns)
        examples = [
            {
                "values": activity.jsonable(list(c[:n])),
                "count": c[n],
                "records": [c[n + 1], c[n + 2]],
            }
            for c in clashes
        ]
        raise Conflict(
            f"records already share values of {names}; resolve the duplicates first",
            details={"examples": examples},
        )
