"""Mappings: which record type a remote object fills, property by property, and who owns
each mapped field.

Per mapped property the admin chooses the field, its owner and the direction:

* owned by this connection: the tool is the truth, **pull** only (the workspace cannot
  change the field anywhere else: :mod:`workspace.records.ownership`);
* owned by the workspace: **push** (the tool gets the workspace's value), **pull** (fill the
  field only while it is empty) or **both** (push, fill empty, and a change made in the tool
  since the last sync is a conflict for the admin, never overwritten either way). Two-way is
  offered only here, where the owner is clear;
* owned by another connection: **push** only (copy the owner's value on).

Saving a mapping writes the owners of its fields in the same transaction and publishes the
record type, so every process enforces them from its next write.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import connections, ownership
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.principal import Access
from workspace.remote import Connector, RemoteObject
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.tables import RecordTypeDef
from workspace.types import schema_changes

MP, FO = m.connection_mappings, m.field_owners
DIRECTIONS = ("pull", "push", "both")


@dataclass(frozen=True)
class Mapped:
    """One mapped property, as the sync engine uses it."""

    property: str
    field_id: int
    direction: str

    @builtins.property
    def pulls(self) -> bool:
        return self.direction in {"pull", "both"}

    @builtins.property
    def pushes(self) -> bool:
        return self.direction in {"push", "both"}


@dataclass(frozen=True)
class MappingDef:
    id: int
    connection_id: int
    remote_object: str
    record_type_id: int
    properties: tuple[Mapped, ...]
    state: str
    cursor: Any


def mapping_def(row: Any) -> MappingDef:
    return MappingDef(
        id=row.id,
        connection_id=row.connection_id,
        remote_object=row.remote_object,
        record_type_id=row.record_type_id,
        properties=tuple(
            Mapped(p["property"], int(p["field"]), p["direction"]) for p in row.properties
        ),
        state=row.state,
        cursor=row.cursor,
    )


def save(
    runtime: Runtime, acc: Access, connection_id: int, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Create or replace the mapping of one remote object (``object``) to a record type
    (``type``, an id) with its ``properties``: ``[{"property", "field" (key),
    "direction", "owner": "connection" | "workspace"}]``. Admins only."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        row = connections.load(conn, acc.workspace_id, connection_id)
    c = connections.connector(runtime, row.kind)
    remote = c.object(str(body.get("object") or ""))
    if remote is None:
        names = ", ".join(o.name for o in c.objects)
        raise ValidationFailed.single("object", f"must be one of: {names}")
    type_id = body.get("type")
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise ValidationFailed.single("type", "must be a record type id")
    rt = definitions.get_type(runtime, acc, type_id)
    if rt.retired is not None:
        raise ValidationFailed.single("type", f"{rt.name} is retired: it takes no writes")
    mapped, owned = _checked(c, remote, rt, connection_id, body.get("properties"))
    now = utcnow()
    stored = [
        {"property": p.property, "field": p.field_id, "direction": p.direction} for p in mapped
    ]
    with transaction(runtime.control, write=True) as conn:
        existing = conn.execute(
            select(MP).where(MP.c.connection_id == connection_id, MP.c.remote_object == remote.name)
        ).first()
        if existing is None:
            mapping_id = inserted_id(
                conn.execute(
                    insert(MP).values(
                        connection_id=connection_id,
                        remote_object=remote.name,
                        record_type_id=rt.id,
                        properties=stored,
                        state="active",
                        created_at=now,
                        updated_at=now,
                    )
                )
            )
        else:
            mapping_id = existing.id
            values: dict[str, Any] = {"properties": stored, "updated_at": now}
            if existing.record_type_id != rt.id:  # another type: its records are all new
                values |= {"record_type_id": rt.id, "cursor": None}
                _release_type(conn, existing.record_type_id, connection_id)
            conn.execute(update(MP).where(MP.c.id == mapping_id).values(values))
        _write_owners(conn, rt, connection_id, owned, acc.user_id)
    return get(runtime, acc, connection_id, mapping_id)


def _checked(
    c: Connector, remote: RemoteObject, rt: RecordTypeDef, connection_id: int, raw: Any
) -> tuple[list[Mapped], set[int]]:
    """The properties as stored, and the ids of the fields this connection is to own."""
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed.single("properties", "map at least one property to a field")
    errors: dict[str, str] = {}
    mapped: list[Mapped] = []
    owned: set[int] = set()
    seen_fields: set[int] = set()
    for index, item in enumerate(raw):
        where = f"properties.{index}"
        if not isinstance(item, Mapping):
            errors[where] = 'must be {"property", "field", "direction", "owner"}'
            continue
        prop = remote.property(str(item.get("property") or ""))
        f = rt.field_by_key(str(item.get("field") or ""))
        direction = item.get("direction") or "pull"
        mine = item.get("owner") == "connection"
        other = rt.owner_of(f.id) if f is not None else None
        if prop is None:
            errors[where] = f"{item.get('property')!r} is not a property of {remote.label}"
        elif f is None or f.type.outside_record:
            errors[where] = f"{item.get('field')!r} is not a field of {rt.name} that takes values"
        elif f.id in seen_fields:
            errors[where] = f"{f.name} is mapped twice"
        elif direction not in DIRECTIONS:
            errors[where] = "direction must be pull, push or both"
        elif item.get("owner") not in (None, "connection", "workspace"):
            errors[where] = "owner must be connection or workspace"
        elif other is not None and other.connection_id != connection_id and mine:
            errors[where] = (
                f"{f.name} is owned by {other.name}: give it back to the workspace first"
            )
        elif mine and direction != "pull":
            errors[where] = f"{f.name} is owned by this connection: it is only pulled"
        elif other is not None and other.connection_id != connection_id and direction != "push":
            errors[where] = f"{f.name} is owned by {other.name}: this connection can only push it"
        elif direction != "pull" and (not c.can_push or prop.read_only):
            errors[where] = f"{prop.label} cannot be written to {c.label}: pull only"
        else:
            seen_fields.add(f.id)
            mapped.append(Mapped(prop.name, f.id, direction))
            if mine:
                owned.add(f.id)
    if errors:
        raise ValidationFailed("the mapping cannot be used", fields=errors)
    return mapped, owned


def _write_owners(
    conn: Connection, rt: RecordTypeDef, connection_id: int, owned: set[int], by: int
) -> None:
    """This connection owns exactly ``owned`` among the type's fields; publish if that
    changed anything."""
    before = {o.field_id for o in rt.owners if o.connection_id == connection_id}
    if before == owned:
        return
    for field_id in before - owned:
        ownership.write_owner(conn, rt.id, field_id, None, by)
    for field_id in owned - before:
        ownership.write_owner(conn, rt.id, field_id, connection_id, by)
    schema_changes.publish(conn, rt.id)


def _release_type(conn: Connection, record_type_id: int, connection_id: int) -> None:
    rows = conn.execute(
        select(FO.c.field_id).where(
            FO.c.record_type_id == record_type_id, FO.c.connection_id == connection_id
        )
    ).scalars()
    for field_id in list(rows):
        ownership.write_owner(conn, record_type_id, field_id, None, 0)
    schema_changes.publish(conn, record_type_id)


def reset_cursor(runtime: Runtime, acc: Access, connection_id: int, mapping_id: int) -> None:
    """The next pull of this object is a full one again (after a change of mapping)."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        _mapping_row(conn, acc, connection_id, mapping_id)
        conn.execute(update(MP).where(MP.c.id == mapping_id).values(cursor=None))


