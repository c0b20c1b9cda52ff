"""In-app notifications: a member is told when a comment mentions them or a task is given
to them.

Notifications are written in the same transaction as the comment or task that causes them,
so there is never a notification for something that was rolled back. Each is the member's
own: nobody else can list or mark them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import BadRequest, NotFound, ValidationFailed
from workspace.principal import Access
from workspace.runtime import Runtime

N = m.notifications
KINDS = ("mention", "assigned")
EXCERPT = 300
PAGE_MAX = 200


def notify(
    conn: Connection,
    acc: Access,
    kind: str,
    user_ids: Iterable[int],
    *,
    record_type_id: int,
    record_id: int,
    excerpt: str,
    comment_id: int | None = None,
    task_id: int | None = None,
) -> None:
    """Tell ``user_ids`` (never the member acting: they know what they just did)."""
    assert kind in KINDS
    now = utcnow()
    short = excerpt if len(excerpt) <= EXCERPT else excerpt[: EXCERPT - 1] + "…"
    rows = [
        {
            "workspace_id": acc.workspace_id,
            "user_id": user_id,
            "kind": kind,
            "actor_user_id": acc.user_id,
            "record_type_id": record_type_id,
            "record_id": record_id,
            "comment_id": comment_id,
            "task_id": task_id,
            "excerpt": short,
            "created_at": now,
        }
        for user_id in dict.fromkeys(user_ids)
        if user_id != acc.user_id
    ]
    if rows:
        conn.execute(insert(N), rows)


def unread_count(runtime: Runtime, acc: Access) -> int:
    """What the bell shows."""
    query = select(func.count()).where(*_mine(acc), N.c.read_at.is_(None))
    with transaction(runtime.control) as conn:
        return int(conn.execute(query).scalar_one())


def list_notifications(
    runtime: Runtime,
    acc: Access,
    *,
    unread: bool = False,
    limit: int = 50,
    before: int | None = None,
) -> dict[str, Any]:
    """The member's notifications in this workspace, newest first; ``next_before`` pages."""
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequest(f"limit: must be between 1 and {PAGE_MAX}")
    query = select(N).where(*_mine(acc)).order_by(N.c.id.desc()).limit(limit + 1)
    if unread:
        query = query.where(N.c.read_at.is_(None))
    if before is not None:
        query = query.where(N.c.id < before)
    with transaction(runtime.control) as conn:
        rows = conn.execute(query).mappings().all()
    more = len(rows) > limit
    items = [_public(r) for r in rows[:limit]]
    return {"items": items, "next_before": items[-1]["id"] if more else None}


def get(runtime: Runtime, acc: Access, notification_id: int) -> dict[str, Any]:
    """One of the member's own notifications (anyone else's is "not found")."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(N).where(*_mine(acc), N.c.id == notification_id)).mappings()
        found = row.first()
    if found is None:
        raise NotFound("notification not found")
    return _public(found)


def mark_read(runtime: Runtime, acc: Access, ids: list[int] | None = None) -> int:
    """Mark the given notifications (all unread ones with ``None``) read; returns how many
    changed. Ids of other members' notifications are ignored, as if they did not exist."""
    if ids is not None and not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationFailed.single("ids", "must be a list of notification ids")
    query = update(N).where(*_mine(acc), N.c.read_at.is_(None)).values(read_at=utcnow())
    if ids is not None:
        if not ids:
            return 0
        query = query.where(N.c.id.in_(ids))
    with transaction(runtime.control, write=True) as conn:
        return int(conn.execute(query).rowcount)


def _mine(acc: Access) -> list[Any]:
    return [N.c.user_id == acc.user_id, N.c.workspace_id == acc.workspace_id]


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "actor": row["actor_user_id"],
        "record_type": row["record_type_id"],
        "record": row["record_id"],
        "comment": row["comment_id"],
        "task": row["task_id"],
        "excerpt": row["excerpt"],
        "created_at": row["created_at"],
        "read": row["read_at"] is not None,
    }
