"""Records merged away: where they went."""

from __future__ import annotations

from sqlalchemy import Connection, select

from workspace import models as m

MG = m.merges


def merged_into(conn: Connection, record_type_id: int, record_id: int) -> int | None:
    """The record a tombstone now lives on (following merges of merges), or None."""
    seen = {record_id}
    current: int | None = None
    while True:
        found = conn.execute(
            select(MG.c.survivor_id).where(
                MG.c.record_type_id == record_type_id,
                MG.c.loser_id == (current or record_id),
                MG.c.undone_at.is_(None),
            )
        ).scalar()
        if found is None or found in seen:
            return current
        seen.add(found)
        current = found
