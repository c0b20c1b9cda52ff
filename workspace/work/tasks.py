"""Tasks on records: a title, an assignee, a due date and open/done.

Every task belongs to one record. Creating or changing one writes an activity entry on that
record (the task before and after), and giving a task to someone notifies them in-app, in
the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, case, insert, select, update

from workspace import activity
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import BadRequest, NotFound, ValidationFailed
from workspace.names import clean_name
from workspace.principal import Access
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.work import notifications

T, M = m.tasks, m.memberships
STATUSES = ("open", "done")
EDITABLE = ("title", "assignee", "due", "status")
PAGE_MAX = 200


def create(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    values: dict[str, Any],
    *,
    after: Callable[[Connection], None] | None = None,
) -> dict[str, Any]:
    """A new task on a live record; ``values`` has ``title`` and optionally ``assignee``
    (a member's user id), ``due`` (YYYY-MM-DD) and ``status``. ``after`` writes in the same
    transaction (an automation marking its step done)."""
    acc.require("member")
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationFailed.single(sorted(unknown)[0], "is not a task attribute")
    if "title" not in values:
        raise ValidationFailed.single("title", "is required")
    records.get(runtime, acc, rt, record_id)  # 404 for a missing or deleted record
    now = utcnow()
    with transaction(runtime.control, write=True) as conn:
        row: dict[str, Any] = {
            "workspace_id": acc.workspace_id,
            "record_type_id": rt.id,
            "record_id": record_id,
            "status": "open",
            "assignee_id": None,
            "due_date": None,
            "created_by": acc.user_id,
            "created_at": now,
            "updated_at": now,
            "done_at": None,
            **_columns(conn, acc, values),
        }
        if row["status"] == "done":
            row["done_at"] = now
        row["id"] = inserted_id(conn.execute(insert(T).values(row)))
        _history(conn, acc, row, "task_added", None, snapshot(row))
        _notify(conn, acc, row, None)
        if after is not None:
            after(conn)
    return public(row)


def update_task(
    runtime: Runtime, acc: Access, task_id: int, values: dict[str, Any]
) -> dict[str, Any]:
    """Change the attributes in ``values`` (PATCH semantics). Marking a task done stamps
    ``done_at``; a new assignee is notified."""
    acc.require("member")
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationFailed.single(sorted(unknown)[0], "is not a task attribute")
    with transaction(runtime.control, write=True) as conn:
        old = dict(_row(conn, acc, task_id, lock=True))
        changes = {k: v for k, v in _columns(conn, acc, values).items() if v != old[k]}
        if not changes:
            return public(old)
        now = utcnow()
        changes["updated_at"] = now
        if "status" in changes:
            changes["done_at"] = now if changes["status"] == "done" else None
        conn.execute(update(T).where(T.c.id == task_id).values(changes))
        new = {**old, **changes}
        _history(conn, acc, new, "task_changed", snapshot(old), snapshot(new))
        _notify(conn, acc, new, old["assignee_id"])
    return public(new)


def get(runtime: Runtime, acc: Access, task_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        return public(_row(conn, acc, task_id))


def list_tasks(
    runtime: Runtime,
    acc: Access,
    *,
    assignee: int | None = None,
    status: str | None = None,
    record_type: int | None = None,
    record: int | None = None,
    limit: int = 50,
    before: int | None = None,
) -> dict[str, Any]:
    """The workspace's tasks, newest first, filtered; ``next_before`` pages further back."""
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequest(f"limit: must be between 1 and {PAGE_MAX}")
    if status is not None and status not in STATUSES:
        raise ValidationFailed.single("status", "must be open or done")
    if record is not None and record_type is None:
        raise ValidationFailed.single("record_type", "is required when filtering by record")
    query = select(T).where(T.c.workspace_id == acc.workspace_id)
    for column, value in (
        (T.c.assignee_id, assignee),
        (T.c.status, status),
        (T.c.record_type_id, record_type),
        (T.c.record_id, record),
    ):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(T.c.id < before)
    with transaction(runtime.control) as conn:
        rows = conn.execute(query.order_by(T.c.id.desc()).limit(limit + 1)).mappings().all()
    items = [public(r) for r in rows[:limit]]
    return {"items": items, "next_before": items[-1]["id"] if len(rows) > limit else None}


def for_record(
    runtime: Runtime, acc: Access, record_type_id: int, record_id: int
) -> list[dict[str, Any]]:
    """A record's tasks: open ones first, soonest due first (no date last), then done."""
    query = _by_urgency(
        select(T).where(
            T.c.workspace_id == acc.workspace_id,
            T.c.record_type_id == record_type_id,
            T.c.record_id == record_id,
        )
    )
    with transaction(runtime.control) as conn:
        return [public(r) for r in conn.execute(query).mappings()]


def assigned_to_me(
    runtime: Runtime, acc: Access, *, status: str = "open", limit: int = 100
) -> list[dict[str, Any]]:
    """ "My tasks": open ones overdue first, then by due date (none last); done ones most
    recently finished first."""
    query = select(T).where(
        T.c.workspace_id == acc.workspace_id,
        T.c.assignee_id == acc.user_id,
        T.c.status == status,
    )
    query = _by_urgency(query) if status == "open" else query.order_by(T.c.done_at.desc())
    with transaction(runtime.control) as conn:
        return [public(r) for r in conn.execute(query.limit(limit)).mappings()]


def snapshot(row: Any) -> dict[str, Any]:
    """A task as the activity history keeps it."""
    due = row["due_date"]
    return {
        "id": row["id"],
        "title": row["title"],
        "assignee": row["assignee_id"],
        "due": due.isoformat() if due is not None else None,
        "status": row["status"],
    }


def public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "record_type": row["record_type_id"],
        "record": row["record_id"],
        "title": row["title"],
        "assignee": row["assignee_id"],
        "due": row["due_date"],
        "status": row["status"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "done_at": row["done_at"],
    }


def _by_urgency(query: Any) -> Any:
    return query.order_by(
        case((T.c.status == "open", 0), else_=1),
        case((T.c.due_date.is_(None), 1), else_=0),
        T.c.due_date,
        T.c.id,
    )


def _columns(conn: Connection, acc: Access, values: dict[str, Any]) -> dict[str, Any]:
    """Input values checked and named as columns; every bad one is reported at once."""
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        try:
            column, clean = _clean(conn, acc, key, value)
        except ValidationFailed as exc:
            errors.update(exc.fields)
            continue
        found[column] = clean
    if errors:
        raise ValidationFailed("invalid task", fields=errors)
    return found


def _clean(conn: Connection, acc: Access, key: str, value: Any) -> tuple[str, Any]:
    if key == "title":
        return "title", clean_name(value, "title")
    if key == "status":
        if value not in STATUSES:
            raise ValidationFailed.single("status", "must be open or done")
        return "status", value
    if key == "due":
        return "due_date", _date(value)
    return "assignee_id", _assignee(conn, acc, value)


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationFailed.single("due", "must be a date like 2026-12-31")


def _assignee(conn: Connection, acc: Access, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed.single("assignee", "must be the user id of a member")
    member = conn.execute(
        select(M.c.role).where(M.c.workspace_id == acc.workspace_id, M.c.user_id == value)
    ).first()
    if member is None:
        raise ValidationFailed.single("assignee", "is not a member of this workspace")
    if member.role == "viewer":
        raise ValidationFailed.single("assignee", "is a viewer, who cannot work on tasks")
    return value


def _row(conn: Connection, acc: Access, task_id: int, *, lock: bool = False) -> Any:
    query = select(T).where(T.c.id == task_id, T.c.workspace_id == acc.workspace_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("task not found")
    return row


def _history(conn: Connection, acc: Access, row: Any, action: str, old: Any, new: Any) -> None:
    entry = activity.Entry(row["record_id"], action, [activity.change("task", old, new)])
    activity.write(conn, acc.principal, acc.workspace_id, row["record_type_id"], [entry])


def _notify(conn: Connection, acc: Access, row: Any, previous: int | None) -> None:
    """Tell a member a task became theirs (not on every later change)."""
    if row["assignee_id"] is None or row["assignee_id"] == previous:
        return
    notifications.notify(
        conn,
        acc,
        "assigned",
        [row["assignee_id"]],
        record_type_id=row["record_type_id"],
        record_id=row["record_id"],
        task_id=row["id"],
        excerpt=row["title"],
    )
