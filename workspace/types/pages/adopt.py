"""Adopt a table (admins): pick a table of the workspace's own MySQL, see its columns
with the field type suggested for each, choose which to use and as what, and adopt it as a
record type. The page says plainly what works on the plain table and what needs the side
table (``services.adopt.FEATURES``)."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access.sessions import SessionUser
from workspace.errors import WorkspaceError
from workspace.runtime import Runtime
from workspace.types import adopt
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
PAGE = "/w/{workspace_id:int}/settings/database/adopt"


def spec_from_form(form: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, Any]:
    """The mapping ticked in the form: inputs are named by column position (``use_3``,
    ``type_3``, ``name_3``), never by the column's own name."""
    chosen = []
    for index, column in enumerate(columns):
        if form.get(f"use_{index}") != "on":
            continue
        item = {"column": column["name"], "type": str(form.get(f"type_{index}", ""))}
        name = str(form.get(f"name_{index}", "")).strip()
        if name:
            item["name"] = name
        chosen.append(item)
    spec: dict[str, Any] = {"table": str(form.get("table", "")), "columns": chosen}
    name = str(form.get("name", "")).strip()
    if name:
        spec["name"] = name
    return spec


class AdoptPages(Controller):
    path = "/"

    @get(PAGE, sync_to_thread=True)
    def page(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, table: str | None = None
    ) -> Template:
        return render(runtime, user, workspace_id, table=table)

    @post(PAGE, sync_to_thread=True)
    def adopt_table(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        """Adopt, then open the new type's table; a refusal shows the form again with the
        choices made and the error next to its column."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        table = str(data.get("table", ""))
        spec: dict[str, Any] = {"columns": []}
        try:
            described = adopt.describe(runtime, acc, table)
            spec = spec_from_form(data, described["columns"])
            made = adopt.adopt(runtime, acc, spec)
        except WorkspaceError as exc:
            found = problems(exc, spec["columns"])
            return render(
                runtime, user, workspace_id, table=table, form=data, error=exc, problems=found
            )
        return Redirect(f"/w/{workspace_id}/t/{made['id']}", status_code=303)


def render(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    *,
    table: str | None,
    form: dict[str, Any] | None = None,
    error: WorkspaceError | None = None,
    problems: list[str] | None = None,
) -> Template:
    """The list of tables, and the chosen table's columns (with the form's choices after a
    refused post, else every offered column ticked with its suggested type)."""
    acc, context = workspace_context(runtime, user, workspace_id)
    listed = described = problem = None
    try:
        listed = adopt.list_tables(runtime, acc)
        if table:
            described = adopt.describe(runtime, acc, table)
    except WorkspaceError as exc:
        problem = exc
    shown = error or problem
    context.update(
        listed=listed,
        described=described,
        features=adopt.FEATURES,
        labels={name: runtime.field_types.get(name).label for name in runtime.field_types.names()},
        form=form,
        problems=problems or [],
        error=shown.message if shown else None,
        section="database",
    )
    status = shown.status if shown else 200
    return Template("adopt/page.html", context=context, status_code=status)


def problems(error: WorkspaceError | None, chosen: list[dict[str, Any]]) -> list[str]:
    """Each refused setting in words, naming the column: the service keys them by position
    in the mapping sent (``columns[1].type``, ``fields[1].name``)."""
    if error is None:
        return []
    found = []
    for key, message in error.fields.items():
        match = re.match(r"^(?:columns|fields)\[(\d+)\]\.?(\w*)", key)
        if match and int(match.group(1)) < len(chosen):
            column = chosen[int(match.group(1))]["column"]
            found.append(
                f"Column {column!r}{' ' + match.group(2) if match.group(2) else ''}: {message}"
            )
        else:
            found.append(f"{key}: {message}")
    return found
