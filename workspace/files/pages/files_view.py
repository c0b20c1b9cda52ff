"""The files section of a record page (``record/_files.html``): what it lists and links."""

from __future__ import annotations

from typing import Any

from workspace.files import files
from workspace.files.content import human_size, is_inline
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef


def file_url(workspace_id: int, file_id: int) -> str:
    """The page that downloads a file (the timeline links file entries here)."""
    return f"/w/{workspace_id}/files/{file_id}"


def files_context(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int
) -> dict[str, Any]:
    """The record's files and the recently deleted ones, ready to show: general attachments
    (``files``, ``deleted_files``) apart from those of each file field (by field id). A file
    whose field is gone (uploaded while the field was being deleted) shows as an attachment,
    as deleting the field makes it."""
    fields = {f.id for f in rt.outside_fields}
    live = [_shown(acc, f, fields) for f in files.list_files(runtime, acc, rt, record_id)]
    gone = [
        _shown(acc, f, fields) for f in files.list_files(runtime, acc, rt, record_id, deleted=True)
    ]
    return {
        "files": [f for f in live if f["field"] is None],
        "deleted_files": [f for f in gone if f["field"] is None],
        "field_files": _by_field(live),
        "field_deleted_files": _by_field(gone),
        "max_file_size": human_size(runtime.settings.max_file_bytes),
        "max_files": files.MAX_FILES,
    }


def _by_field(shown: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for f in shown:
        if f["field"] is not None:
            found.setdefault(f["field"], []).append(f)
    return found


def _shown(acc: Access, f: dict[str, Any], fields: set[int]) -> dict[str, Any]:
    return {
        **f,
        "field": f["field"] if f["field"] in fields else None,
        "url": file_url(acc.workspace_id, f["id"]),
        "inline": is_inline(f["content_type"]),
        "size_label": human_size(f["size"]),
    }
