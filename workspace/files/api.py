"""Files on records: multipart upload, list, metadata, download, delete and restore."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Controller, Request, delete, get, post
from litestar.response import Stream

from workspace.access import workspaces
from workspace.files import files
from workspace.files.files import Incoming
from workspace.principal import Principal
from workspace.runtime import Runtime
from workspace.schema.definitions import open_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.file_transfer import UploadLimit, download_response, read_uploads

RECORD_FILES = "/types/{record_type_id:int}/records/{record_id:int}/files"
FILE = "/files/{file_id:int}"


class FileController(Controller):
    path = "/workspaces/{workspace_id:int}"
    tags = ["files"]

    @post(
        RECORD_FILES,
        status_code=201,
        request_max_body_size=None,  # UploadLimit applies max_file_bytes instead
        middleware=[UploadLimit],
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        field: str | None = None,
    ) -> dict[str, Any]:
        """``multipart/form-data`` with one or more parts named ``files`` (at most 10, each
        at most ``WORKSPACE_MAX_FILE_BYTES``). ``field`` attaches them through a file field
        instead of as general attachments. 201 with the stored files."""
        incoming, _ = await read_uploads(request)
        args = (runtime, principal, workspace_id, record_type_id, record_id, incoming, field)
        return {"items": await anyio.to_thread.run_sync(_upload, *args)}

    @get(RECORD_FILES, sync_to_thread=True)
    def list_files(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        deleted: bool = False,
    ) -> dict[str, Any]:
        """The record's files; ``deleted=true`` lists those deleted in the last 30 days."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return {"items": files.list_files(runtime, acc, rt, record_id, deleted=deleted)}

    @get(FILE, sync_to_thread=True)
    def get_file(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, file_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return files.get_file(runtime, acc, file_id)

    @get(FILE + "/content", sync_to_thread=True)
    def download(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, file_id: int
    ) -> Stream:
        """The bytes, checked against the file's SHA-256 before any is sent (502 if the
        stored copy is damaged). Raster images are inline, everything else an attachment."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return download_response(files.open_file(runtime, acc, file_id))

    @delete(FILE, sync_to_thread=True, status_code=200)
    def delete_file(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, file_id: int
    ) -> dict[str, Any]:
        """Soft delete: restorable for 30 days (``POST .../restore``)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return files.delete_file(runtime, acc, file_id)

    @post(FILE + "/restore", sync_to_thread=True, status_code=200)
    def restore_file(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, file_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return files.restore_file(runtime, acc, file_id)


def _upload(
    runtime: Runtime,
    principal: Principal,
    workspace_id: int,
    record_type_id: int,
    record_id: int,
    incoming: list[Incoming],
    field: str | None,
) -> list[dict[str, Any]]:
    acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
    return files.upload(runtime, acc, rt, record_id, incoming, field_key=field)
