"""Comment, task and file entries of a record's timeline, as people read them.

Their activity entries hold one change each: ``comment`` (``{"id", "body"}``), ``task``
(``{"id", "title", "assignee", "due", "status"}``) or, written by the files service, ``file``
(``{"id", "name", "size", "content_type"}``); the old side is empty when something was added
and the new side when it was deleted. A comment is shown as it is now (formatted, with its
edit and delete buttons); what it said before stays in its "edited" and "deleted" entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from workspace.access import workspaces
from workspace.files.content import human_size
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.web.comment_text import render
from workspace.work import comments, mentions

LONGEST = 240
VERBS = {
    "comment_added": "commented",
    "comment_edited": "edited a comment",
    "comment_deleted": "deleted a comment",
    "task_added": "added a task",
    "task_changed": "changed a task",
    "file_added": "attached a file",
    "file_deleted": "deleted a file",
    "file_restored": "restored a file",
}
TASK_PARTS = (("title", "Title"), ("assignee", "Assignee"), ("due", "Due"))


@dataclass(frozen=True)
class Change:
    field: str
    old: str | None
    new: str | None
    #: Why a restrictive field changed: a person's reason for loosening, or where a
    #: propagated value came from.
    reason: str | None = None


@dataclass(frozen=True)
class CommentView:
    id: int
    #: The comment as it reads now; ``None`` once it was deleted.
    html: Markup | None
    edited: bool = False
    can_edit: bool = False
    can_delete: bool = False
    #: What a deleted comment said (its "deleted" entry keeps it).
    deleted_text: str | None = None


@dataclass(frozen=True)
class TaskView:
    id: int
    title: str
    assignee: str | None
    due: str | None
    done: bool
    overdue: bool


@dataclass(frozen=True)
class FileView:
    id: int
    name: str
    size: str
    url: str | None
    #: The file field it belongs to (its name now), None for a general attachment.
    field: str | None = None


@dataclass(frozen=True)
class WorkView:
    kind: str
    verb: str
    changes: list[Change] = field(default_factory=list)
    comment: CommentView | None = None
    task: TaskView | None = None
    file: FileView | None = None


def views(
    runtime: Runtime,
    acc: Access,
    items: Iterable[Mapping[str, Any]],
    members: Mapping[int, str],
    field_names: Mapping[int, str],
) -> dict[int, WorkView]:
    """The view of every comment, task and file entry among ``items``, by entry id
    (``field_names``: the record type's field names by id, for files of a file field)."""
    mine = [i for i in items if i["action"] in VERBS and i["changes"]]
    added = [_side(i) for i in mine if i["action"] == "comment_added"]
    current = comments.by_ids(runtime, acc, [c["id"] for c in added if c])
    people = mentions.directory(workspaces.list_members(runtime, acc)) if current else {}
    found = {}
    for item in mine:
        kind = item["action"].split("_", 1)[0]
        if kind == "comment":
            found[item["id"]] = _comment(acc, item, current, people)
        elif kind == "task":
            found[item["id"]] = _task(item, members)
        else:
            found[item["id"]] = _file(acc, item, field_names)
    return found


def size_label(size: Any) -> str:
    """The size an activity entry recorded, or nothing when it recorded none."""
    if not isinstance(size, int) or isinstance(size, bool):
        return ""
    return human_size(size)


def _side(item: Mapping[str, Any]) -> dict[str, Any]:
    """The thing the entry is about: its new side, or the old one for a deletion."""
    change = item["changes"][0]
    value = change.get("new") if change.get("new") is not None else change.get("old")
    return value if isinstance(value, dict) else {}


def _comment(
    acc: Access,
    item: Mapping[str, Any],
    current: Mapping[int, dict[str, Any]],
    people: Mapping[str, mentions.Member],
) -> WorkView:
    change = item["changes"][0]
    verb = VERBS[item["action"]]
    if item["action"] == "comment_edited":
        old, new = change.get("old") or {}, change.get("new") or {}
        return WorkView(
            "comment", verb, [Change("Comment", _short(old.get("body")), _short(new.get("body")))]
        )
    if item["action"] == "comment_deleted":
        old = change.get("old") or {}
        view = CommentView(int(old.get("id", 0)), None, deleted_text=old.get("body"))
        return WorkView("comment", verb, comment=view)
    comment_id = int(_side(item).get("id", 0))
    now = current.get(comment_id)
    if now is None:
        return WorkView("comment", verb, comment=CommentView(comment_id, None))
    mine = now["author"] == acc.user_id and acc.can("member")
    view = CommentView(
        comment_id,
        render(now["body"], people),
        edited=now["edited_at"] is not None,
        can_edit=mine,
        can_delete=mine or acc.can("admin"),
    )
    return WorkView("comment", verb, comment=view)


def _task(item: Mapping[str, Any], members: Mapping[int, str]) -> WorkView:
    change = item["changes"][0]
    old, new = change.get("old") or {}, change.get("new") or {}
    task = new or old
    verb = VERBS[item["action"]]
    if old and new and old.get("status") != new.get("status"):
        verb = "completed a task" if new.get("status") == "done" else "reopened a task"
    changes = []
    if old and new:
        for key, label in TASK_PARTS:
            if old.get(key) != new.get(key):
                before, after = old.get(key), new.get(key)
                if key == "assignee":
                    before, after = _member(before, members), _member(after, members)
                changes.append(Change(label, before, after))
    due = task.get("due")
    due = due if isinstance(due, str) else None
    is_open = task.get("status") == "open"
    view = TaskView(
        id=int(task.get("id", 0)),
        title=str(task.get("title", "")),
        assignee=_member(task.get("assignee"), members),
        due=due,
        done=task.get("status") == "done",
        overdue=is_open and due is not None and due < dt.date.today().isoformat(),
    )
    return WorkView("task", verb, changes, task=view)


def _file(acc: Access, item: Mapping[str, Any], field_names: Mapping[int, str]) -> WorkView:
    meta = _side(item)
    file_id = int(meta.get("id", 0))
    gone = item["action"] == "file_deleted"
    view = FileView(
        id=file_id,
        name=str(meta.get("name", "a file")),
        size=size_label(meta.get("size")),
        url=None if gone else f"/w/{acc.workspace_id}/files/{file_id}",
        field=field_names.get(meta.get("field", 0)),
    )
    return WorkView("file", VERBS[item["action"]], file=view)


def _member(user_id: Any, members: Mapping[int, str]) -> str | None:
    if user_id is None:
        return None
    return members.get(user_id, "a former member")


def _short(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    return text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"
