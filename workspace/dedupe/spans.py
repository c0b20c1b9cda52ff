"""Dedupe rules across record types: which types a rule spans, through which fields, in which
modes.

A span keeps the keys of all its types in one key space (``dks_<id>``, see
``records.span_keys``), so the unique index that makes ``block`` race-safe within one type
does the same across types. Adding one pauses writes to every spanned type while the keys of
the records on file are computed; duplicates already on file (of one type or across types)
go to the review queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import Connection, MetaData, delete, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.dedupe.rules import CREATE_MODES, UPDATE_MODES
from workspace.errors import NotFound, ValidationFailed
from workspace.matching import DedupeRule, RuleContext
from workspace.principal import Access
from workspace.records import span_keys
from workspace.records.match_keys import Candidate, queue_pairs
from workspace.runtime import Runtime
from workspace.schema import ddl
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef, SpanDef, SpanMember, span_keys_table
from workspace.types import record_types, schema_changes

SP, SPT = m.dedupe_spans, m.dedupe_span_types
BATCH = 1000


def list_spans(runtime: Runtime, acc: Access) -> list[dict[str, Any]]:
    """Every rule across types of the workspace."""
    with transaction(runtime.control) as conn:
        ids = conn.execute(
            select(SP.c.id).where(SP.c.workspace_id == acc.workspace_id).order_by(SP.c.id)
        ).scalars()
        return [_public(conn, span_id) for span_id in ids if _members(conn, span_id)]


def get_span(runtime: Runtime, acc: Access, span_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        _own(conn, acc, span_id)
        return _public(conn, span_id)


def add_span(runtime: Runtime, acc: Access, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Span a rule across record types; the records on file get their keys now."""
    acc.require("admin")
    rule, members = _clean(runtime, acc, spec)
    with transaction(runtime.control, write=True) as conn:
        span_id = int(
            inserted_id(
                conn.execute(
                    insert(SP).values(
                        workspace_id=acc.workspace_id, rule=rule.name, created_at=utcnow()
                    )
                )
            )
        )
    try:
        with _paused(runtime, [t.id for t, _ in members]):
            span = _probe(span_id, rule, members)
            with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
                ddl.ensure_span_keys_table(data, span)
                data.execute(delete(span.keys_table))
            _backfill(runtime, acc, span, [t for t, _ in members])
            with transaction(runtime.control, write=True) as conn:
                conn.execute(insert(SPT), [{"span_id": span_id, **row} for _, row in members])
                for t, _ in members:
                    schema_changes.finish(conn, t.id)
    except BaseException:
        _forget(runtime, acc, span_id)
        raise
    return get_span(runtime, acc, span_id)


def change_span(
    runtime: Runtime, acc: Access, span_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The modes per type; a span's types and fields do not change (delete it, add another)."""
    acc.require("admin")
    unknown = set(changes) - {"types"}
    if unknown:
        raise ValidationFailed.single(sorted(unknown)[0], "is not a key that can change")
    with transaction(runtime.control) as conn:
        _own(conn, acc, span_id)
        current = {r["record_type_id"]: r for r in _members(conn, span_id)}
    modes = _clean_mode_changes(changes.get("types"), current)
    enforcing = [
        t
        for t, row in current.items()
        if modes.get(t, {}).get("on_create", row["on_create"]) in {"block", "update"}
    ]
    with _paused(runtime, list(current)):
        with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
            _set_enforced(data, span_id, enforcing)
        with transaction(runtime.control, write=True) as conn:
            for type_id, values in modes.items():
                conn.execute(
                    update(SPT)
                    .where(SPT.c.span_id == span_id, SPT.c.record_type_id == type_id)
                    .values(values)
                )
            for type_id in current:
                schema_changes.finish(conn, type_id)
    return get_span(runtime, acc, span_id)


def delete_span(runtime: Runtime, acc: Access, span_id: int) -> None:
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        _own(conn, acc, span_id)
        types = [r["record_type_id"] for r in _members(conn, span_id)]
        conn.execute(delete(SP).where(SP.c.id == span_id))
        for type_id in types:
            schema_changes.publish(conn, type_id)
    _forget(runtime, acc, span_id)


# ---- keys of the records on file -------------------------------------------------------


@contextmanager
def _paused(runtime: Runtime, type_ids: list[int]) -> Iterator[None]:
    """Writes to every spanned type wait until the change is published (or undone)."""
    with ExitStack() as stack:
        for type_id in sorted(type_ids):
            schema_changes.begin(runtime, type_id, {"op": "indexes"}, pause=True)
            stack.enter_context(schema_changes.undo_on_error(runtime, type_id))
        yield


def _forget(runtime: Runtime, acc: Access, span_id: int) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(SP).where(SP.c.id == span_id))
    runtime.data_engines.forget(acc.workspace_id)
    with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
        ddl.drop_span_keys_table(data, span_id)


