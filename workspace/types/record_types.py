"""Record types and their fields: create, rename, reorder, change and delete, while records
exist. Every change that touches the table follows ``schema_changes``' protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate, sql_views
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.events import RecordTypeChanged
from workspace.names import clean_name
from workspace.principal import Access
from workspace.records import file_values
from workspace.runtime import Runtime
from workspace.schema import ddl, definitions, naming

# Reading types is the schema engine's; they are part of this service's surface too.
from workspace.schema.definitions import get_type as get_type
from workspace.schema.definitions import list_types as list_types
from workspace.schema.fields import ConfigContext, FieldDef
from workspace.schema.tables import RecordTypeDef
from workspace.types import conversion, field_config, field_specs, schema_changes

RT, F, DR = m.record_types, m.fields, m.dedupe_rules
MAX_FIELDS = 300


# ---- reading ---------------------------------------------------------------------------


# ---- record types ----------------------------------------------------------------------


def create_type(
    runtime: Runtime,
    acc: Access,
    spec: Mapping[str, Any],
    *,
    source: Mapping[str, Any] | None = None,
    columns: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Create a record type with its fields: metadata (pending), table, then ready.

    ``source``/``columns``: the type adopts an existing table, each field mapping the column
    of the same position (see ``services.adopt``); its table is then left as it is.
    """
    acc.require("admin")
    field_specs.only_keys(spec, {"name", "fields"}, "")
    name = clean_name(spec.get("name"))
    specs = spec.get("fields") or []
    if not isinstance(specs, list) or len(specs) > MAX_FIELDS:
        raise ValidationFailed.single("fields", f"must be a list of at most {MAX_FIELDS} fields")
    with transaction(runtime.control) as conn:
        _check_type_name_free(conn, acc.workspace_id, name)
        ctx = _config_context(conn, acc.workspace_id)
    cleaned = field_specs.clean_field_specs(
        runtime, specs, ctx, taken_keys=set(), taken_names=set()
    )
    now = utcnow()
    with transaction(runtime.control, write=True) as conn:
        gate.refuse_schema_change(conn, acc.workspace_id)
        _check_type_name_free(conn, acc.workspace_id, name)
        position = conn.execute(
            select(func.count()).select_from(RT).where(RT.c.workspace_id == acc.workspace_id)
        ).scalar_one()
        inserted = conn.execute(
            insert(RT).values(
                workspace_id=acc.workspace_id,
                name=name,
                position=position,
                schema_version=1,
                state="pending",
                pending_change={"op": "create_type"},
                lease_until=now + schema_changes.LEASE,
                unique_together=[],
                created_at=now,
                # SQL NULL for a type of our own (a JSON column would store None as 'null').
                **({"source": source} if source else {}),
            )
        ).inserted_primary_key
        assert inserted is not None
        record_type_id = int(inserted[0])
        for index, item in enumerate(cleaned):
            column = columns[index] if columns else None
            _insert_field(conn, record_type_id, item, index, "ready", source_column=column)
    with schema_changes.undo_on_error(runtime, record_type_id):
        with transaction(runtime.control) as conn:
            rt = definitions.build_def(conn, record_type_id, runtime)
        # Read the workspace's data database afresh: another process may have switched it
        # seconds ago, and the table must be made where records will be looked for.
        runtime.data_engines.forget(acc.workspace_id)
        with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
            ddl.create_record_table(data, rt)
        with transaction(runtime.control, write=True) as conn:
            schema_changes.finish(conn, record_type_id)
    _emit(runtime, acc, record_type_id, "created")
    return definitions.public_type(get_type(runtime, acc, record_type_id))


def rename_type(runtime: Runtime, acc: Access, record_type_id: int, name: Any) -> dict[str, Any]:
    acc.require("admin")
    get_type(runtime, acc, record_type_id)
    name = clean_name(name)
    with transaction(runtime.control, write=True) as conn:
        _check_type_name_free(conn, acc.workspace_id, name, exclude=record_type_id)
        schema_changes.publish(conn, record_type_id, name=name)
    _emit(runtime, acc, record_type_id, "renamed")
    return definitions.public_type(get_type(runtime, acc, record_type_id))


