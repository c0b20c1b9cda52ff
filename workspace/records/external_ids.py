"""A record's external ids: the rows in connected tools that are this record.

The sync engine (``workspace.connectors``) writes the links; this module is what the rest of
the server needs of them without knowing connectors: the record page lists them, and a merge
moves the loser's links to the survivor in its own transaction (the loser's remote rows are
the survivor from then on, so no sync brings the loser back or makes a second record of
them), and an undo moves them back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from workspace import models as m

X, CN = m.external_ids, m.connections


def for_record(conn: Connection, record_type_id: int, record_id: int) -> list[dict[str, Any]]:
    """The remote rows that are this record, with the connection they come through."""
    query = (
        select(X, CN.c.name, CN.c.kind, CN.c.deleted_at.label("disconnected_at"))
        .join(CN, CN.c.id == X.c.connection_id)
        .where(X.c.record_type_id == record_type_id, X.c.record_id == record_id)
        .order_by(X.c.connection_id, X.c.remote_object, X.c.id)
    )
    return [
        {
            "connection": r.connection_id,
            "connection_name": r.name,
            "kind": r.kind,
            "object": r.remote_object,
            "remote_id": r.remote_id,
            "linked_at": r.linked_at,
            "synced_at": r.synced_at,
            "deleted_in_tool": r.deleted_at is not None,
            "disconnected": r.disconnected_at is not None,
            "merged_from": r.origin_record_id if r.origin_record_id != record_id else None,
        }
        for r in conn.execute(query)
    ]


def move_for_merge(conn: Connection, record_type_id: int, loser_id: int, survivor_id: int) -> int:
    """Inside the merge's transaction: the loser's links now point at the survivor."""
    done = conn.execute(
        update(X)
        .where(X.c.record_type_id == record_type_id, X.c.record_id == loser_id)
        .values(record_id=survivor_id)
    )
    return int(done.rowcount)


def move_back_for_undo(
    conn: Connection, record_type_id: int, loser_id: int, survivor_id: int
) -> None:
    """Inside the undo's transaction: links that came from the loser go back to it."""
    conn.execute(
        update(X)
        .where(
            X.c.record_type_id == record_type_id,
            X.c.record_id == survivor_id,
            X.c.origin_record_id == loser_id,
        )
        .values(record_id=loser_id)
    )
