"""Mapping one remote object to a record type, property by property (owner and direction
per mapped field), and a run's payloads with their outcomes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Response, Template

from workspace.connectors import connections, mappings, runs
from workspace.connectors.pages.replies import see_other, status_of
from workspace.errors import NotFound, WorkspaceError
from workspace.types import record_types
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
ONE = "/w/{workspace_id:int}/settings/connections/{connection_id:int}"
OBJECT = ONE + "/objects/{object_name:str}"


def properties_from_form(described: dict[str, Any], form: dict[str, Any]) -> list[dict[str, Any]]:
    """The mapped rows of the form: a property with a field chosen, its owner and direction."""
    found = []
    for prop in described["properties"]:
        name = prop["name"]
        key = str(form.get(f"field.{name}", "")).strip()
        if key:
            found.append(
                {
                    "property": name,
                    "field": key,
                    "owner": str(form.get(f"owner.{name}", "workspace")),
                    "direction": str(form.get(f"direction.{name}", "pull")),
                }
            )
    return found


class ObjectPages(Controller):
    path = "/"

    @get(OBJECT, sync_to_thread=True)
    def mapping(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        object_name: str,
        type: int | None = None,
    ) -> Template:
        return _mapping(runtime, user, workspace_id, connection_id, object_name, type_id=type)

    @post(OBJECT, sync_to_thread=True)
    def save(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        object_name: str,
        data: Form,
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        described = _object(runtime, acc, connection_id, object_name)
        raw = str(data.get("type", ""))
        tid = int(raw) if raw.isdigit() else None
        body: dict[str, Any] = {"object": object_name, "type": tid}
        body["properties"] = properties_from_form(described, data)
        try:
            mappings.save(runtime, acc, connection_id, body)
        except WorkspaceError as exc:
            return _mapping(
                runtime,
                user,
                workspace_id,
                connection_id,
                object_name,
                type_id=tid,
                form=data,
                error=exc,
            )
        return see_other(f"/w/{workspace_id}/settings/connections/{connection_id}?done=mapped")

    @post(OBJECT + "/{action:str}", sync_to_thread=True)
    def act(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        object_name: str,
        action: str,
    ) -> Response[Any]:
        """retire, restore, or reset (the next pull is a full one)."""
        acc, _ = workspace_context(runtime, user, workspace_id)
        mapped = {m["object"]: m for m in mappings.list_mappings(runtime, acc, connection_id)}
        found = mapped.get(object_name)
        if found is None or action not in {"retire", "restore", "reset"}:
            raise NotFound("no such mapping or action")
        try:
            if action == "reset":
                mappings.reset_cursor(runtime, acc, connection_id, found["id"])
            else:
                state = "retired" if action == "retire" else "active"
                mappings.set_state(runtime, acc, connection_id, found["id"], state)
        except WorkspaceError as exc:
            return _mapping(runtime, user, workspace_id, connection_id, object_name, error=exc)
        return see_other(
            f"/w/{workspace_id}/settings/connections/{connection_id}/objects/{object_name}"
        )

    @get(ONE + "/runs/{run_id:int}", sync_to_thread=True)
    def run(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        connection_id: int,
        run_id: int,
        outcome: str | None = None,
        after: int = 0,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        context.update(
            section="connections",
            connection=connections.get(runtime, acc, connection_id),
            run=runs.get_run(runtime, acc, connection_id, run_id),
            rows=runs.run_rows(
                runtime, acc, connection_id, run_id, outcome=outcome or None, after=after
            ),
            outcome=outcome or None,
        )
        return Template("connections/run.html", context=context)


def _object(runtime: Any, acc: Any, connection_id: int, object_name: str) -> dict[str, Any]:
    found = connections.get(runtime, acc, connection_id)
    described = {k["kind"]: k for k in connections.kinds(runtime)}.get(found["kind"])
    remote = next(
        (o for o in (described or {}).get("objects", []) if o["name"] == object_name), None
    )
    if remote is None:
        raise NotFound(f"{found['label']} has no object {object_name!r}")
    return {**remote, "can_push": described["can_push"] if described else False}


def _mapping(
    runtime: Any,
    user: Any,
    workspace_id: int,
    connection_id: int,
    object_name: str,
    *,
    type_id: int | None = None,
    form: dict[str, Any] | None = None,
    error: WorkspaceError | None = None,
) -> Template:
    acc, context = workspace_context(runtime, user, workspace_id)
    connection = connections.get(runtime, acc, connection_id)
    remote = _object(runtime, acc, connection_id, object_name)
    existing = next(
        (
            m
            for m in mappings.list_mappings(runtime, acc, connection_id)
            if m["object"] == object_name
        ),
        None,
    )
    types = record_types.list_types(runtime, acc)
    wanted = type_id or (existing["type"] if existing else (types[0]["id"] if types else None))
    rt = record_types.get_type(runtime, acc, wanted) if wanted else None
    current: dict[str, dict[str, Any]] = {}
    if form is not None:
        for p in properties_from_form(remote, form):
            current[p["property"]] = p
    elif existing and rt and existing["type"] == rt.id:
        current = {p["property"]: p for p in existing["properties"]}
    owners = {f.key: rt.owner_of(f.id) for f in rt.fields} if rt else {}
    sent = properties_from_form(remote, form) if form is not None else []
    row_errors = {}
    for key, why in (error.fields if error else {}).items():
        index = key.removeprefix("properties.")
        if index.isdigit() and int(index) < len(sent):
            row_errors[sent[int(index)]["property"]] = why
    context.update(
        section="connections",
        connection=connection,
        remote=remote,
        existing=existing,
        types=types,
        rt=rt,
        current=current,
        owners=owners,
        errors=error.fields if error else {},
        row_errors=row_errors,
        error=error.message if error else None,
    )
    return Template("connections/mapping.html", context=context, status_code=status_of(error))
