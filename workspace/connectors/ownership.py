"""Who owns each field of a record type: the workspace, or one connection.

The owners are stored beside the field definitions (``field_owners``) and read with them
(``schema.definitions``), so the records write path enforces them without knowing anything
about connectors. Every change of owner publishes a new schema version of the type: each
process reloads the definition before its next write, so a change of owner holds at once
everywhere.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.tables import RecordTypeDef
from workspace.types import schema_changes

FO, CN = m.field_owners, m.connections


def set_owner(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, field_key: str, connection_id: int | None
) -> RecordTypeDef:
    """Give ``field_key`` to a connection of the workspace, or back to the workspace (None).
    Admins only. Returns the type as now defined."""
    acc.require("admin")
    f = rt.field_by_key(field_key)
    if f is None:
        raise ValidationFailed.single("field", f"{field_key!r} is not a field of {rt.name}")
    if connection_id is not None and f.type.outside_record:
        raise ValidationFailed.single("field", f"{f.name} holds files, which no tool syncs")
    with transaction(runtime.control, write=True) as conn:
        if connection_id is not None:
            live_connection(conn, acc.workspace_id, connection_id)
        write_owner(conn, rt.id, f.id, connection_id, acc.user_id)
        schema_changes.publish(conn, rt.id)
    return definitions.get_type(runtime, acc, rt.id)


def write_owner(
    conn: Connection, record_type_id: int, field_id: int, connection_id: int | None, by: int
) -> None:
    """Inside the caller's transaction (which must publish the type afterwards)."""
    conn.execute(delete(FO).where(FO.c.field_id == field_id))
    if connection_id is not None:
        conn.execute(
            insert(FO).values(
                field_id=field_id,
                record_type_id=record_type_id,
                connection_id=connection_id,
                assigned_by=by,
                assigned_at=utcnow(),
            )
        )


def live_connection(conn: Connection, workspace_id: int, connection_id: int) -> None:
    found = conn.execute(
        select(CN.c.id).where(
            CN.c.id == connection_id,
            CN.c.workspace_id == workspace_id,
            CN.c.deleted_at.is_(None),
        )
    ).first()
    if found is None:
        raise NotFound("connection not found")


def types_owned_by(conn: Connection, connection_id: int) -> list[int]:
    """The record types with a field this connection owns."""
    query = select(FO.c.record_type_id).where(FO.c.connection_id == connection_id).distinct()
    return sorted(conn.execute(query).scalars())


def release_all(conn: Connection, connection_id: int) -> None:
    """Inside the caller's transaction: every field the connection owns goes back to the
    workspace (the connection is being deleted), and the types are republished."""
    types = types_owned_by(conn, connection_id)
    conn.execute(delete(FO).where(FO.c.connection_id == connection_id))
    for record_type_id in types:
        schema_changes.publish(conn, record_type_id)
