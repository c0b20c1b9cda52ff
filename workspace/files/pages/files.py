"""File pages: upload to a record (a plain multipart form, drag and drop on top), download,
delete and restore. Every answer to a form is a redirect back to the record's files."""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Stream

from workspace.access import workspaces
from workspace.errors import NotFound, PermissionDenied, WorkspaceError
from workspace.files import files
from workspace.files.files import Incoming
from workspace.principal import Principal
from workspace.records.pages import record_responses as respond
from workspace.records.pages.record_views import record_url
from workspace.runtime import Runtime
from workspace.schema.definitions import open_type
from workspace.web.file_transfer import UploadLimit, download_response, read_uploads
from workspace.web.session import RuntimeDep, UserDep

RECORD = "/t/{type_id:int}/r/{record_id:int}"
FILE = "/files/{file_id:int}"
FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")


class FilePages(Controller):
    path = "/w/{workspace_id:int}"

    @post(
        RECORD + "/files",
        status_code=303,
        request_max_body_size=None,  # UploadLimit applies max_file_bytes instead
        middleware=[UploadLimit],
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
    ) -> Response[Any]:
        """Store the chosen files; a refused upload shows the record page with the reason."""
        incoming, form = await read_uploads(request)
        args = (runtime, user.principal, workspace_id, type_id, record_id, incoming, form)
        try:
            await anyio.to_thread.run_sync(_upload, *args)
        except (NotFound, PermissionDenied):
            raise
        except WorkspaceError as exc:
            return await anyio.to_thread.run_sync(_refused, runtime, user, request, exc)
        key = form.get("field")
        anchor = f"#field-{key}" if key and FIELD_KEY.fullmatch(key) else "#files"
        return Redirect(record_url(workspace_id, type_id, record_id) + anchor, status_code=303)

    @get(FILE, sync_to_thread=True)
    def download(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, file_id: int
    ) -> Stream:
        """The file itself (what the record page and the timeline link to)."""
        acc = workspaces.access(runtime, user.principal, workspace_id)
        return download_response(files.open_file(runtime, acc, file_id))

    @post(FILE + "/delete", sync_to_thread=True, status_code=303)
    def delete(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, file_id: int
    ) -> Redirect:
        acc = workspaces.access(runtime, user.principal, workspace_id)
        return _back(files.delete_file(runtime, acc, file_id))

    @post(FILE + "/restore", sync_to_thread=True, status_code=303)
    def restore(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, file_id: int
    ) -> Redirect:
        acc = workspaces.access(runtime, user.principal, workspace_id)
        return _back(files.restore_file(runtime, acc, file_id))


def _upload(
    runtime: Runtime,
    principal: Principal,
    workspace_id: int,
    type_id: int,
    record_id: int,
    incoming: list[Incoming],
    form: dict[str, str],
) -> None:
    acc, rt = open_type(runtime, principal, workspace_id, type_id)
    files.upload(runtime, acc, rt, record_id, incoming, field_key=form.get("field") or None)


def _refused(
    runtime: Runtime, user: Any, request: Request[Any, Any, Any], exc: WorkspaceError
) -> Response[Any]:
    params = request.path_params
    return respond.record_page(
        runtime,
        user,
        params["workspace_id"],
        params["type_id"],
        params["record_id"],
        problem=exc.message,
        status=exc.status,
    )


def _back(file: dict[str, Any]) -> Redirect:
    url = record_url(file["workspace"], file["record_type"], file["record"])
    anchor = "#files" if file["field"] is None else f"#file-field-{file['field']}"
    return Redirect(url + anchor, status_code=303)
