"""Conflicts: a workspace field and its copy in a tool both changed since the last sync.

Neither side is overwritten: the conflict is listed for an admin, who keeps the workspace's
value (the next push sends it, since the tool's value is now the known one), takes the
tool's value (written to the record as the admin, through the records service), or
dismisses it. One open conflict per remote row and property: finding it again refreshes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from workspace import activity
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.principal import Access
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import FieldDef

SC, X = m.sync_conflicts, m.external_ids
DECISIONS = {
    "keep_workspace": "kept_workspace",
    "take_remote": "took_remote",
    "dismiss": "dismissed",
}


def found(f: FieldDef, prop: str, ours: Any, theirs: Any, base: Any) -> dict[str, Any]:
    """A conflict as a pull or push finds it (``base``: the remote values at the last sync,
    None before the first)."""
    return {
        "field_id": f.id,
        "property": prop,
        "workspace_value": activity.jsonable(ours),
        "remote_value": theirs,
        "base_value": base.get(prop) if isinstance(base, dict) else None,
    }


@dataclass(frozen=True)
class Where:
    """The remote row and the record a conflict is about."""

    workspace_id: int
    connection_id: int
    remote_object: str
    remote_id: str
    record_type_id: int
    record_id: int


def keep(conn: Connection, where: Where, c: dict[str, Any], found_in: str = "pull") -> None:
    """Store a conflict, or refresh the open one of the same row and property."""
    same = (
        SC.c.connection_id == where.connection_id,
        SC.c.remote_object == where.remote_object,
        SC.c.remote_id == where.remote_id,
        SC.c.property == c["property"],
        SC.c.state == "open",
    )
    values = {**c, "record_id": where.record_id, "found_in": found_in, "found_at": utcnow()}
    if conn.execute(select(SC.c.id).where(*same)).first() is not None:
        conn.execute(update(SC).where(*same).values(values))
        return
    conn.execute(
        insert(SC).values(
            workspace_id=where.workspace_id,
            connection_id=where.connection_id,
            remote_object=where.remote_object,
            remote_id=where.remote_id,
            record_type_id=where.record_type_id,
            state="open",
            **values,
        )
    )


def public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "connection": row.connection_id,
        "object": row.remote_object,
        "remote_id": row.remote_id,
        "type": row.record_type_id,
        "record": row.record_id,
        "field": row.field_id,
        "property": row.property,
        "workspace_value": row.workspace_value,
        "remote_value": row.remote_value,
        "base_value": row.base_value,
        "found_in": row.found_in,
        "state": row.state,
        "found_at": row.found_at,
        "decided_at": row.decided_at,
    }


def list_conflicts(
    runtime: Runtime, acc: Access, connection_id: int, *, state: str = "open", limit: int = 200
) -> list[dict[str, Any]]:
    acc.require("admin")
    query = (
        select(SC)
        .where(
            SC.c.workspace_id == acc.workspace_id,
            SC.c.connection_id == connection_id,
            SC.c.state == state,
        )
        .order_by(SC.c.id.desc())
        .limit(limit)
    )
    with transaction(runtime.control) as conn:
        return [public(r) for r in conn.execute(query)]


def resolve(runtime: Runtime, acc: Access, conflict_id: int, decision: str) -> dict[str, Any]:
    """Keep the workspace's value, take the tool's, or dismiss. Admins only."""
    acc.require("admin")
    if decision not in DECISIONS:
        raise ValidationFailed.single("decision", "must be " + ", ".join(DECISIONS))
    with transaction(runtime.control) as conn:
        row = conn.execute(
            select(SC).where(SC.c.id == conflict_id, SC.c.workspace_id == acc.workspace_id)
        ).first()
    if row is None:
        raise NotFound("conflict not found")
    if row.state != "open":
        raise Conflict(f"this conflict is decided already ({row.state})")
    if decision == "take_remote":
        rt = definitions.get_type(runtime, acc, row.record_type_id)
        f = rt.field_by_id(row.field_id)
        if f is None:
            raise Conflict("the field was deleted since")
        by_admin = dataclasses.replace(
            acc, principal=dataclasses.replace(acc.principal, source="ui")
        )
        records.update_record(runtime, by_admin, rt, row.record_id, {f.key: row.remote_value})
    with transaction(runtime.control, write=True) as conn:
        if decision != "dismiss":  # the tool's value is the known one from now on
            link = conn.execute(
                select(X.c.id, X.c.remote_values).where(
                    X.c.connection_id == row.connection_id,
                    X.c.remote_object == row.remote_object,
                    X.c.remote_id == row.remote_id,
                )
            ).first()
            if link is not None:
                known = {**(link.remote_values or {}), row.property: row.remote_value}
                conn.execute(update(X).where(X.c.id == link.id).values(remote_values=known))
        conn.execute(
            update(SC)
            .where(SC.c.id == conflict_id)
            .values(state=DECISIONS[decision], decided_at=utcnow(), decided_by=acc.user_id)
        )
        done = conn.execute(select(SC).where(SC.c.id == conflict_id)).one()
    return public(done)
