"""The comments and tasks of a record follow it through a merge, and back on undo.

A merge moves the loser's comments and tasks to the survivor and writes down which ones
moved (in the merge's ``moved_links``), so undo returns exactly those, wherever later merges
took the survivor since. Their activity entries stay on the loser, and the survivor's
timeline shows the loser's history anyway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from workspace import models as m

MOVABLE = {"comments": m.comments, "tasks": m.tasks}


def move(
    conn: Connection, workspace_id: int, record_type_id: int, loser: int, survivor: int
) -> dict[str, Any]:
    """Give the loser's comments and tasks to the survivor; returns what moved (for undo)."""
    moved: dict[str, Any] = {"work": True}
    for kind, table in MOVABLE.items():
        mine = (
            table.c.workspace_id == workspace_id,
            table.c.record_type_id == record_type_id,
            table.c.record_id == loser,
        )
        ids = list(conn.execute(select(table.c.id).where(*mine)).scalars())
        if ids:
            conn.execute(update(table).where(table.c.id.in_(ids)).values(record_id=survivor))
        moved[kind] = ids
    return moved


def move_back(conn: Connection, moved: list[dict[str, Any]], loser: int) -> None:
    """Return what :func:`move` moved (the step of ``moved`` marked ``work``) to the loser."""
    for step in moved:
        if not step.get("work"):
            continue
        for kind, table in MOVABLE.items():
            ids = step.get(kind) or []
            if ids:
                conn.execute(update(table).where(table.c.id.in_(ids)).values(record_id=loser))
