"""The responses of the record pages: full pages and the htmx fragments of one field.

``record.py`` holds the routes; each route calls a service and answers with one of these.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from workspace.access.sessions import SessionUser
from workspace.db import transaction
from workspace.dedupe import cross_pairs
from workspace.errors import NotFound, VersionConflict, WorkspaceError
from workspace.files.pages.files_view import files_context
from workspace.principal import Access
from workspace.records import external_ids, labels
from workspace.records.pages.record_views import (
    conflict_note,
    field_errors,
    field_refs,
    load,
    page_parts,
)
from workspace.records.pages.refs import refs_for
from workspace.runtime import Runtime
from workspace.schema.definitions import open_type
from workspace.schema.tables import RecordTypeDef
from workspace.web.htmx import is_htmx
from workspace.web.nav import workspace_context
from workspace.work.pages.work_views import work_context


def new_form(
    runtime: Runtime,
    user: SessionUser,
    acc: Access,
    rt: RecordTypeDef,
    values: dict[str, Any],
    *,
    errors: dict[str, Any] | None = None,
    general: str | None = None,
    notice: dict[str, Any] | None = None,
    status: int = 200,
) -> Template:
    """The new record form, with the values and errors of a refused post; the first field
    with an error (or the first field) has the focus."""
    errors = errors or {}
    _, context = workspace_context(runtime, user, acc.workspace_id)
    first_error = next((f.key for f in rt.fields if f.key in errors), None)
    context.update(
        current_type=rt.id,
        rt=rt,
        values=values,
        refs=field_refs(runtime, acc, rt, values, [f.key for f in rt.fields]),
        errors=errors,
        general=general,
        notice=notice,
        focus=first_error or (rt.fields[0].key if rt.fields else None),
    )
    return Template("record/new.html", context=context, status_code=status)


def record_page(
    runtime: Runtime,
    user: SessionUser,
    workspace_id: int,
    type_id: int,
    record_id: int,
    *,
    edit: str | None = None,
    before: int | None = None,
    refused: dict[str, Any] | None = None,
    problem: str | None = None,
    status: int = 200,
    merged: bool = False,
) -> Template:
    """The full page; ``edit`` (with ``refused``: the posted value and its error) shows one
    field's form, for browsers without JavaScript."""
    acc, rt = open_type(runtime, user.principal, workspace_id, type_id)
    _, context = workspace_context(runtime, user, workspace_id)
    record, deleted = load(runtime, acc, rt, record_id)
    can_edit = acc.can("member") and not deleted and rt.retired is None
    with transaction(runtime.control) as conn:
        copies = external_ids.for_record(conn, rt.id, record_id)
        possible = cross_pairs.open_pairs_of(conn, rt, record_id)
    editing = rt.field_by_key(edit) if edit and can_edit else None
    refused = refused or {}
    values = {
        **record["fields"],
        **({editing.key: refused["value"]} if editing and refused else {}),
    }
    refs = field_refs(runtime, acc, rt, values, [editing.key] if editing else [])
    context.update(
        page_parts(runtime, acc, rt, record, refs, before),
        **work_context(runtime, acc, rt, record_id),
        **files_context(runtime, acc, rt, record_id),
        current_type=rt.id,
        ws_id=workspace_id,
        rt=rt,
        record=record,
        deleted=deleted,
        refs=refs,
        can_edit=can_edit,
        editing=editing.key if editing else None,
        edit_value=values.get(editing.key) if editing else None,
        edit_version=refused.get("version", record["version"]),
        edit_error=refused.get("error"),
        conflict=refused.get("conflict"),
        problem=problem,
        merged=labels.merged_message(rt, record) if merged else None,
        before=before,
        copies=copies,
        possible_duplicates=possible,
    )
    return Template("record/page.html", context=context, status_code=status)


def fragment(
    acc: Access, rt: RecordTypeDef, record: dict[str, Any], refs: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """What the field row templates (``_field.html``, ``_field_edit.html``) need."""
    return {
        "ws_id": acc.workspace_id,
        "rt": rt,
        "record": record,
        "refs": refs,
        "can_edit": acc.can("member") and rt.retired is None,
        "edit_version": record.get("version"),
        "error": None,
        "conflict": None,
        "focus": False,
        **extra,
    }


def saved(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record: dict[str, Any], keys: list[str]
) -> Template:
    """The saved fields' rows, with the head, the related records and the timeline swapped
    out of band: a new title, link or history entry shows at once."""
    refs = refs_for(runtime, acc, rt, [record])
    context = fragment(acc, rt, record, refs, focus=True)
    context.update(page_parts(runtime, acc, rt, record, refs))
    context["fields"] = [f for k in keys if (f := rt.field_by_key(k)) is not None]
    return Template("record/_saved.html", context=context)


def refused(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    user: SessionUser,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    keys: list[str],
    values: dict[str, Any],
    version: int | None,
    exc: WorkspaceError,
) -> Template:
    """The field's form again with what was typed and why it was refused."""
    f = rt.field_by_key(keys[0])
    assert f is not None
    errors, general = field_errors(runtime, acc, rt, exc, keys)
    # Someone else's change or deletion since the form was opened: say so, not "not found".
    changed = isinstance(exc, VersionConflict | NotFound)
    conflict = conflict_note(runtime, acc, rt, record_id, f) if changed else None
    error = None if changed else errors.get(f.key) or general
    if not is_htmx(request) or len(keys) > 1:
        refused = {
            "value": values.get(f.key),
            "error": error,
            "conflict": conflict,
            "version": version,
        }
        return record_page(
            runtime,
            user,
            acc.workspace_id,
            rt.id,
            record_id,
            edit=f.key,
            refused=refused,
            status=exc.status,
        )
    refs = field_refs(runtime, acc, rt, values, keys)
    stub = {"id": record_id, "version": version, "fields": values}
    context = fragment(
        acc, rt, stub, refs, f=f, value=values.get(f.key), error=error, conflict=conflict
    )
    return Template("record/_field_edit.html", context=context, status_code=exc.status)