def _backfill(runtime: Runtime, acc: Access, span: SpanDef, types: list[RecordTypeDef]) -> None:
    """Keys for every live record of every type, enforcing types first, in id order: the
    first enforcing holder of a key keeps it enforced; a record sharing a key with one met
    earlier is queued with it for review."""
    ctx = RuleContext(acc.phone_region)
    first: dict[str, tuple[int, int]] = {}
    enforced_keys: set[str] = set()
    order = sorted(types, key=lambda t: not _seen_as(span, t).me.enforced)
    for rt in order:
        seen = _seen_as(span, rt)
        pairs: list[tuple[int, Candidate]] = []
        for records in _batches(runtime, acc, rt):
            rows = []
            for record in records:
                for key in span_keys.keys_for(rt, seen, record["fields"], ctx):
                    holder = first.setdefault(key, (rt.id, record["id"]))
                    if holder != (rt.id, record["id"]):
                        found = span_keys.Holder(holder[0], holder[1], key in enforced_keys)
                        pairs.append((record["id"], _candidate(rt, seen, found)))
                    on = seen.me.enforced and key not in enforced_keys
                    enforced_keys.update({key} if on else set())
                    rows.append(
                        {
                            "key": key,
                            "record_type_id": rt.id,
                            "record_id": record["id"],
                            "enforced": True if on else None,
                        }
                    )
            if rows:
                with transaction(runtime.data_engine(acc.workspace_id), write=True) as data:
                    data.execute(insert(span.keys_table), rows)
            schema_changes.renew(runtime, rt.id)
        with transaction(runtime.control, write=True) as conn:
            queue_pairs(conn, rt, pairs, acc.principal)


def _candidate(rt: RecordTypeDef, span: SpanDef, holder: span_keys.Holder) -> Candidate:
    other = None if holder.record_type_id == rt.id else holder.record_type_id
    reason = span_keys.exists_message(span, holder)
    return Candidate(holder.record_id, span.rule.name, 1.0, [reason], other)