def delete_type(runtime: Runtime, acc: Access, record_type_id: int) -> None:
    """Drop a record type, its records, and relation fields of other types pointing at it."""
    acc.require("admin")
    get_type(runtime, acc, record_type_id)
    with transaction(runtime.control) as conn:
        inbound = _inbound_relations(conn, acc.workspace_id, record_type_id)
    op = {"op": "delete_type", "inbound": [f["id"] for f in inbound]}
    schema_changes.begin(runtime, record_type_id, op, pause=True)
    # Once claimed, a deletion is only ever finished, never undone: also after a failure.
    with schema_changes.undo_on_error(runtime, record_type_id):
        with transaction(runtime.control, write=True) as conn:
            schema_changes.publish(conn, record_type_id, state="deleting")
            for f in inbound:
                conn.execute(update(F).where(F.c.id == f["id"]).values(state="deleting"))
                if f["record_type_id"] != record_type_id:
                    schema_changes.publish(conn, f["record_type_id"])
            for partner in _span_partners(conn, record_type_id):
                schema_changes.publish(conn, partner)  # its rules across types lose this one
        schema_changes.complete(runtime, record_type_id)
    _emit(runtime, acc, record_type_id, "deleted")


def purge_workspace(runtime: Runtime, workspace_id: int) -> None:
    """Drop every record table of a workspace being deleted (safe to run again)."""
    with transaction(runtime.control) as conn:
        ids = conn.execute(select(RT.c.id).where(RT.c.workspace_id == workspace_id)).scalars()
        rows = [conn.execute(select(RT).where(RT.c.id == i)).mappings().one() for i in ids]
        doomed = [
            definitions.def_from_rows(
                row,
                [
                    f
                    for s in ("ready", "pending", "deleting")
                    for f in definitions.field_rows(conn, row["id"], s)
                ],
                runtime.field_types,
            )
            for row in rows
        ]
    sql_views.drop_all(runtime, workspace_id)
    with transaction(runtime.data_engine(workspace_id), write=True) as data:
        for rt in doomed:
            ddl.drop_record_table(data, rt)


# ---- fields ----------------------------------------------------------------------------


def add_field(
    runtime: Runtime, acc: Access, record_type_id: int, spec: Mapping[str, Any]
) -> dict[str, Any]:
    acc.require("admin")
    rt = get_type(runtime, acc, record_type_id)
    if len(rt.fields) >= MAX_FIELDS:
        raise Conflict(f"a record type has at most {MAX_FIELDS} fields")
    kind = spec.get("type")
    if rt.source is not None and isinstance(kind, str) and kind in runtime.field_types:
        own_table = runtime.field_types.get(kind)
        if not (own_table.uses_link_table or own_table.outside_record):
            _refuse_on_adopted(rt, "gets no new columns")
    with transaction(runtime.control) as conn:
        ctx = _config_context(conn, acc.workspace_id)
    taken_keys = {f.key for f in rt.fields}
    taken_names = {f.name.lower() for f in rt.fields}
    (item,) = field_specs.clean_field_specs(
        runtime, [spec], ctx, taken_keys, taken_names, prefix=""
    )
    with transaction(runtime.control, write=True) as conn:
        field_id = _insert_field(conn, record_type_id, item, len(rt.fields), "pending")
    try:
        schema_changes.begin(
            runtime, record_type_id, {"op": "add_field", "field": field_id}, pause=False
        )
    except BaseException:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(delete(F).where(F.c.id == field_id, F.c.state == "pending"))
        raise
    with schema_changes.undo_on_error(runtime, record_type_id):
        with transaction(runtime.control) as conn:
            row = conn.execute(select(F).where(F.c.id == field_id)).mappings().one()
        new = definitions.field_def(row, runtime.field_types)
        with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
            ddl.add_field(data, rt, new)
        with transaction(runtime.control, write=True) as conn:
            conn.execute(update(F).where(F.c.id == field_id).values(state="ready"))
            schema_changes.finish(conn, record_type_id)
    _emit(runtime, acc, record_type_id, "field_added")
    return _field_out(runtime, acc, record_type_id, field_id)


