"""Retiring the old copy, the last step of replacing a manual sync.

Two ways, as the users' playbook has it:

* **Take a field over**: a field a tool owned becomes the workspace's. The preview lists
  the records whose value differs from the tool's as last synced and which value wins (the
  workspace's, or the tool's if the admin says so: those are written first, as the tool).
  From then on the workspace owns the field and pushes it to the tool (where the tool takes
  writes), and no longer takes it from there.
* **Retire a record type** (an imported spreadsheet kept for reference): read-only on every
  path (``workspace.records.ownership`` refuses every write with a clear message), still
  listed, searchable and exportable, with a banner pointing to the live type; an admin can
  restore it. A connection's object is retired in :func:`mappings.set_state`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import batches, matching, ownership, values
from workspace.connectors.links import Link
from workspace.connectors.mappings import MappingDef, mapping_def
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.principal import Access
from workspace.records import records
from workspace.records.write_items import Item
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import FieldDef, ValueContext
from workspace.schema.record_values import Parsed
from workspace.schema.tables import RecordTypeDef
from workspace.types import schema_changes

RT, MP, CN, X = m.record_types, m.connection_mappings, m.connections, m.external_ids
WINNERS = ("workspace", "tool")
#: Most differing records a preview lists (the count is always complete).
SHOWN = 200


def _owned(rt: RecordTypeDef, field_key: str) -> tuple[FieldDef, int]:
    f = rt.field_by_key(field_key)
    if f is None:
        raise NotFound("field not found")
    owner = rt.owner_of(f.id)
    if owner is None:
        raise Conflict(f"{f.name} is owned by the workspace already")
    return f, owner.connection_id


def preview(runtime: Runtime, acc: Access, rt: RecordTypeDef, field_key: str) -> dict[str, Any]:
    """The records whose value differs from the owning tool's as last synced."""
    acc.require("admin")
    f, connection_id = _owned(rt, field_key)
    differing = _differing(runtime, acc, rt, f, connection_id)
    owner = rt.owner_of(f.id)
    return {
        "field": f.key,
        "field_name": f.name,
        "owner": owner.name if owner else "",
        "differing": len(differing),
        "records": [
            {"record": rid, "workspace": activity_value(ours), "tool": theirs}
            for rid, ours, theirs in differing[:SHOWN]
        ],
        "winners": list(WINNERS),
    }


def activity_value(value: Any) -> Any:
    return values.to_remote(value)


def _differing(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, f: FieldDef, connection_id: int
) -> list[tuple[int, Any, Any]]:
    ctx = ValueContext(acc.phone_region)
    found: list[tuple[int, Any, Any]] = []
    for mapping in _mappings(runtime, rt, connection_id):
        props = [p.property for p in mapping.properties if p.field_id == f.id]
        with transaction(runtime.control) as conn:
            rows = conn.execute(
                select(X.c.id, X.c.remote_id, X.c.record_id, X.c.remote_values).where(
                    X.c.connection_id == connection_id,
                    X.c.remote_object == mapping.remote_object,
                    X.c.deleted_at.is_(None),
                )
            ).all()
        chunk = [Link(r.id, r.remote_id, r.record_id, dict(r.remote_values or {})) for r in rows]
        with transaction(runtime.data_engine(acc.workspace_id)) as data:
            current = matching.current(data, rt, [link.record_id for link in chunk])
        for link in chunk:
            record = current.get(link.record_id)
            for prop in props:
                theirs = link.remote_values.get(prop)
                ours = record["fields"].get(f.key) if record else None
                if record is not None and not values.same(f, ours, theirs, ctx):
                    found.append((link.record_id, ours, theirs))
    return found


def _mappings(runtime: Runtime, rt: RecordTypeDef, connection_id: int) -> list[MappingDef]:
    with transaction(runtime.control) as conn:
        rows = conn.execute(
            select(MP).where(MP.c.connection_id == connection_id, MP.c.record_type_id == rt.id)
        ).all()
    return [mapping_def(r) for r in rows]