def set_state(
    runtime: Runtime, acc: Access, connection_id: int, mapping_id: int, state: str
) -> dict[str, Any]:
    """Retire the object (no pull, no push: its links and payloads stay readable) or bring
    it back. Retiring first gives every field it owns back to the workspace."""
    acc.require("admin")
    if state not in {"active", "retired"}:
        raise ValidationFailed.single("state", "must be active or retired")
    with transaction(runtime.control, write=True) as conn:
        row = _mapping_row(conn, acc, connection_id, mapping_id)
        if row.state == state:
            raise Conflict(f"this object is {state} already")
        if state == "retired":
            _release_type(conn, row.record_type_id, connection_id)
        conn.execute(
            update(MP).where(MP.c.id == mapping_id).values(state=state, updated_at=utcnow())
        )
    return get(runtime, acc, connection_id, mapping_id)


def _mapping_row(conn: Connection, acc: Access, connection_id: int, mapping_id: int) -> Any:
    connections.load(conn, acc.workspace_id, connection_id)
    row = conn.execute(
        select(MP).where(MP.c.id == mapping_id, MP.c.connection_id == connection_id)
    ).first()
    if row is None:
        raise NotFound("mapping not found")
    return row


def active(conn: Connection, connection_id: int) -> list[MappingDef]:
    rows = conn.execute(
        select(MP)
        .where(MP.c.connection_id == connection_id, MP.c.state == "active")
        .order_by(MP.c.id)
    ).all()
    return [mapping_def(r) for r in rows]


def get(runtime: Runtime, acc: Access, connection_id: int, mapping_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        conn_row = connections.load(conn, acc.workspace_id, connection_id)
        row = _mapping_row(conn, acc, connection_id, mapping_id)
    return public(runtime, acc, conn_row, row)


def list_mappings(runtime: Runtime, acc: Access, connection_id: int) -> list[dict[str, Any]]:
    acc.require("admin")
    with transaction(runtime.control) as conn:
        conn_row = connections.load(conn, acc.workspace_id, connection_id)
        rows = conn.execute(
            select(MP).where(MP.c.connection_id == connection_id).order_by(MP.c.id)
        ).all()
    return [public(runtime, acc, conn_row, row) for row in rows]


def public(runtime: Runtime, acc: Access, conn_row: Any, row: Any) -> dict[str, Any]:
    c = runtime.connectors.get(conn_row.kind) if conn_row.kind in runtime.connectors else None
    remote = c.object(row.remote_object) if c else None
    try:
        rt: RecordTypeDef | None = definitions.get_type(runtime, acc, row.record_type_id)
    except NotFound:
        rt = None
    properties = []
    for p in mapping_def(row).properties:
        f = rt.field_by_id(p.field_id) if rt else None
        owner = rt.owner_of(p.field_id) if rt else None
        prop = remote.property(p.property) if remote else None
        properties.append(
            {
                "property": p.property,
                "label": prop.label if prop else p.property,
                "field": f.key if f else None,
                "field_name": f.name if f else "(deleted field)",
                "direction": p.direction,
                "owner": _owner_word(owner, conn_row.id),
            }
        )
    return {
        "id": row.id,
        "connection": conn_row.id,
        "object": row.remote_object,
        "object_label": remote.label if remote else row.remote_object,
        "type": row.record_type_id,
        "type_name": rt.name if rt else "(deleted record type)",
        "state": row.state,
        "properties": properties,
        "full_pull_done": row.cursor is not None,
        "last_pull_at": row.last_pull_at,
    }


def _owner_word(owner: Any, connection_id: int) -> str:
    if owner is None:
        return "workspace"
    return "connection" if owner.connection_id == connection_id else f"other: {owner.name}"
