"""CSV imports for API clients: upload a file, confirm the column mapping, run, read the
outcome of every row."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import JSONBody

from workspace.errors import ValidationFailed
from workspace.imports import imports
from workspace.schema.definitions import open_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import ImportRunIn


async def read_csv_upload(request: Request[Any, Any, Any]) -> tuple[str, bytes]:
    """The file of an upload: the ``file`` part of a multipart form, or the whole body (as
    ``curl --data-binary @customers.csv`` sends it) named by the ``name`` query parameter."""
    if request.content_type[0] == "multipart/form-data":
        form = await request.form()
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            raise ValidationFailed.single("file", "choose a CSV file to upload")
        try:
            return part.filename, await part.read()
        finally:
            await part.close()
    return request.query_params.get("name") or "upload.csv", await request.body()


class ImportController(Controller):
    path = "/workspaces/{workspace_id:int}/types/{record_type_id:int}/imports"
    tags = ["imports"]

    @post("/", status_code=201)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
    ) -> dict[str, Any]:
        """A CSV file (UTF-8 or Windows-1252; comma, semicolon or tab separated; first row
        names the columns), as the raw body or the ``file`` part of a multipart form. Its
        rows are stored as read; nothing is written until ``run``. 201 with the suggested
        ``mapping`` (column number -> field key)."""
        name, data = await read_csv_upload(request)
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return imports.create_import(runtime, acc, rt, name, data)

    @post("/{import_id:int}/run", sync_to_thread=True, status_code=200)
    def run(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        import_id: int,
        data: JSONBody[ImportRunIn],
    ) -> dict[str, Any]:
        """``{"mapping": {"0": "email", "2": "name"}, "policy": "fill_empty"}``: write the
        pending rows. ``policy`` is how a row matching an existing record by a dedupe rule
        is treated: rules (the record type's own), create, review, update, fill_empty or
        refuse. ``match_on`` (optional, a field key) matches rows to records on file by that
        field's value, as the field type stores it, with or without dedupe rules; its rows
        follow the policy update, fill_empty or refuse. Answers with the rows counted by
        outcome; running again finishes a run that was cut short."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return imports.run_import(
            runtime, acc, rt, import_id, data.mapping, data.policy, data.match_on
        )

    @get("/", sync_to_thread=True)
    def list_imports(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> list[dict[str, Any]]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return imports.list_imports(runtime, acc, rt)

    @get("/{import_id:int}", sync_to_thread=True)
    def get_import(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        import_id: int,
    ) -> dict[str, Any]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return imports.get_import(runtime, acc, rt, import_id)

    @get("/{import_id:int}/rows", sync_to_thread=True)
    def rows(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        import_id: int,
        outcome: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> dict[str, Any]:
        """The rows as read from the file with their outcome, the record each became or
        updated, and for rejected rows the reason per field. ``after`` (a row number) pages
        on to ``next_after``."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return imports.import_rows(
            runtime, acc, rt, import_id, outcome=outcome, after=after, limit=limit
        )