def _batches(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> Iterator[list[dict[str, Any]]]:
    table, last = rt.table, 0
    while True:
        with transaction(runtime.data_engine(acc.workspace_id)) as conn:
            rows = (
                conn.execute(
                    select(table)
                    .where(table.c.id > last, table.c.deleted_at.is_(None))
                    .order_by(table.c.id)
                    .limit(BATCH)
                )
                .mappings()
                .all()
            )
            if not rows:
                return
            records = load_records(conn, rt, rows)
        last = rows[-1]["id"]
        yield records


def _set_enforced(conn: Connection, span_id: int, enforcing: list[int]) -> None:
    """The first holder of each key among the enforcing types gets the flag; no other."""
    table = span_keys_table(span_id, MetaData())
    conn.execute(update(table).values(enforced=None))
    if not enforcing:
        return
    rows = conn.execute(
        select(table.c.key, table.c.record_type_id, table.c.record_id)
        .where(table.c.record_type_id.in_(enforcing))
        .order_by(table.c.key, table.c.record_id)
    ).all()
    taken: set[str] = set()
    for key, type_id, record_id in rows:
        if key in taken:
            continue
        taken.add(key)
        conn.execute(
            update(table)
            .where(
                table.c.key == key,
                table.c.record_type_id == type_id,
                table.c.record_id == record_id,
            )
            .values(enforced=True)
        )


# ---- validation and shapes -------------------------------------------------------------


def _clean(
    runtime: Runtime, acc: Access, spec: Mapping[str, Any]
) -> tuple[DedupeRule, list[tuple[RecordTypeDef, dict[str, Any]]]]:
    unknown = set(spec) - {"rule", "types"}
    if unknown:
        raise ValidationFailed(
            "unknown keys", fields={k: "is not a known key" for k in sorted(unknown)}
        )
    name = str(spec.get("rule"))
    if name not in runtime.dedupe_rules:
        choices = ", ".join(runtime.dedupe_rules.names())
        raise ValidationFailed.single("rule", f"must be one of: {choices}")
    rule = runtime.dedupe_rules.get(name)
    if rule.fuzzy:
        raise ValidationFailed.single(
            "rule", "a rule across types must be exact (a fuzzy rule only scores candidates)"
        )
    entries = spec.get("types")
    if not isinstance(entries, list) or len(entries) < 2:
        raise ValidationFailed.single("types", "must list at least two record types")
    members = [_clean_member(runtime, acc, rule, i, e) for i, e in enumerate(entries)]
    ids = [t.id for t, _ in members]
    if len(set(ids)) != len(ids):
        raise ValidationFailed.single("types", "lists a record type twice")
    _check_mapping(rule, members)
    return rule, members


def _clean_member(
    runtime: Runtime, acc: Access, rule: DedupeRule, index: int, entry: Any
) -> tuple[RecordTypeDef, dict[str, Any]]:
    where = f"types[{index}]"
    if not isinstance(entry, Mapping):
        raise ValidationFailed.single(where, "must be an object with type, fields and modes")
    unknown = set(entry) - {"type", "fields", "on_create", "on_update"}
    if unknown:
        raise ValidationFailed.single(f"{where}.{sorted(unknown)[0]}", "is not a known key")
    type_id = entry.get("type")
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        raise ValidationFailed.single(f"{where}.type", "must be a record type id")
    try:
        rt = record_types.get_type(runtime, acc, type_id)
    except NotFound:
        raise ValidationFailed.single(
            f"{where}.type", f"record type {type_id} is not a record type of this workspace"
        ) from None
    if rt.source is not None:  # rows other systems delete in SQL would keep their keys
        raise ValidationFailed.single(
            f"{where}.type", f"{rt.name} is an adopted table: rules across types skip those yet"
        )
    low, high = rule.arity
    keys = entry.get("fields")
    if not isinstance(keys, list) or not low <= len(keys) <= high:
        raise ValidationFailed.single(f"{where}.fields", f"must list {low} to {high} field keys")
    field_ids = []
    for key in keys:
        f = rt.field_by_key(str(key))
        if f is None:
            raise ValidationFailed.single(f"{where}.fields", f"{key!r} is not a field of {rt.name}")
        if f.type.name not in rule.field_types:
            kinds = ", ".join(sorted(rule.field_types))
            raise ValidationFailed.single(
                f"{where}.fields",
                f"{rt.name}.{key} is a {f.type.name} field; the {rule.name} rule reads {kinds}",
            )
        field_ids.append(f.id)
    on_create = entry.get("on_create", "block")
    on_update = entry.get("on_update", "block")
    if on_create not in CREATE_MODES:
        raise ValidationFailed.single(f"{where}.on_create", f"must be one of {CREATE_MODES}")
    if on_update not in UPDATE_MODES:
        raise ValidationFailed.single(f"{where}.on_update", f"must be one of {UPDATE_MODES}")
    row = {
        "record_type_id": rt.id,
        "field_ids": field_ids,
        "on_create": on_create,
        "on_update": on_update,
    }
    return rt, row


def _check_mapping(rule: DedupeRule, members: list[tuple[RecordTypeDef, dict[str, Any]]]) -> None:
    """Each position of the rule reads fields of one type across the span: an email compared
    with a phone number would never match, and a text with an email only by accident."""
    first_rt, first = members[0]
    for rt, row in members[1:]:
        if len(row["field_ids"]) != len(first["field_ids"]):
            continue  # a name as first and last name on one type, as one field on another
        for a_id, b_id in zip(first["field_ids"], row["field_ids"], strict=True):
            a, b = first_rt.field_by_id(a_id), rt.field_by_id(b_id)
            assert a is not None and b is not None
            if a.type.name != b.type.name:
                raise ValidationFailed(
                    "incompatible field mapping",
                    fields={
                        "types": (
                            f"{first_rt.name}.{a.key} ({a.type.name}) and {rt.name}.{b.key} "
                            f"({b.type.name}) are fields of different types: the "
                            f"{rule.name} rule compares them only as the same type"
                        )
                    },
                )


def _clean_mode_changes(entries: Any, current: Mapping[int, Any]) -> dict[int, dict[str, str]]:
    if not isinstance(entries, list):
        raise ValidationFailed.single("types", "must list {type, on_create, on_update} objects")
    changes: dict[int, dict[str, str]] = {}
    for index, entry in enumerate(entries):
        where = f"types[{index}]"
        if not isinstance(entry, Mapping) or entry.get("type") not in current:
            raise ValidationFailed.single(f"{where}.type", "is not a record type of this rule")
        if set(entry) - {"type", "on_create", "on_update"}:
            raise ValidationFailed.single(where, "only the modes of a type can change")
        values = {}
        for name, allowed in (("on_create", CREATE_MODES), ("on_update", UPDATE_MODES)):
            if name in entry:
                if entry[name] not in allowed:
                    raise ValidationFailed.single(f"{where}.{name}", f"must be one of {allowed}")
                values[name] = entry[name]
        changes[entry["type"]] = values
    return changes


def _probe(
    span_id: int, rule: DedupeRule, members: list[tuple[RecordTypeDef, dict[str, Any]]]
) -> SpanDef:
    found = tuple(
        SpanMember(t.id, t.name, tuple(r["field_ids"]), r["on_create"], r["on_update"])
        for t, r in members
    )
    return SpanDef(span_id, rule, members[0][0].id, found)


def _seen_as(span: SpanDef, rt: RecordTypeDef) -> SpanDef:
    return SpanDef(span.id, span.rule, rt.id, span.members)


def _own(conn: Connection, acc: Access, span_id: int) -> None:
    found = conn.execute(
        select(SP.c.id).where(SP.c.id == span_id, SP.c.workspace_id == acc.workspace_id)
    ).first()
    if found is None or not _members(conn, span_id):
        raise NotFound("rule across types not found")


def _members(conn: Connection, span_id: int) -> list[Any]:
    query = select(SPT).where(SPT.c.span_id == span_id).order_by(SPT.c.id)
    return [r._mapping for r in conn.execute(query)]


def _public(conn: Connection, span_id: int) -> dict[str, Any]:
    rule = conn.execute(select(SP.c.rule).where(SP.c.id == span_id)).scalar_one()
    types = []
    for row in _members(conn, span_id):
        rt = conn.execute(
            select(m.record_types.c.name).where(m.record_types.c.id == row["record_type_id"])
        ).scalar_one()
        keys = dict(
            conn.execute(
                select(m.fields.c.id, m.fields.c.key).where(m.fields.c.id.in_(row["field_ids"]))
            ).all()
        )
        types.append(
            {
                "type": row["record_type_id"],
                "name": rt,
                "fields": [keys.get(fid) for fid in row["field_ids"]],
                "on_create": row["on_create"],
                "on_update": row["on_update"],
            }
        )
    return {"id": span_id, "rule": rule, "types": types}
