"""A member's own work across the workspace: "My tasks" and the notifications page behind
the bell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from workspace.access import workspaces
from workspace.access.sessions import SessionUser
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.records.pages.record_timeline import ago
from workspace.records.pages.record_views import record_url
from workspace.runtime import Runtime
from workspace.schema.definitions import open_type
from workspace.web.comment_text import render
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep
from workspace.web.templating import when
from workspace.work import mentions, notifications, tasks
from workspace.work.pages.work_views import member_names, task_view

DONE_SHOWN = 50


class InboxPages(Controller):
    path = "/w/{workspace_id:int}"

    @get("/tasks", sync_to_thread=True)
    def my_tasks(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        """Open tasks given to me, overdue first then by due date; the latest done ones."""
        acc, context = workspace_context(runtime, user, workspace_id)
        names = member_names(workspaces.list_members(runtime, acc))
        open_ = tasks.assigned_to_me(runtime, acc)
        done = tasks.assigned_to_me(runtime, acc, status="done", limit=DONE_SHOWN)
        where = _records(runtime, user, acc, [*open_, *done])
        context.update(
            open_tasks=[{**task_view(t, names), **where[_ref(t)]} for t in open_],
            done_tasks=[{**task_view(t, names), **where[_ref(t)]} for t in done],
            section="tasks",
        )
        return Template("work/my_tasks.html", context=context)

    @get("/notifications", sync_to_thread=True)
    def notifications_page(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, before: int | None = None
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        page = notifications.list_notifications(runtime, acc, before=before)
        members = workspaces.list_members(runtime, acc)
        names = member_names(members)
        mine = [m.handle for m in mentions.handles(members) if m.user_id == acc.user_id]
        people = mentions.directory(members)
        where = _records(runtime, user, acc, page["items"])
        items = [
            {
                **n,
                **where[_ref(n)],
                # A mention's excerpt is comment text: shown as the comment shows it, so
                # its ** and @handles read as bold and names, not as raw markers.
                "excerpt": render(n["excerpt"], people) if n["kind"] == "mention" else n["excerpt"],
                "actor_name": names.get(n["actor"], "A former member"),
                "ago": ago(n["created_at"]),
                "exact": when(n["created_at"]),
            }
            for n in page["items"]
        ]
        context.update(
            items=items,
            next_before=page["next_before"],
            section="notifications",
            handle=mine[0] if mine else None,
        )
        return Template("work/notifications.html", context=context)

    @post("/notifications/{notification_id:int}/open", sync_to_thread=True, status_code=303)
    def open_notification(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, notification_id: int
    ) -> Redirect:
        """Mark it read and go to what it is about."""
        acc = workspaces.access(runtime, user.principal, workspace_id)
        note = notifications.get(runtime, acc, notification_id)
        notifications.mark_read(runtime, acc, [notification_id])
        return Redirect(_link(acc.workspace_id, note), status_code=303)

    @post("/notifications/read", sync_to_thread=True, status_code=303)
    def mark_all_read(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Redirect:
        acc = workspaces.access(runtime, user.principal, workspace_id)
        notifications.mark_read(runtime, acc)
        return Redirect(f"/w/{workspace_id}/notifications", status_code=303)


def _ref(item: Mapping[str, Any]) -> tuple[int, int]:
    return int(item["record_type"]), int(item["record"])


def _link(workspace_id: int, item: Mapping[str, Any]) -> str:
    url = record_url(workspace_id, item["record_type"], item["record"])
    if item.get("comment"):
        return f"{url}#comment-{item['comment']}"
    if item.get("task"):
        return f"{url}#task-{item['task']}"
    return url


def _records(
    runtime: Runtime, user: SessionUser, acc: Access, items: Iterable[Mapping[str, Any]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """For each (record type, record) the items name: the type's name, the record's title
    and the link (``None`` when the record type is gone)."""
    by_type: dict[int, set[int]] = {}
    for item in items:
        by_type.setdefault(int(item["record_type"]), set()).add(int(item["record"]))
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for type_id, ids in by_type.items():
        try:
            _, rt = open_type(runtime, user.principal, acc.workspace_id, type_id)
        except NotFound:
            for record_id in ids:
                found[type_id, record_id] = {"type_name": None, "label": "a deleted record"}
            continue
        labels = record_labels.labels(runtime, acc, rt, ids)
        for record_id in ids:
            found[type_id, record_id] = {
                "type_name": rt.name,
                "label": labels.get(record_id, f"#{record_id}"),
            }
    return {
        key: {**value, "url": _link(acc.workspace_id, {"record_type": key[0], "record": key[1]})}
        for key, value in found.items()
    }