def change_field(
    runtime: Runtime,
    acc: Access,
    record_type_id: int,
    field_id: int,
    changes: Mapping[str, Any],
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Rename, re-key, reconfigure or retype a field. A change that would lose data is
    refused with the records it would hit, unless ``force``."""
    acc.require("admin")
    field_specs.only_keys(changes, {"name", "key", "type", "config"}, "")
    rt = get_type(runtime, acc, record_type_id)
    old = _field(rt, field_id)
    meta: dict[str, Any] = {}
    others = [f for f in rt.fields if f.id != field_id]
    if "name" in changes:
        meta["name"] = field_specs.clean_field_name(
            changes["name"], {f.name.lower() for f in others}
        )
    if "key" in changes:
        meta["key"] = field_specs.clean_key(changes["key"], {f.key for f in others}, "key")
    new_type = (
        field_specs.lookup_type(runtime, changes["type"], "type") if "type" in changes else old.type
    )
    if new_type is not old.type and (new_type.outside_record or old.type.outside_record):
        # A file field's values are files, not column values: there is nothing to convert.
        outside = old.type if old.type.outside_record else new_type
        raise ValidationFailed.single(
            "type",
            f"a {outside.label} field cannot change type, nor can another field become one; "
            "add a new field instead",
        )
    with transaction(runtime.control) as conn:
        ctx = _config_context(conn, acc.workspace_id)
    new_config = field_specs.clean_config(
        new_type, field_specs.merged_config(old, new_type, changes), ctx, ""
    )
    rebuild = new_type is not old.type or new_type.storage_signature(
        new_config
    ) != old.type.storage_signature(old.config)
    if rebuild or (new_config.get("unique") and not old.unique):
        _refuse_on_adopted(rt, "keeps its column types and gets no unique indexes")
    if not old.type.uses_link_table and any(field_config.choice_changes(old, new_config)):
        _refuse_on_adopted(rt, f"keeps the values its column {old.name!r} holds as they are")
    if rebuild:
        conversion.convert_field(runtime, acc, rt, old, new_type, new_config, force=force)
        if meta:
            with transaction(runtime.control, write=True) as conn:
                conn.execute(update(F).where(F.c.id == field_id).values(meta))
                schema_changes.publish(conn, record_type_id)
    else:
        field_config.reconfigure(runtime, acc, rt, old, new_config, meta, force=force)
    _emit(runtime, acc, record_type_id, "field_changed")
    return _field_out(runtime, acc, record_type_id, field_id)


def reorder_fields(
    runtime: Runtime, acc: Access, record_type_id: int, order: Any
) -> dict[str, Any]:
    acc.require("admin")
    rt = get_type(runtime, acc, record_type_id)
    keys = [f.key for f in rt.fields]
    if not isinstance(order, list) or sorted(map(str, order)) != sorted(keys):
        raise ValidationFailed.single("order", "must list every field key exactly once")
    by_key = {f.key: f for f in rt.fields}
    with transaction(runtime.control, write=True) as conn:
        for position, key in enumerate(order):
            conn.execute(update(F).where(F.c.id == by_key[key].id).values(position=position))
        schema_changes.publish(conn, record_type_id)
    _emit(runtime, acc, record_type_id, "fields_reordered")
    return definitions.public_type(get_type(runtime, acc, record_type_id))


def delete_field(runtime: Runtime, acc: Access, record_type_id: int, field_id: int) -> None:
    acc.require("admin")
    rt = get_type(runtime, acc, record_type_id)
    f = _field(rt, field_id)
    spanning = [s for s in rt.spans if field_id in s.me.field_ids]
    if spanning:
        names = " and ".join(m.name for m in spanning[0].members)
        raise Conflict(
            f"{f.name} is read by a dedupe rule across {names}: delete that rule first "
            "(the other types' records would be left judged on less than it was set up for)"
        )
    schema_changes.begin(
        runtime, record_type_id, {"op": "delete_field", "field": field_id}, pause=False
    )
    rules = [rd for rd in rt.dedupe if field_id in rd.field_ids]
    with schema_changes.undo_on_error(runtime, record_type_id):
        with transaction(runtime.control, write=True) as conn:
            conn.execute(update(F).where(F.c.id == field_id).values(state="deleting"))
            # A dedupe rule without one of its fields would judge on less than it was set
            # up for: it goes with the field.
            conn.execute(delete(DR).where(DR.c.id.in_([rd.id for rd in rules])))
            if f.type.name == file_values.FILE_FIELD_TYPE:
                file_values.detach_field(conn, acc, rt, f)  # its files become attachments
            schema_changes.publish(
                conn,
                record_type_id,
                unique_together=_combos_without(conn, record_type_id, field_id),
            )
        schema_changes.complete(runtime, record_type_id)
    if rules:
        with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
            keys = rt.keys_table
            data.execute(delete(keys).where(keys.c.signature.in_([rd.signature for rd in rules])))
    _emit(runtime, acc, record_type_id, "field_deleted")


# ---- unique combinations ---------------------------------------------------------------


def add_unique_together(
    runtime: Runtime, acc: Access, record_type_id: int, keys: Any
) -> dict[str, Any]:
    """Make a combination of fields unique; refused while existing records clash."""
    acc.require("admin")
    rt = get_type(runtime, acc, record_type_id)
    _refuse_on_adopted(rt, "gets no unique indexes")
    if not isinstance(keys, list) or not 2 <= len(keys) <= 5:
        raise ValidationFailed.single("fields", "must list 2 to 5 field keys")
    chosen = []
    for key in keys:
        f = rt.field_by_key(str(key))
        if f is None or not f.type.can_be_unique or f.type.uses_link_table:
            raise ValidationFailed.single(
                "fields", f"{key!r} cannot be part of a unique combination"
            )
        chosen.append(f)
    if len({f.id for f in chosen}) != len(chosen):
        raise ValidationFailed.single("fields", "lists a field twice")
    ids = tuple(f.id for f in chosen)
    if any(c.field_ids == ids for c in rt.unique_together):
        raise Conflict("this combination is already unique")
    combo_id = str(max((int(c.id) for c in rt.unique_together), default=0) + 1)
    combos = [{"id": c.id, "fields": list(c.field_ids)} for c in rt.unique_together]
    combos.append({"id": combo_id, "fields": list(ids)})
    field_config.apply_unique(runtime, acc, rt, chosen, combos=combos)
    _emit(runtime, acc, record_type_id, "unique_added")
    return definitions.public_type(get_type(runtime, acc, record_type_id))


def remove_unique_together(
    runtime: Runtime, acc: Access, record_type_id: int, combo_id: str
) -> dict[str, Any]:
    acc.require("admin")
    rt = get_type(runtime, acc, record_type_id)
    combos = [{"id": c.id, "fields": list(c.field_ids)} for c in rt.unique_together]
    remaining = [c for c in combos if c["id"] != combo_id]
    if len(remaining) == len(combos):
        raise NotFound("unique combination not found")
    schema_changes.begin(runtime, record_type_id, {"op": "indexes"}, pause=False)
    with schema_changes.undo_on_error(runtime, record_type_id):
        with transaction(runtime.control, write=True) as conn:
            schema_changes.publish(conn, record_type_id, unique_together=remaining)
        schema_changes.complete(runtime, record_type_id)
    _emit(runtime, acc, record_type_id, "unique_removed")
    return definitions.public_type(get_type(runtime, acc, record_type_id))


# ---- helpers ---------------------------------------------------------------------------


def _span_partners(conn: Any, record_type_id: int) -> list[int]:
    """The types sharing a dedupe rule across types with this one."""
    SPT = m.dedupe_span_types
    spans = select(SPT.c.span_id).where(SPT.c.record_type_id == record_type_id)
    query = select(SPT.c.record_type_id).where(
        SPT.c.span_id.in_(spans), SPT.c.record_type_id != record_type_id
    )
    return sorted(set(conn.execute(query).scalars()))


def _refuse_on_adopted(rt: RecordTypeDef, what: str) -> None:
    """The server changes nothing about an adopted table's shape."""
    if rt.source is not None:
        raise Conflict(
            f"{rt.name} is the adopted table {rt.source.table!r}, which {what}: the server "
            "never changes an adopted table's structure (change it in your database, or add "
            "relation, multiple choice and file fields, which live in tables of their own)"
        )


def _field(rt: RecordTypeDef, field_id: int) -> FieldDef:
    found = rt.field_by_id(field_id)
    if found is None:
        raise NotFound("field not found")
    return found


def _combos_without(conn: Any, record_type_id: int, field_id: int) -> list[dict[str, Any]]:
    """The unique combinations as they are now (not as cached), minus those using a field."""
    combos = conn.execute(select(RT.c.unique_together).where(RT.c.id == record_type_id)).scalar()
    return [c for c in combos or [] if field_id not in c["fields"]]


def _field_out(runtime: Runtime, acc: Access, record_type_id: int, field_id: int) -> dict[str, Any]:
    rt = get_type(runtime, acc, record_type_id)
    return definitions.public_field(_field(rt, field_id))


def _insert_field(
    conn: Any,
    record_type_id: int,
    item: dict[str, Any],
    position: int,
    state: str,
    *,
    source_column: str | None = None,
) -> int:
    field_id = conn.execute(
        insert(F).values(
            source_column=source_column,
            record_type_id=record_type_id,
            key=item["key"],
            name=item["name"],
            type=item["type"].name,
            config=item["config"],
            position=position,
            column_name="",
            state=state,
            created_at=utcnow(),
        )
    ).inserted_primary_key[0]
    namer = naming.link_table if item["type"].uses_link_table else naming.field_column
    conn.execute(update(F).where(F.c.id == field_id).values(column_name=namer(field_id)))
    return int(field_id)


def _check_type_name_free(
    conn: Any, workspace_id: int, name: str, exclude: int | None = None
) -> None:
    # Compared here, not in SQL: MySQL's default collation would also call "Café" and
    # "Cafe" the same name, SQLite would not.
    query = select(RT.c.name).where(RT.c.workspace_id == workspace_id)
    if exclude is not None:
        query = query.where(RT.c.id != exclude)
    if name.lower() in {other.lower() for other in conn.execute(query).scalars()}:
        raise Conflict("a record type with this name exists", fields={"name": "is already used"})


def _config_context(conn: Any, workspace_id: int) -> ConfigContext:
    ids = conn.execute(select(RT.c.id).where(RT.c.workspace_id == workspace_id)).scalars()
    return ConfigContext(record_type_ids=frozenset(ids))


def _inbound_relations(conn: Any, workspace_id: int, record_type_id: int) -> list[Any]:
    rows = conn.execute(
        select(F)
        .join(RT, RT.c.id == F.c.record_type_id)
        .where(RT.c.workspace_id == workspace_id, F.c.type == "relation")
    ).mappings()
    return [r for r in rows if (r["config"] or {}).get("target") == record_type_id]


def _emit(runtime: Runtime, acc: Access, record_type_id: int, change: str) -> None:
    sql_views.refresh_quietly(runtime, acc.workspace_id, record_type_id)
    runtime.emit(
        RecordTypeChanged(
            workspace_id=acc.workspace_id,
            actor_user_id=acc.user_id,
            source=acc.principal.source,
            record_type_id=record_type_id,
            change=change,
        )
    )
