"""The external-id map as a sync writes it: (connection, remote object, remote id) -> record.

A unique index on the triple makes one remote row one record however many processes pull;
the remote values as last synced ride along, so the next pull and push can tell a change
made in the tool from one made in the workspace. Reading links for a record and moving them
with a merge is :mod:`workspace.records.external_ids` (merges happen below connectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from workspace import models as m
from workspace.clock import utcnow

X = m.external_ids
#: Ids looked up per statement.
CHUNK = 500


LINK_COLUMNS = (X.c.id, X.c.remote_id, X.c.record_id, X.c.remote_values, X.c.workspace_values)


@dataclass
class Link:
    id: int
    remote_id: str
    record_id: int
    remote_values: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    workspace_values: dict[str, Any] = field(default_factory=dict)


def of_row(r: Any) -> Link:
    """A live link from a row of :data:`LINK_COLUMNS`."""
    values, mine = dict(r.remote_values or {}), dict(r.workspace_values or {})
    return Link(r.id, r.remote_id, r.record_id, values, False, mine)


def find(
    conn: Connection, connection_id: int, remote_object: str, remote_ids: Iterable[str]
) -> dict[str, Link]:
    wanted = sorted(set(remote_ids))
    found: dict[str, Link] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(
            select(
                X.c.id,
                X.c.remote_id,
                X.c.record_id,
                X.c.remote_values,
                X.c.workspace_values,
                X.c.deleted_at,
            ).where(
                X.c.connection_id == connection_id,
                X.c.remote_object == remote_object,
                X.c.remote_id.in_(wanted[start : start + CHUNK]),
            )
        )
        for r in rows:
            found[r.remote_id] = Link(
                r.id,
                r.remote_id,
                r.record_id,
                dict(r.remote_values or {}),
                r.deleted_at is not None,
            )
    return found


def of_records(
    conn: Connection, connection_id: int, remote_object: str, record_ids: Iterable[int]
) -> list[Link]:
    """The live links of some records (to push their changes)."""
    wanted = sorted(set(record_ids))
    found = []
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(
            select(*LINK_COLUMNS).where(
                X.c.connection_id == connection_id,
                X.c.remote_object == remote_object,
                X.c.record_id.in_(wanted[start : start + CHUNK]),
                X.c.deleted_at.is_(None),
            )
        )
        found += [of_row(r) for r in rows]
    return found


def add(
    conn: Connection,
    connection_id: int,
    remote_object: str,
    record_type_id: int,
    new: Mapping[str, tuple[int, dict[str, Any], dict[str, Any]]],
) -> None:
    """Insert links ``remote id -> (record id, remote values, workspace values)`` (the
    unique index refuses a
    second process linking the same row: its transaction is retried and finds this one)."""
    if not new:
        return
    now = utcnow()
    conn.execute(
        insert(X),
        [
            {
                "connection_id": connection_id,
                "remote_object": remote_object,
                "remote_id": remote_id,
                "record_type_id": record_type_id,
                "record_id": record_id,
                "origin_record_id": record_id,
                "remote_values": values,
                "workspace_values": mine,
                "linked_at": now,
                "synced_at": now,
            }
            for remote_id, (record_id, values, mine) in new.items()
        ],
    )


def deleted(conn: Connection, link_id: int) -> None:
    conn.execute(update(X).where(X.c.id == link_id).values(deleted_at=utcnow(), synced_at=utcnow()))
