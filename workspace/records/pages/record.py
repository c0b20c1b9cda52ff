"""The record page and the new record form.

Everything works as plain form posts answered with redirects; htmx makes editing a field in
place a swap of that field's row, and a save refreshes the title and the timeline with it.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    WorkspaceError,
)
from workspace.records import labels as record_labels
from workspace.records import records
from workspace.records.pages import record_responses as respond
from workspace.records.pages.record_timeline import timeline
from workspace.records.pages.record_views import field_errors, field_refs, record_url
from workspace.records.pages.refs import refs_for
from workspace.schema.definitions import open_type
from workspace.schema.tables import RecordTypeDef
from workspace.web.fields import edited_keys, form_values
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
RECORD = "/t/{type_id:int}/r/{record_id:int}"
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Records a relation picker's search offers at a time.
PICKS = 50
#: Errors the forms do not show next to a field: the page for them says it better.
NOT_FORM_ERRORS = (PermissionDenied, NotFound)


class RecordPages(Controller):
    path = "/w/{workspace_id:int}"

    # ---- the new record form -----------------------------------------------------------

    @get("/t/{type_id:int}/new", sync_to_thread=True)
    def new_form(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        added: int | None = None,
        merged: bool = False,
    ) -> Template:
        """``added``: the record the last post wrote (``merged``: into a record on file)."""
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        acc.require("member")
        notice = None
        if added is not None:
            label = record_labels.labels(runtime, acc, rt, [added]).get(added)
            notice = {"id": added, "label": label, "merged": merged} if label else None
        return respond.new_form(runtime, user, acc, rt, {}, notice=notice)

    @post("/t/{type_id:int}/new", sync_to_thread=True, status_code=303)
    def create(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int, data: Form
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        values = form_values(rt, data)
        try:
            record = records.create(runtime, acc, rt, values)
        except NOT_FORM_ERRORS:
            raise
        except WorkspaceError as exc:
            errors, general = field_errors(runtime, acc, rt, exc, [f.key for f in rt.fields])
            return respond.new_form(
                runtime, user, acc, rt, values, errors=errors, general=general, status=exc.status
            )
        merged = "?merged=1" if "merged_into" in record else ""
        if data.get("_another"):
            target = f"/w/{workspace_id}/t/{type_id}/new?added={record['id']}"
            target += merged.replace("?", "&")
        else:
            target = record_url(workspace_id, type_id, record["id"]) + merged
        return Redirect(target, status_code=303)

    # ---- the record page ---------------------------------------------------------------

    @get(RECORD, sync_to_thread=True)
    def record_page(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        edit: str | None = None,
        before: int | None = None,
        merged: bool = False,
    ) -> Template:
        """``edit`` opens one field's form without JavaScript; ``before`` pages the timeline;
        ``merged``: a "new record" just went into this record on file, and the page says so."""
        return respond.record_page(
            runtime, user, workspace_id, type_id, record_id, edit=edit, before=before, merged=merged
        )

    @get(RECORD + "/fields/{key:str}", sync_to_thread=True)
    def show_field(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        key: str,
    ) -> Response[Any]:
        """One field's row as shown (what Cancel goes back to)."""
        if not respond.is_htmx(request):
            return Redirect(record_url(workspace_id, type_id, record_id) + f"#field-{key}")
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        f = _field(rt, key)
        record = records.get(runtime, acc, rt, record_id)
        context = respond.fragment(acc, rt, record, refs_for(runtime, acc, rt, [record]), f=f)
        return Template("record/_field.html", context={**context, "focus": True})

    @get(RECORD + "/fields/{key:str}/edit", sync_to_thread=True)
    def edit_field(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        key: str,
    ) -> Response[Any]:
        """One field's inline form, holding the version it was opened at."""
        if not respond.is_htmx(request):
            url = record_url(workspace_id, type_id, record_id)
            return Redirect(f"{url}?edit={key}#field-{key}")
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        f = _field(rt, key)
        if f.type.outside_record:
            raise BadRequest(f"{f.name}: add or delete its files on the record page")
        acc.require("member")
        record = records.get(runtime, acc, rt, record_id)
        refs = field_refs(runtime, acc, rt, record["fields"], [key])
        context = respond.fragment(acc, rt, record, refs, f=f, value=record["fields"].get(key))
        return Template("record/_field_edit.html", context=context)

    @post(RECORD + "/fields", sync_to_thread=True, status_code=200)
    def save_fields(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        data: Form,
    ) -> Response[Any]:
        """Save the fields listed in ``_fields``, refused (409) if the record changed since
        ``_version``."""
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        keys = edited_keys(rt, data)
        if not keys:
            raise BadRequest("nothing to save: the form named no field of this record type")
        values = form_values(rt, data)
        version = _version(data)
        try:
            record = records.update_record(
                runtime, acc, rt, record_id, values, version=version, reason=_reason(data)
            )
        except PermissionDenied:
            raise
        except WorkspaceError as exc:
            return respond.refused(
                request, runtime, user, acc, rt, record_id, keys, values, version, exc
            )
        if not respond.is_htmx(request):
            url = record_url(workspace_id, type_id, record_id)
            return Redirect(f"{url}#field-{keys[0]}", status_code=303)
        return respond.saved(runtime, acc, rt, record, keys)

    @get(RECORD + "/activity", sync_to_thread=True)
    def older_activity(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        record_id: int,
        before: int,
    ) -> Response[Any]:
        """The next page of the timeline, after the entry ``before``."""
        if not respond.is_htmx(request):
            url = record_url(workspace_id, type_id, record_id)
            return Redirect(f"{url}?before={before}#activity")
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        members = refs_for(runtime, acc, rt)["members"]
        context = {
            "ws_id": workspace_id,
            "rt": rt,
            "record_id": record_id,
            "timeline": timeline(runtime, acc, rt, record_id, members, before),
        }
        return Template("record/_timeline_items.html", context=context)

    @post(RECORD + "/delete", sync_to_thread=True, status_code=303)
    def delete(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int, record_id: int
    ) -> Response[Any]:
        """Soft delete; the record's page then offers Restore."""
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        with suppress(NotFound):  # deleted already (a second click): its page says so
            records.delete(runtime, acc, rt, record_id)
        return Redirect(record_url(workspace_id, type_id, record_id), status_code=303)

    @post(RECORD + "/restore", sync_to_thread=True, status_code=303)
    def restore(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type_id: int, record_id: int
    ) -> Response[Any]:
        acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
        try:
            records.restore(runtime, acc, rt, record_id)
        except NotFound:
            pass  # restored already: its page shows it
        except Conflict as exc:
            return respond.record_page(
                runtime, user, workspace_id, type_id, record_id, problem=exc.message, status=409
            )
        return Redirect(record_url(workspace_id, type_id, record_id), status_code=303)

    # ---- the relation picker's search --------------------------------------------------

    @get("/t/{type_id:int}/pick", sync_to_thread=True)
    def pick(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        type_id: int,
        name: Annotated[str, QueryParameter(name="_pick_name")],
        q: Annotated[str, QueryParameter(name="_pick_q")] = "",
    ) -> Template:
        """Records of type ``type_id`` matching ``q`` for a relation picker: the boxes already
        ticked (sent under the field's name) stay first and ticked."""
        if not FIELD_KEY.match(name):
            raise BadRequest("_pick_name: must be a field key")
        acc, target = open_type(runtime, user.principal, workspace_id, type_id)
        ticked = list(
            dict.fromkeys(int(v) for v in request.query_params.getall(name, []) if v.isdigit())
        )
        labels = record_labels.labels(runtime, acc, target, ticked)
        chosen = [(i, labels.get(i, f"#{i}")) for i in ticked[: record_labels.LIMIT]]
        options = record_labels.options(runtime, acc, target, search=q.strip())[:PICKS]
        return Template(
            "record/_picker.html", context={"name": name, "chosen": chosen, "options": options}
        )


def _field(rt: RecordTypeDef, key: str) -> Any:
    f = rt.field_by_key(key)
    if f is None:
        raise NotFound("this field does not exist (any more); reload the page")
    return f


def _reason(data: dict[str, Any]) -> str | None:
    """Why an admin loosens a restrictive field (the edit form's reason input)."""
    raw = data.get("_reason")
    raw = raw[-1] if isinstance(raw, list) else raw
    return (raw.strip() or None) if isinstance(raw, str) else None


def _version(data: dict[str, Any]) -> int | None:
    raw = data.get("_version")
    raw = raw[-1] if isinstance(raw, list) else raw
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None
