"""A move of a workspace's records on the data database page (admins): its progress (polled
by htmx, or a refresh link without JavaScript), retry or cancel, and retiring the old copy a
finished move left. Starting one is a button of the page's form
(:mod:`workspace.databases.pages.database`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, get, post
from litestar.response import Response, Template

from workspace.access.sessions import SessionUser
from workspace.databases import connections
from workspace.databases import moves as data_moves
from workspace.databases.pages.database import PAGE, back, base_url, render, under_way
from workspace.errors import WorkspaceError
from workspace.runtime import Runtime
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

MOVE = PAGE + "/moves/{move_id:int}"


class DatabaseMovePages(Controller):
    """Posts redirect (303) to the page, as the page's own forms do."""

    path = "/"

    @get(PAGE + "/move", sync_to_thread=True)
    def progress(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        """The progress box alone, polled by htmx while a move runs. Once it has stopped,
        the browser loads the whole page again (without the notice of the post that started
        it): where the records live, the old copy and the form change with it."""
        acc, context = workspace_context(runtime, user, workspace_id)
        move = connections.overview(runtime, acc)["move"]
        moving = under_way(move)
        context.update(move=move, moving=moving)
        headers = None if moving else {"HX-Redirect": base_url(workspace_id)}
        return Template("database/_move.html", context=context, headers=headers)

    @post(MOVE + "/retry", sync_to_thread=True)
    def retry(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, move_id: int
    ) -> Response[Any]:
        return _act(runtime, user, workspace_id, "retried", data_moves.retry, move_id)

    @post(MOVE + "/cancel", sync_to_thread=True)
    def cancel(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, move_id: int
    ) -> Response[Any]:
        return _act(runtime, user, workspace_id, "cancelled", data_moves.cancel, move_id)

    @post(PAGE + "/old-copy/retire", sync_to_thread=True)
    def retire(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Response[Any]:
        return _act(runtime, user, workspace_id, "retired", data_moves.retire_old_copy)


def _act(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    done: str,
    action: Callable[..., Any],
    *args: Any,
) -> Response[Any]:
    acc, _ = workspace_context(runtime, user, workspace_id)
    try:
        action(runtime, acc, *args)
    except WorkspaceError as exc:
        return render(runtime, user, workspace_id, error=exc)
    return back(workspace_id, done)
