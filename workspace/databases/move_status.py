"""How a move of a workspace's record data stands, as admins see it: its state,
where from and where to, per table the rows copied, and the old copy a finished move left.

Read by the data database overview (:mod:`workspace.databases.connections`) and by
:mod:`workspace.databases.moves`, which starts and runs the moves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from workspace import models as m
from workspace.data_engines import describe
from workspace.databases.read_only import ENFORCED

MOVES, TABLES, D, RT = m.data_moves, m.data_move_tables, m.data_databases, m.record_types


def public(conn: Connection, move: Any) -> dict[str, Any]:
    """A move as the API and the page show it."""
    query = select(RT.c.id, RT.c.name).where(RT.c.workspace_id == move.workspace_id)
    names = {row.id: row.name for row in conn.execute(query)}
    rows = conn.execute(
        select(TABLES).where(TABLES.c.move_id == move.id).order_by(TABLES.c.table_name)
    ).all()
    tables = [
        {
            "name": t.table_name,
            "record_type": names.get(t.record_type_id),
            "copied_rows": t.copied_rows,
            "source_rows": t.source_rows,
            "state": t.state,
        }
        for t in rows
    ]
    copied = sum(min(t.copied_rows, t.source_rows or 0) for t in rows)
    total = sum(t.source_rows or 0 for t in rows)
    percent = 100 if move.state == "done" else (100 * copied // total if total else 0)
    return {
        "id": move.id,
        "state": move.state,
        "source": where(conn, move.source_id),
        "target": where(conn, move.target_id),
        "tables": tables,
        "copied_rows": copied,
        "total_rows": total,
        "percent": percent,
        "error": move.error,
        "started_at": move.started_at,
        "finished_at": move.finished_at,
    }


def where(conn: Connection, data_database_id: int | None) -> str:
    """A data database for people (None: the managed one)."""
    if data_database_id is None:
        return describe(None)
    return describe(conn.execute(select(D).where(D.c.id == data_database_id)).one())


def latest(conn: Connection, workspace_id: int) -> dict[str, Any] | None:
    """The workspace's most recent move, whatever its state."""
    query = select(MOVES).where(MOVES.c.workspace_id == workspace_id).order_by(MOVES.c.id.desc())
    move = conn.execute(query.limit(1)).first()
    return public(conn, move) if move is not None else None


def old_copy_move(conn: Connection, workspace_id: int) -> Any:
    """The finished move whose source is still kept as a read-only old copy (the latest)."""
    query = select(MOVES).where(MOVES.c.workspace_id == workspace_id, MOVES.c.old_copy == "kept")
    return conn.execute(query.order_by(MOVES.c.id.desc()).limit(1)).first()


def old_copy(conn: Connection, workspace_id: int) -> dict[str, Any] | None:
    """Where the records were before the last move, kept read-only until retired."""
    move = old_copy_move(conn, workspace_id)
    if move is None:
        return None
    names = conn.execute(
        select(TABLES.c.table_name).where(TABLES.c.move_id == move.id).order_by(TABLES.c.table_name)
    ).scalars()
    return {
        "location": where(conn, move.source_id),
        "since": move.finished_at,
        "tables": list(names),
        # True: its database refuses every row change (triggers); else why it does not.
        "enforced": move.old_copy_guard == ENFORCED,
        "not_enforced_because": None if move.old_copy_guard == ENFORCED else move.old_copy_guard,
    }
