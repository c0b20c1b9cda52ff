"""Comments and tasks on the record page: add, edit, delete, complete.

Every form is a plain post answered with a redirect, so it works without JavaScript; htmx
sends the same posts and gets the changed card back with the timeline swapped out of band,
so the new entry shows at once. A refused post shows the form again with what was typed and
why (as a fragment, or without JavaScript as a small page of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access import workspaces
from workspace.access.sessions import SessionUser
from workspace.errors import ValidationFailed
from workspace.principal import Access
from workspace.records.pages.record_views import record_url
from workspace.runtime import Runtime
from workspace.schema.definitions import open_type
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.web.htmx import is_htmx
from workspace.web.session import RuntimeDep, UserDep
from workspace.work import comments, mentions, tasks
from workspace.work.pages.work_views import comment_view, form_page, fragment, record_bits

Form = URLEncodedBody[dict[str, Any]]
HtmxRequest = Request[Any, Any, Any]
RECORD = "/t/{type_id:int}/r/{record_id:int}"
TASK_INPUTS = ("title", "assignee", "due", "status")


class WorkPages(Controller):
    path = "/w/{workspace_id:int}"

    # ---- comments ------------------------------------------------------------------------

    @get("/mentions", sync_to_thread=True)
    def mention_choices(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, q: str = ""
    ) -> Template:
        """The members matching what follows an ``@`` in a comment box, as the options of the
        picker that mention.js shows under it."""
        acc = workspaces.access(runtime, user.principal, workspace_id)
        found = mentions.search(workspaces.list_members(runtime, acc), q)
        return Template("work/_mention_options.html", context={"members": found, "q": q})

    @post(RECORD + "/comments", sync_to_thread=True, status_code=303)
    def add_comment(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        data: Form,
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        body = _one(data, "body")
        try:
            made = comments.add(runtime, acc, rt, record_id, body)
        except ValidationFailed as exc:
            state = {"errors": exc.fields, "typed": {"body": body}}
            if is_htmx(request):
                return fragment(runtime, acc, rt, record_id, "comments", status=exc.status, **state)
            return form_page(
                runtime, user, acc, rt, record_id, "comment_form", status=exc.status, **state
            )
        if is_htmx(request):
            return fragment(runtime, acc, rt, record_id, "comments_swap")
        url = record_url(workspace_id, type_id, record_id)
        return Redirect(f"{url}#comment-{made['id']}", status_code=303)

    @get("/comments/{comment_id:int}", sync_to_thread=True)
    def show_comment(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        comment_id: int,
    ) -> Response[Any]:
        """The comment as its timeline entry shows it (what Cancel goes back to)."""
        acc = workspaces.access(runtime, user.principal, workspace_id)
        comment = comments.get(runtime, acc, comment_id)
        if not is_htmx(request):
            url = record_url(workspace_id, comment["record_type"], comment["record"])
            return Redirect(f"{url}#comment-{comment_id}")
        context = {"ws_id": workspace_id, "c": comment_view(runtime, acc, comment)}
        return Template("record/_timeline_comment.html", context=context)

    @get("/comments/{comment_id:int}/edit", sync_to_thread=True)
    def edit_comment(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        comment_id: int,
    ) -> Template:
        acc, comment, rt = _on_record(runtime, user, workspace_id, comments.get, comment_id)
        if is_htmx(request):
            context = {"ws_id": workspace_id, "comment": comment, "error": None}
            return Template("record/_comment_edit.html", context=context)
        return form_page(runtime, user, acc, rt, comment["record"], "comment_form", comment=comment)

    @post("/comments/{comment_id:int}", sync_to_thread=True, status_code=303)
    def save_comment(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        comment_id: int,
        data: Form,
    ) -> Response[Any]:
        acc, comment, rt = _on_record(runtime, user, workspace_id, comments.get, comment_id)
        body = _one(data, "body")
        try:
            comments.edit(runtime, acc, comment_id, body)
        except ValidationFailed as exc:
            typed = {**comment, "body": body}
            if is_htmx(request):
                context = {"ws_id": workspace_id, "comment": typed, "error": exc.fields["body"]}
                return Template("record/_comment_edit.html", context=context, status_code=422)
            return form_page(
                runtime,
                user,
                acc,
                rt,
                comment["record"],
                "comment_form",
                status=exc.status,
                comment=typed,
                errors=exc.fields,
            )
        return self._back_to_timeline(request, runtime, acc, rt, comment, f"comment-{comment_id}")

    @post("/comments/{comment_id:int}/delete", sync_to_thread=True, status_code=303)
    def delete_comment(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        comment_id: int,
    ) -> Response[Any]:
        acc, comment, rt = _on_record(runtime, user, workspace_id, comments.get, comment_id)
        comments.delete_comment(runtime, acc, comment_id)
        return self._back_to_timeline(request, runtime, acc, rt, comment, "activity")

    @staticmethod
    def _back_to_timeline(
        request: HtmxRequest,
        runtime: Any,
        acc: Any,
        rt: Any,
        comment: dict[str, Any],
        anchor: str,
    ) -> Response[Any]:
        if is_htmx(request):
            context = record_bits(runtime, acc, rt, comment["record"])
            return Template("record/_timeline.html", context=context)
        url = record_url(acc.workspace_id, rt.id, comment["record"])
        return Redirect(f"{url}#{anchor}", status_code=303)

    # ---- tasks ---------------------------------------------------------------------------

    @get(RECORD + "/tasks", sync_to_thread=True)
    def show_tasks(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
    ) -> Response[Any]:
        """The tasks card (what Cancel goes back to)."""
        if not is_htmx(request):
            return Redirect(record_url(workspace_id, type_id, record_id) + "#tasks")
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        return fragment(runtime, acc, rt, record_id, "tasks")

    @post(RECORD + "/tasks", sync_to_thread=True, status_code=303)
    def add_task(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        data: Form,
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        values = _task_values(data)
        try:
            made = tasks.create(runtime, acc, rt, record_id, values)
        except ValidationFailed as exc:
            state = {"errors": exc.fields, "typed": values}
            if is_htmx(request):
                return fragment(runtime, acc, rt, record_id, "tasks", status=exc.status, **state)
            return form_page(
                runtime,
                user,
                acc,
                rt,
                record_id,
                "task_form",
                status=exc.status,
                task=None,
                **state,
            )
        if is_htmx(request):
            return fragment(runtime, acc, rt, record_id, "tasks_swap")
        url = record_url(workspace_id, type_id, record_id)
        return Redirect(f"{url}#task-{made['id']}", status_code=303)

    @get("/tasks/{task_id:int}/edit", sync_to_thread=True)
    def edit_task(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        task_id: int,
    ) -> Template:
        acc, task, rt = _on_record(runtime, user, workspace_id, tasks.get, task_id)
        acc.require("member")
        if is_htmx(request):
            return fragment(runtime, acc, rt, task["record"], "tasks", editing=task_id)
        return form_page(runtime, user, acc, rt, task["record"], "task_form", task=task)

    @post("/tasks/{task_id:int}", sync_to_thread=True, status_code=303)
    def save_task(
        self,
        request: HtmxRequest,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        task_id: int,
        data: Form,
    ) -> Response[Any]:
        """Change what the form sent (the done button sends only ``status``); ``next`` is
        where to go afterwards (My tasks, or the record)."""
        acc, task, rt = _on_record(runtime, user, workspace_id, tasks.get, task_id)
        values = _task_values(data)
        try:
            tasks.update_task(runtime, acc, task_id, values)
        except ValidationFailed as exc:
            state = {"errors": exc.fields, "typed": values, "editing": task_id}
            if is_htmx(request):
                return fragment(
                    runtime, acc, rt, task["record"], "tasks", status=exc.status, **state
                )
            return form_page(
                runtime,
                user,
                acc,
                rt,
                task["record"],
                "task_form",
                status=exc.status,
                task=task,
                errors=exc.fields,
                typed=values,
            )
        if is_htmx(request):
            return fragment(runtime, acc, rt, task["record"], "tasks_swap")
        target = _local(_one(data, "next"), workspace_id)
        url = record_url(workspace_id, rt.id, task["record"])
        return Redirect(target or f"{url}#task-{task_id}", status_code=303)


def _on_record(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    get: Callable[[Runtime, Access, int], dict[str, Any]],
    item_id: int,
) -> tuple[Access, dict[str, Any], RecordTypeDef]:
    """A comment or task (``get``), the caller's access and the record type it is on, with
    one membership check (404 for non-members, as everywhere)."""
    acc = workspaces.access(runtime, user.principal, workspace_id)
    item = get(runtime, acc, item_id)
    return acc, item, record_types.get_type(runtime, acc, item["record_type"])


def _one(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    value = value[-1] if isinstance(value, list) and value else value
    return value if isinstance(value, str) else ""


def _task_values(data: dict[str, Any]) -> dict[str, Any]:
    """The task inputs the form sent: an empty assignee or due date clears it."""
    return {key: _one(data, key) for key in TASK_INPUTS if key in data}


def _local(target: str, workspace_id: int) -> str | None:
    """``next`` only ever leads to a page of this workspace (no open redirect)."""
    prefix = f"/w/{workspace_id}/"
    if target.startswith(prefix) and "//" not in target and "\\" not in target:
        return target
    return None