def take_over(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, field_key: str, winner: str = "workspace"
) -> dict[str, Any]:
    """Move a field's ownership from its tool to the workspace (see the module docstring)."""
    acc.require("admin")
    if winner not in WINNERS:
        raise ValidationFailed.single("winner", "must be workspace or tool")
    f, connection_id = _owned(rt, field_key)
    differing = _differing(runtime, acc, rt, f, connection_id)
    if winner == "tool" and differing:
        _write_tool_values(runtime, rt, f, connection_id, differing)
    with transaction(runtime.control, write=True) as conn:
        row = conn.execute(select(CN).where(CN.c.id == connection_id)).one()
        connector = runtime.connectors.get(row.kind) if row.kind in runtime.connectors else None
        for mapping in _mappings(runtime, rt, connection_id):
            remote = connector.object(mapping.remote_object) if connector else None
            stored = []
            for p in mapping.properties:
                prop = remote.property(p.property) if remote else None
                pushable = (
                    connector is not None and connector.can_push and prop and not prop.read_only
                )
                direction = ("push" if pushable else "pull") if p.field_id == f.id else p.direction
                stored.append({"property": p.property, "field": p.field_id, "direction": direction})
            conn.execute(
                update(MP)
                .where(MP.c.id == mapping.id)
                .values(properties=stored, updated_at=utcnow())
            )
        ownership.write_owner(conn, rt.id, f.id, None, acc.user_id)
        schema_changes.publish(conn, rt.id)
    return {"field": f.key, "owner": "workspace", "differing": len(differing), "winner": winner}


def _write_tool_values(
    runtime: Runtime,
    rt: RecordTypeDef,
    f: FieldDef,
    connection_id: int,
    differing: list[tuple[int, Any, Any]],
) -> None:
    """The tool's values into the records, written as the tool (it still owns the field)."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(CN).where(CN.c.id == connection_id)).one()
    acc = batches.connector_access(runtime, row)
    ctx = ValueContext(acc.phone_region)
    latest = {rid: theirs for rid, _, theirs in differing}
    wanted = [(rid, {f.key: values.parse(f, theirs, ctx)}) for rid, theirs in latest.items()]
    limit = runtime.settings.bulk_limit
    for start in range(0, len(wanted), limit):
        part = [
            Item(i, Parsed(values=v), record_id=rid)
            for i, (rid, v) in enumerate(wanted[start : start + limit])
        ]

        def build(rt: RecordTypeDef, tx: Any, part: list[Item] = part) -> list[Item]:
            return part

        records.write_built(runtime, acc, rt, build, override=None, after=_nothing)


def _nothing(tx: Any, outcomes: Any) -> None:
    return None


# ---- retired record types --------------------------------------------------------------


def retire_type(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, note: Any, successor: Any
) -> RecordTypeDef:
    """Make ``rt`` read-only everywhere, pointing to ``successor`` (another type, or None)."""
    acc.require("admin")
    if not isinstance(note, str) or len(note) > 500:
        raise ValidationFailed.single("note", "must be text of at most 500 characters")
    if successor is not None:
        if not isinstance(successor, int) or isinstance(successor, bool) or successor == rt.id:
            raise ValidationFailed.single("successor", "must be another record type's id")
        try:
            definitions.get_type(runtime, acc, successor)
        except NotFound:
            raise ValidationFailed.single("successor", "is not a record type here") from None
    if rt.retired is not None:
        raise Conflict(f"{rt.name} is retired already")
    retired = {
        "at": utcnow().isoformat(),
        "by": acc.user_id,
        "note": note.strip(),
        "successor": successor,
    }
    with transaction(runtime.control, write=True) as conn:
        schema_changes.publish(conn, rt.id, retired=retired)
    return definitions.get_type(runtime, acc, rt.id)


def restore_type(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> RecordTypeDef:
    acc.require("admin")
    if rt.retired is None:
        raise Conflict(f"{rt.name} is not retired")
    with transaction(runtime.control, write=True) as conn:
        schema_changes.publish(conn, rt.id, retired=None)
    return definitions.get_type(runtime, acc, rt.id)
