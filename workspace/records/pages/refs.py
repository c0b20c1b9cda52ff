"""What the field templates need to show references: record titles, pickers, member names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workspace.access import workspaces
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types


def refs_for(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    records: Iterable[dict[str, Any]] = (),
    *,
    pickers: bool = False,
) -> dict[str, Any]:
    """``labels`` of linked records, ``members`` by id, and with ``pickers`` the ``options``
    a relation input offers."""
    records = list(records)
    labels: dict[str, dict[int, str]] = {}
    options: dict[str, list[tuple[int, str]]] = {}
    for f in rt.fields:
        if f.type.name != "relation":
            continue
        try:
            target = record_types.get_type(runtime, acc, f.config["target"])
        except NotFound:
            continue
        ids = {rid for r in records for rid in r["fields"].get(f.key) or []}
        labels[f.key] = record_labels.labels(runtime, acc, target, ids)
        if pickers:
            options[f.key] = record_labels.options(runtime, acc, target)
    members = {m["user_id"]: m["name"] or m["email"] for m in workspaces.list_members(runtime, acc)}
    return {
        "workspace": acc.workspace_id,
        "labels": labels,
        "options": options,
        "members": members,
    }
