"""CSV import pages: upload a file, check which column goes to which field and what happens
to customers already on file, run, then see every row's outcome and download the rejected
rows to fix and import again. Plain form posts answered with redirects; no JavaScript."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Stream, Template

from workspace.access.sessions import SessionUser
from workspace.errors import WorkspaceError
from workspace.imports import imports, key_match
from workspace.imports.api import read_csv_upload
from workspace.principal import Access
from workspace.records.csv_cells import guard
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

BASE = "/t/{type_id:int}/imports"
ONE = BASE + "/{import_id:int}"
#: Rows of the file shown under each column while choosing its field.
SAMPLE_ROWS = 3
OUTCOME_LABELS = {
    "created": "Created",
    "updated": "Updated a record on file",
    "unchanged": "Already on file, unchanged",
    "rejected": "Rejected",
    "pending": "Not yet imported",
}


class ImportPages(Controller):
    path = "/w/{workspace_id:int}"

    @get(BASE, sync_to_thread=True)
    def index(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int
    ) -> Template:
        return _index(runtime, user, workspace_id, type_id)

    @post(BASE, status_code=303)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
    ) -> Response[Any]:
        try:
            name, data = await read_csv_upload(request)
        except WorkspaceError as exc:
            refused = partial(_index, runtime, user, workspace_id, type_id, error=exc)
            return await anyio.to_thread.run_sync(refused)
        store = partial(_store, runtime, user, workspace_id, type_id, name, data)
        return await anyio.to_thread.run_sync(store)

    @get(ONE, sync_to_thread=True)
    def show(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        import_id: int,
        outcome: str | None = None,
        after: int = 0,
    ) -> Template:
        return _show(runtime, user, workspace_id, type_id, import_id, outcome=outcome, after=after)

    @post(ONE + "/run", sync_to_thread=True, status_code=303)
    def run(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        import_id: int,
        data: URLEncodedBody[dict[str, Any]],
    ) -> Response[Any]:
        """Columns come as ``column.<n>`` = field key (blank: not imported)."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        rt = record_types.get_type(runtime, acc, type_id)
        mapping = {k.removeprefix("column."): v for k, v in data.items() if k.startswith("column.")}
        policy = data.get("policy") or imports.DEFAULT_POLICY
        match_on = data.get("match_on") or None
        try:
            imports.run_import(runtime, acc, rt, import_id, mapping, policy, match_on)
        except WorkspaceError as exc:
            chosen = {"mapping": mapping, "policy": policy, "match_on": match_on}
            return _show(runtime, user, workspace_id, type_id, import_id, error=exc, chosen=chosen)
        return Redirect(f"/w/{workspace_id}/t/{type_id}/imports/{import_id}", status_code=303)

    @get(ONE + "/rejected.csv", sync_to_thread=True)
    def rejected_csv(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int, import_id: int
    ) -> Stream:
        """The rejected rows as they were read, with a last column saying why: fix them in a
        spreadsheet and import the file again."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        rt = record_types.get_type(runtime, acc, type_id)
        found = imports.get_import(runtime, acc, rt, import_id)
        headers = {"Content-Disposition": f'attachment; filename="rejected-rows-{import_id}.csv"'}
        chunks = _rejected_rows(runtime, acc, rt, found)
        return Stream(chunks, media_type="text/csv; charset=utf-8", headers=headers)


def _store(
    runtime: Runtime, user: SessionUser, workspace_id: int, type_id: int, name: str, data: bytes
) -> Response[Any]:
    acc, _ = workspace_context(runtime, user, workspace_id)
    rt = record_types.get_type(runtime, acc, type_id)
    try:
        made = imports.create_import(runtime, acc, rt, name, data)
    except WorkspaceError as exc:
        if exc.status in {403, 404}:
            raise
        return _index(runtime, user, workspace_id, type_id, error=exc)
    return Redirect(f"/w/{workspace_id}/t/{type_id}/imports/{made['id']}", status_code=303)


def _index(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    type_id: int,
    *,
    error: WorkspaceError | None = None,
) -> Template:
    acc, context = workspace_context(runtime, user, workspace_id)
    rt = record_types.get_type(runtime, acc, type_id)
    context.update(
        rt=rt,
        imports=imports.list_imports(runtime, acc, rt),
        error=(error.fields.get("file") or error.message) if error else None,
        max_rows=runtime.settings.import_max_rows,
    )
    return Template(
        "imports/list.html", context=context, status_code=error.status if error else 200
    )


def _show(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    type_id: int,
    import_id: int,
    *,
    outcome: str | None = None,
    after: int = 0,
    error: WorkspaceError | None = None,
    chosen: dict[str, Any] | None = None,
) -> Template:
    acc, context = workspace_context(runtime, user, workspace_id)
    rt = record_types.get_type(runtime, acc, type_id)
    found = imports.get_import(runtime, acc, rt, import_id)
    if found["status"] == "done" and outcome is None and found["counts"]["rejected"]:
        outcome = "rejected"
    page = imports.import_rows(runtime, acc, rt, import_id, outcome=outcome, after=after)
    chosen = chosen or {"mapping": found["mapping"], "policy": found["policy"] or "rules"}
    context.update(
        rt=rt,
        imp=found,
        rows=page["items"],
        next_after=page["next_after"],
        outcome=outcome,
        labels=OUTCOME_LABELS,
        samples=[row["cells"] for row in page["items"][:SAMPLE_ROWS]],
        mapping=chosen["mapping"],
        policy=chosen["policy"],
        policies=imports.POLICIES,
        match_on=chosen.get("match_on"),
        matchable=key_match.matchable(rt),
        has_rules=bool(rt.dedupe),
        field_names={f.key: f.name for f in rt.fields},
        error=error,
    )
    return Template(
        "imports/show.html", context=context, status_code=error.status if error else 200
    )


def _rejected_rows(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, found: dict[str, Any]
) -> Iterator[str]:
    names = {f.key: f.name for f in rt.fields}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*(guard(h) for h in found["headers"]), "Problem"])
    after = 0
    while True:
        page = imports.import_rows(
            runtime, acc, rt, found["id"], outcome="rejected", after=after, limit=1000
        )
        for row in page["items"]:
            writer.writerow([*(guard(c) for c in row["cells"]), _problem(row, names)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if page["next_after"] is None:
            return
        after = page["next_after"]


def _problem(row: dict[str, Any], names: dict[str, str]) -> str:
    detail = row["detail"] or {}
    fields = detail.get("fields") or {}
    if fields:
        return guard("; ".join(f"{names.get(k, k)}: {why}" for k, why in fields.items()))
    return guard(str(detail.get("message", "")))
