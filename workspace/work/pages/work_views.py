"""What the comment box and the tasks card of a record page show, and the small pages and
fragments around them.

The record page includes ``record/_comments.html`` and ``record/_tasks.html``; their context
lives under ``work``. htmx swaps answer with the same templates, so a page and a fragment
never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from litestar.response import Template

from workspace.access import workspaces
from workspace.access.sessions import SessionUser
from workspace.principal import Access
from workspace.records import labels
from workspace.records.pages.record_timeline import timeline
from workspace.records.pages.record_timeline_work import CommentView
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.web.comment_text import render
from workspace.web.nav import workspace_context
from workspace.work import mentions, tasks


def work_context(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    **state: Any,
) -> dict[str, Any]:
    """``work`` for the record page: the record's tasks, who they can go to, the mention
    handles; ``state`` carries a refused form back (typed values, errors, the task being
    edited)."""
    members = workspaces.list_members(runtime, acc)
    names = member_names(members)
    return {
        "work": {
            "tasks": [
                task_view(t, names) for t in tasks.for_record(runtime, acc, rt.id, record_id)
            ],
            "assignees": [
                (m["user_id"], names[m["user_id"]]) for m in members if m["role"] != "viewer"
            ],
            "handles": mentions.handles(members),
            "can_work": acc.can("member"),
            "editing": None,
            "errors": {},
            "typed": {},
            **state,
        }
    }


def member_names(members: list[dict[str, Any]]) -> dict[int, str]:
    return {m["user_id"]: m["name"] or m["email"] for m in members}


def task_view(task: Mapping[str, Any], names: Mapping[int, str]) -> dict[str, Any]:
    """A task with its assignee's name and whether it is late (open past its due date)."""
    due: dt.date | None = task["due"]
    return {
        **task,
        "assignee_name": names.get(task["assignee"]) if task["assignee"] else None,
        "done": task["status"] == "done",
        "overdue": task["status"] == "open" and due is not None and due < dt.date.today(),
    }


def comment_view(runtime: Runtime, acc: Access, comment: Mapping[str, Any]) -> CommentView:
    """A comment as its timeline entry shows it, with the buttons the viewer may use."""
    people = mentions.directory(workspaces.list_members(runtime, acc))
    mine = comment["author"] == acc.user_id and acc.can("member")
    return CommentView(
        comment["id"],
        render(comment["body"], people),
        edited=comment["edited_at"] is not None,
        can_edit=mine,
        can_delete=mine or acc.can("admin"),
    )


def record_bits(runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int) -> dict[str, Any]:
    """What every fragment of the record page refers to, and the first page of its timeline
    (refreshed with each change so the new entry shows)."""
    names = member_names(workspaces.list_members(runtime, acc))
    return {
        "ws_id": acc.workspace_id,
        "rt": rt,
        "record_id": record_id,
        "can_edit": acc.can("member"),
        "timeline": timeline(runtime, acc, rt, record_id, names),
    }


def fragment(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    name: str,
    *,
    status: int = 200,
    **state: Any,
) -> Template:
    """One of the record page's swaps (``record/_<name>.html``), with the timeline."""
    context = {
        **record_bits(runtime, acc, rt, record_id),
        **work_context(runtime, acc, rt, record_id, **state),
    }
    return Template(f"record/_{name}.html", context=context, status_code=status)


def form_page(
    runtime: Runtime,
    user: SessionUser,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    template: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
    **extra: Any,
) -> Template:
    """A comment or task form as a page of its own: editing, or a refused post (``errors``
    and what was ``typed``), without JavaScript."""
    _, context = workspace_context(runtime, user, acc.workspace_id)
    record = {"id": record_id}
    title = labels.labels(runtime, acc, rt, [record_id]).get(record_id, f"#{record_id}")
    context.update(
        work_context(runtime, acc, rt, record_id, errors=errors or {}, typed=typed or {}),
        current_type=rt.id,
        ws_id=acc.workspace_id,
        rt=rt,
        record_id=record_id,
        record=record,
        title=title,
        **extra,
    )
    return Template(f"record/{template}.html", context=context, status_code=status)
