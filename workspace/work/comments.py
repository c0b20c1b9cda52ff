"""Comments on records: plain text with light formatting, @mentions that notify members.

A comment's text is stored as typed; the web layer formats it when shown (escaping first).
Adding, editing and deleting each write an activity entry with the text, so the record's
history keeps every version, including the text of a deleted comment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from workspace import activity
from workspace import models as m
from workspace.access import workspaces
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import BadRequest, NotFound, PermissionDenied, ValidationFailed
from workspace.principal import Access
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.work import mentions, notifications

C = m.comments
LONGEST = 10_000
PAGE, PAGE_MAX = 100, 500


def clean_body(body: Any) -> str:
    """The text to store: line ends unified, surrounding blank space dropped."""
    if not isinstance(body, str):
        raise ValidationFailed.single("body", "must be text")
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationFailed.single("body", "must not be empty")
    if len(text) > LONGEST:
        raise ValidationFailed.single("body", f"must be at most {LONGEST:,} characters")
    return text


def add(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    body: Any,
    *,
    after: Callable[[Connection], None] | None = None,
) -> dict[str, Any]:
    """Comment on a live record; every member it mentions is notified. ``after`` writes in
    the same transaction (an automation marking its step done)."""
    acc.require("member")
    text = clean_body(body)
    records.get(runtime, acc, rt, record_id)  # 404 for a missing or deleted record
    people = mentions.directory(workspaces.list_members(runtime, acc))
    row = {
        "workspace_id": acc.workspace_id,
        "record_type_id": rt.id,
        "record_id": record_id,
        "author_id": acc.user_id,
        "body": text,
        "created_at": utcnow(),
        "edited_at": None,
    }
    with transaction(runtime.control, write=True) as conn:
        row["id"] = inserted_id(conn.execute(insert(C).values(row)))
        _history(conn, acc, row, "comment_added", None, _snapshot(row))
        _notify(conn, acc, row, mentions.mentioned(text, people))
        if after is not None:
            after(conn)
    return _public(row, people)


def get(runtime: Runtime, acc: Access, comment_id: int) -> dict[str, Any]:
    people = mentions.directory(workspaces.list_members(runtime, acc))
    with transaction(runtime.control) as conn:
        return _public(_row(conn, acc, comment_id), people)


def list_for_record(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    *,
    limit: int = PAGE,
    after: int | None = None,
) -> dict[str, Any]:
    """A page of the record's comments, oldest first (a merge brings the loser's along);
    ``next_after`` pages on, so a record with thousands of comments is never read at once."""
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequest(f"limit: must be between 1 and {PAGE_MAX}")
    query = (
        select(C)
        .where(
            C.c.workspace_id == acc.workspace_id,
            C.c.record_type_id == rt.id,
            C.c.record_id == record_id,
        )
        .order_by(C.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(C.c.id > after)
    people = mentions.directory(workspaces.list_members(runtime, acc))
    with transaction(runtime.control) as conn:
        rows = list(conn.execute(query).mappings())
    items = [_public(r, people) for r in rows[:limit]]
    return {"items": items, "next_after": items[-1]["id"] if len(rows) > limit else None}


def by_ids(runtime: Runtime, acc: Access, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Comments as they are now, for the timeline; deleted ones are missing."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(C).where(C.c.workspace_id == acc.workspace_id, C.c.id.in_(wanted))
    with transaction(runtime.control) as conn:
        return {r["id"]: _public(r, {}) for r in conn.execute(query).mappings()}


def edit(runtime: Runtime, acc: Access, comment_id: int, body: Any) -> dict[str, Any]:
    """Change one's own comment. Members it newly mentions are notified; the old text stays
    in the activity history."""
    acc.require("member")
    text = clean_body(body)
    people = mentions.directory(workspaces.list_members(runtime, acc))
    with transaction(runtime.control, write=True) as conn:
        row = dict(_row(conn, acc, comment_id, lock=True))
        if row["author_id"] != acc.user_id:
            raise PermissionDenied("only its author can edit a comment")
        if text == row["body"]:
            return _public(row, people)
        before = _snapshot(row)
        row.update(body=text, edited_at=utcnow())
        conn.execute(
            update(C).where(C.c.id == comment_id).values(body=text, edited_at=row["edited_at"])
        )
        _history(conn, acc, row, "comment_edited", before, _snapshot(row))
        already = set(mentions.mentioned(before["body"], people))
        _notify(conn, acc, row, [u for u in mentions.mentioned(text, people) if u not in already])
    return _public(row, people)


def delete_comment(runtime: Runtime, acc: Access, comment_id: int) -> dict[str, Any]:
    """Delete one's own comment (admins may delete any); its text stays in the history."""
    acc.require("member")
    with transaction(runtime.control, write=True) as conn:
        row = _row(conn, acc, comment_id, lock=True)
        if row["author_id"] != acc.user_id and not acc.can("admin"):
            raise PermissionDenied("only its author or an admin can delete a comment")
        conn.execute(delete(C).where(C.c.id == comment_id))
        _history(conn, acc, row, "comment_deleted", _snapshot(row), None)
    return _public(row, {})


def _row(conn: Connection, acc: Access, comment_id: int, *, lock: bool = False) -> Any:
    query = select(C).where(C.c.id == comment_id, C.c.workspace_id == acc.workspace_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("comment not found")
    return row


def _snapshot(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "body": row["body"]}


def _history(conn: Connection, acc: Access, row: Any, action: str, old: Any, new: Any) -> None:
    entry = activity.Entry(row["record_id"], action, [activity.change("comment", old, new)])
    activity.write(conn, acc.principal, acc.workspace_id, row["record_type_id"], [entry])


def _notify(conn: Connection, acc: Access, row: Any, user_ids: list[int]) -> None:
    notifications.notify(
        conn,
        acc,
        "mention",
        user_ids,
        record_type_id=row["record_type_id"],
        record_id=row["record_id"],
        comment_id=row["id"],
        excerpt=row["body"],
    )


def _public(row: Any, people: dict[str, mentions.Member]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "record_type": row["record_type_id"],
        "record": row["record_id"],
        "author": row["author_id"],
        "body": row["body"],
        "mentions": mentions.mentioned(row["body"], people) if people else [],
        "created_at": row["created_at"],
        "edited_at": row["edited_at"],
    }
