"""The activity history: every change to a record, who or what made it, old and new values.

Entries are written in the same transaction as the change itself (when the workspace's data
lives in the control database), so history and data cannot disagree. Every record change
passes here, so this is also where its event goes to the outbox, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select

from workspace import models as m
from workspace import outbox
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import BadRequest
from workspace.principal import Access, Principal
from workspace.runtime import Runtime

A = m.activity
INSERT = insert(A)
PAGE_MAX = 200


@dataclass(frozen=True)
class Entry:
    record_id: int
    action: str
    changes: list[dict[str, Any]]


def jsonable(value: Any) -> Any:
    """Values as the API shows them, so history reads like the records did."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def change(key: str, old: Any, new: Any) -> dict[str, Any]:
    return {"field": key, "old": jsonable(old), "new": jsonable(new)}


def write(
    conn: Connection,
    principal: Principal,
    workspace_id: int,
    record_type_id: int,
    entries: Sequence[Entry],
) -> None:
    if not entries:
        return
    now = utcnow()
    conn.execute(
        INSERT,
        [
            {
                "workspace_id": workspace_id,
                "record_type_id": record_type_id,
                "record_id": e.record_id,
                "action": e.action,
                "actor_user_id": principal.user_id,
                "source": principal.source,
                "source_ref": principal.source_ref,
                "at": now,
                "changes": e.changes,
            }
            for e in entries
        ],
    )
    outbox.write(conn, _events(principal, workspace_id, record_type_id, entries, now))


def _events(
    principal: Principal,
    workspace_id: int,
    record_type_id: int,
    entries: Sequence[Entry],
    now: dt.datetime,
) -> list[outbox.OutboxEvent]:
    """The record changes among ``entries`` as events (comments, tasks and files are history
    of a record, not changes of it)."""
    return [
        outbox.by(
            principal,
            workspace_id,
            kind,
            record_type_id=record_type_id,
            record_id=e.record_id,
            changes=e.changes,
            at=now,
        )
        for e in entries
        if (kind := outbox.ACTION_KINDS.get(e.action)) is not None
    ]


def for_record(
    runtime: Runtime, acc: Access, record_type_id: int, record_id: int, **page: Any
) -> dict[str, Any]:
    """A record's history, including that of the records merged into it."""
    with transaction(runtime.control) as conn:
        ids = [record_id, *losers_of(conn, record_type_id, record_id)]
    where = [
        A.c.workspace_id == acc.workspace_id,
        A.c.record_type_id == record_type_id,
        A.c.record_id.in_(ids),
    ]
    return _page(runtime, where, **page)


def losers_of(conn: Connection, record_type_id: int, survivor_id: int) -> list[int]:
    """Records merged into ``survivor_id``, directly or through earlier merges."""
    merges = m.merges
    found: list[int] = []
    frontier = [survivor_id]
    while frontier:
        rows = conn.execute(
            select(merges.c.loser_id).where(
                merges.c.record_type_id == record_type_id,
                merges.c.survivor_id.in_(frontier),
                merges.c.undone_at.is_(None),
            )
        ).scalars()
        frontier = [r for r in rows if r not in found and r != survivor_id]
        found += frontier
    return found


def for_workspace(runtime: Runtime, acc: Access, **page: Any) -> dict[str, Any]:
    return _page(runtime, [A.c.workspace_id == acc.workspace_id], **page)


def _page(
    runtime: Runtime, where: list[Any], limit: int = 50, before: int | None = None
) -> dict[str, Any]:
    """Newest first; ``before`` is the id of the last entry of the previous page."""
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequest(f"limit: must be between 1 and {PAGE_MAX}")
    query = select(A).where(*where).order_by(A.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(A.c.id < before)
    with transaction(runtime.control) as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": r["id"],
            "record_type": r["record_type_id"],
            "record": r["record_id"],
            "action": r["action"],
            "actor": r["actor_user_id"],
            "source": r["source"],
            "source_ref": r["source_ref"],
            "at": r["at"],
            "changes": r["changes"],
        }
        for r in rows
    ]
    return {"items": items, "next_before": rows[-1]["id"] if more else None}
