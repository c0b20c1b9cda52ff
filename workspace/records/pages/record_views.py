"""What the record page and the new record form show, gathered from the services.

Controllers in ``record.py`` stay thin: they call a service and pick a template; the
context those templates need (titles, related records, the timeline, error messages with
links) is put together here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from workspace.errors import NotFound, UniqueViolation, VersionConflict, WorkspaceError
from workspace.principal import Access
from workspace.records import backlinks, records
from workspace.records import deleted as deleted_records
from workspace.records import labels as record_labels
from workspace.records.pages.record_timeline import actor_name, ago, timeline
from workspace.records.pages.refs import refs_for
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.web.templating import when


def record_url(ws: int, rt: int, record_id: int) -> str:
    return f"/w/{ws}/t/{rt}/r/{record_id}"


def load(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int
) -> tuple[dict[str, Any], bool]:
    """The record and whether it is deleted: a deleted record's page offers to restore it
    rather than answering 404."""
    try:
        return records.get(runtime, acc, rt, record_id), False
    except NotFound as exc:
        if not exc.details.get("deleted"):
            raise
    return deleted_records.get_deleted(runtime, acc, rt, record_id), True


def field_refs(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    values: Mapping[str, Any],
    picker_keys: list[str] = [],  # noqa: B006 - read only
) -> dict[str, Any]:
    """``refs`` for the field macros: titles of the linked records in ``values``, and the
    records a relation picker offers for the fields in ``picker_keys``."""
    refs = refs_for(runtime, acc, rt, [{"fields": dict(values)}])
    for key in picker_keys:
        f = rt.field_by_key(key)
        if f is not None and f.type.name == "relation":
            target = _target(runtime, acc, f)
            if target is not None:
                refs["options"][key] = record_labels.options(runtime, acc, target)
    return refs


def page_parts(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record: dict[str, Any],
    refs: dict[str, Any],
    before: int | None = None,
) -> dict[str, Any]:
    """The title, related records and timeline of a record page (each also an htmx swap)."""
    return {
        "record_id": record["id"],
        "title": record_labels.title_of(rt, record),
        "meta": meta(record, refs["members"]),
        "timeline": timeline(runtime, acc, rt, record["id"], refs["members"], before),
        "related": related(runtime, acc, rt, record, refs),
    }


def meta(record: Mapping[str, Any], members: Mapping[int, str]) -> dict[str, Any]:
    """Who created, last changed and (perhaps) deleted the record, and when."""

    def moment(at: Any, by: Any) -> dict[str, Any]:
        if at is None:  # added to an adopted table by another system
            return {"ago": ago(at), "exact": "", "by": "another system"}
        return {"ago": ago(at), "exact": when(at), "by": actor_name(by, "ui", members)}

    found = {"created": moment(record["created_at"], record["created_by"]), "changed": None}
    if record["version"] > 1:
        found["changed"] = moment(record["updated_at"], record["updated_by"])
    if record.get("deleted_at") is not None:
        found["deleted"] = moment(record["deleted_at"], record.get("deleted_by"))
    return found


def related(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record: dict[str, Any],
    refs: dict[str, Any],
) -> dict[str, Any]:
    """Links both ways: this record's relation fields, and relation fields elsewhere that
    point at it."""
    links = []
    for f in rt.fields:
        if f.type.name != "relation":
            continue
        labels = refs["labels"].get(f.key, {})
        ids = record["fields"].get(f.key) or []
        target = _target(runtime, acc, f)
        links.append(
            {
                "field": f,
                "target": target,
                "records": [(i, labels.get(i, f"#{i}")) for i in ids],
            }
        )
    incoming = backlinks.linked_from(runtime, acc, rt, record["id"])
    return {"links": links, "incoming": incoming}


def field_errors(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, exc: WorkspaceError, shown: list[str]
) -> tuple[dict[str, Any], str | None]:
    """Messages next to the fields in ``shown`` and one for everything else. A unique clash
    links to the record already holding the value."""
    clash = _clash_link(runtime, acc, rt, exc)
    errors: dict[str, Any] = {}
    rest = []
    for key, reason in exc.fields.items():
        f = rt.field_by_key(key)
        if key in shown:
            errors[key] = _clash_reason(rt, key, exc, clash) if clash else reason
        else:
            rest.append(f"{f.name if f else key}: {reason}")
    if isinstance(exc, VersionConflict):
        return errors, None
    if not exc.fields:
        rest.append(exc.message)
    return errors, "; ".join(rest) or None


def conflict_note(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int, f: FieldDef
) -> dict[str, Any]:
    """What the field holds now, after someone else's change (or that the record is gone)."""
    try:
        current = records.get(runtime, acc, rt, record_id)
    except NotFound:
        return {"gone": True, "current": None, "refs": None}
    return {
        "gone": False,
        "current": current["fields"].get(f.key),
        "refs": refs_for(runtime, acc, rt, [current]),
    }


def _clash_link(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, exc: WorkspaceError
) -> Markup | None:
    other = exc.details.get("record") if isinstance(exc, UniqueViolation) else None
    if not isinstance(other, int):
        return None
    label = record_labels.labels(runtime, acc, rt, [other]).get(other, f"#{other}")
    url = record_url(acc.workspace_id, rt.id, other)
    return Markup('<a href="{}" data-testid="clash-link">{}</a>').format(url, label)


def _clash_reason(rt: RecordTypeDef, key: str, exc: WorkspaceError, link: Markup) -> Markup:
    keys = exc.details.get("fields_clashing") or [key]
    others = [f.name for k in keys if k != key and (f := rt.field_by_key(k)) is not None]
    if others:
        return Markup("together with {} is already used by {}").format(", ".join(others), link)
    return Markup("is already used by {}").format(link)


def _target(runtime: Runtime, acc: Access, f: FieldDef) -> RecordTypeDef | None:
    try:
        return record_types.get_type(runtime, acc, f.config["target"])
    except NotFound:
        return None
