"""A record type's field ownership map (with its CSV), taking a field over from its tool,
and retiring or restoring the type."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Response, Template

from workspace.connectors import ownership_map, retire
from workspace.connectors.pages.replies import see_other, status_of
from workspace.errors import WorkspaceError
from workspace.schema.definitions import open_type
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
MAP = "/w/{workspace_id:int}/t/{type_id:int}/ownership"
NOTICES = {
    "taken": "The workspace owns the field now and pushes it to the tool.",
    "retired": "Retired: read-only everywhere, still searchable and exportable.",
    "restored": "Restored: the record type takes changes again.",
}


class OwnershipPages(Controller):
    path = "/"

    @get(MAP, sync_to_thread=True)
    def show(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        done: str | None = None,
    ) -> Template:
        return _map(runtime, user, workspace_id, type_id, notice=NOTICES.get(done or ""))

    @get(MAP + ".csv", sync_to_thread=True)
    def download(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int
    ) -> Response[str]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        text = ownership_map.as_csv(ownership_map.build(runtime, acc, rt))
        disposition = f'attachment; filename="ownership-{type_id}.csv"'
        return Response(
            text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition}
        )

    @get(MAP + "/{key:str}/take-over", sync_to_thread=True)
    def preview(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int, key: str
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        _, rt = open_type(runtime, user.principal, workspace_id, type_id)
        context.update(current_type=rt.id, rt=rt, preview=retire.preview(runtime, acc, rt, key))
        return Template("ownership/take_over.html", context=context)

    @post(MAP + "/{key:str}/take-over", sync_to_thread=True)
    def take_over(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        key: str,
        data: Form,
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        try:
            retire.take_over(runtime, acc, rt, key, str(data.get("winner", "workspace")))
        except WorkspaceError as exc:
            return _map(runtime, user, workspace_id, type_id, error=exc)
        return see_other(f"/w/{workspace_id}/t/{type_id}/ownership?done=taken")

    @post(MAP + "/retire", sync_to_thread=True)
    def retire_type(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int, data: Form
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        raw = str(data.get("successor", ""))
        try:
            retire.retire_type(
                runtime, acc, rt, str(data.get("note", "")), int(raw) if raw.isdigit() else None
            )
        except WorkspaceError as exc:
            return _map(runtime, user, workspace_id, type_id, error=exc)
        return see_other(f"/w/{workspace_id}/t/{type_id}/ownership?done=retired")

    @post(MAP + "/restore", sync_to_thread=True)
    def restore_type(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        try:
            retire.restore_type(runtime, acc, rt)
        except WorkspaceError as exc:
            return _map(runtime, user, workspace_id, type_id, error=exc)
        return see_other(f"/w/{workspace_id}/t/{type_id}/ownership?done=restored")


def _map(
    runtime: Any,
    user: Any,
    workspace_id: int,
    type_id: int,
    *,
    notice: str | None = None,
    error: WorkspaceError | None = None,
) -> Template:
    acc, context = workspace_context(runtime, user, workspace_id)
    _, rt = open_type(runtime, user.principal, workspace_id, type_id)
    found = ownership_map.build(runtime, acc, rt)
    sources = sorted({s for f in found["fields"] for s in f["changes"]})
    tools = sorted({t for f in found["fields"] for t in f["differs"]})
    context.update(
        current_type=rt.id,
        rt=rt,
        found=found,
        sources=sources,
        tools=tools,
        notice=notice,
        error=error.message if error else None,
    )
    return Template("ownership/map.html", context=context, status_code=status_of(error))
