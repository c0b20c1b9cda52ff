"""The field ownership map of a record type: the exercise teams are told to do by hand,
computed from what the server knows.

For every field: its owner (the workspace or one connection), which connected tools keep a
copy (mapped properties, with their direction), how often it changed in the last 30 and 90
days by source (the UI, the API, forms, imports, automations, each connection: from the
activity history), when it last changed, and how many records currently differ between the
workspace and each tool as of the last sync (each link's baseline against the record).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import matching, values
from workspace.connectors.mappings import MappingDef, mapping_def
from workspace.db import transaction
from workspace.principal import Access
from workspace.records.csv_cells import guard
from workspace.runtime import Runtime
from workspace.schema.fields import ValueContext
from workspace.schema.tables import RecordTypeDef

A, MP, CN, X = m.activity, m.connection_mappings, m.connections, m.external_ids
SOURCES = {
    "ui": "UI",
    "api": "API",
    "form": "Forms",
    "import": "Imports",
    "automation": "Automations",
    "cli": "Command line",
    "system": "System",
}
WINDOWS = (30, 90)
HEADER = (
    *("field", "key", "owner", "copies", "changes_30d", "changes_90d", "by_source_90d"),
    *("last_change_at", "last_change_by", "records_differing"),
)
CHUNK = 500


def build(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> dict[str, Any]:
    """The map of ``rt`` (members may read it)."""
    acc.require("viewer")
    with transaction(runtime.control) as conn:
        found = conn.execute(
            select(MP, CN.c.name)
            .join(CN, CN.c.id == MP.c.connection_id)
            .where(MP.c.record_type_id == rt.id, CN.c.deleted_at.is_(None))
            .order_by(MP.c.id)
        ).all()
        names = dict(
            conn.execute(
                select(CN.c.id, CN.c.name).where(CN.c.workspace_id == acc.workspace_id)
            ).all()
        )
    tools = [(mapping_def(r), r.name) for r in found]
    changes, last = _changes(runtime, rt, names)
    differ = _differences(
        runtime, acc, rt, [(mp, name) for mp, name in tools if mp.state == "active"]
    )
    fields = []
    for f in rt.fields:
        owner = rt.owner_of(f.id)
        copies = [
            {
                "connection": mp.connection_id,
                "tool": name,
                "object": mp.remote_object,
                "property": p.property,
                "direction": p.direction,
                "retired": mp.state == "retired",
            }
            for mp, name in tools
            for p in mp.properties
            if p.field_id == f.id
        ]
        fields.append(
            {
                "key": f.key,
                "name": f.name,
                "owner": {"type": "workspace"}
                if owner is None
                else {"type": "connection", "connection": owner.connection_id, "name": owner.name},
                "copies": copies,
                "changes": changes.get(f.key, {}),
                "last_change": last.get(f.key),
                "differs": differ.get(f.key, {}),
            }
        )
    return {"type": rt.id, "name": rt.name, "fields": fields, "windows": list(WINDOWS)}


def _source(row: Any, names: dict[int, str]) -> str:
    if row.source == "connector" and (row.source_ref or "").startswith("connection:"):
        tail = row.source_ref.removeprefix("connection:")
        return names.get(int(tail), f"connection {tail}") if tail.isdigit() else "Connector"
    return str(SOURCES.get(row.source, row.source))


def _changes(
    runtime: Runtime, rt: RecordTypeDef, names: dict[int, str]
) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, Any]]]:
    """Per field: changes per source in each window, and the latest change (90 days back)."""
    now = utcnow()
    since = now - dt.timedelta(days=max(WINDOWS))
    counted: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    last: dict[str, dict[str, Any]] = {}
    query = (
        select(A.c.at, A.c.source, A.c.source_ref, A.c.changes)
        .where(
            A.c.record_type_id == rt.id,
            A.c.action.in_(["create", "update"]),
            A.c.at >= since,
        )
        .order_by(A.c.id.desc())
    )
    with transaction(runtime.control) as conn:
        for row in conn.execute(query.execution_options(yield_per=1000)):
            source = _source(row, names)
            for change in row.changes or []:
                key = str(change.get("field") or "")
                per = counted[key].setdefault(source, dict.fromkeys(map(str, WINDOWS), 0))
                for days in WINDOWS:
                    if row.at >= now - dt.timedelta(days=days):
                        per[str(days)] += 1
                last.setdefault(key, {"at": row.at, "source": source})
    return dict(counted), last


def _differences(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, tools: list[tuple[MappingDef, str]]
) -> dict[str, dict[str, int]]:
    """Per field and tool: records whose value is not the tool's as last synced."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    ctx = ValueContext(acc.phone_region)
    for mapping, name in tools:
        props = [
            (p, f) for p in mapping.properties if (f := rt.field_by_id(p.field_id)) is not None
        ]
        for _, f in props:
            found[f.key].setdefault(name, 0)
        for chunk in _links(runtime, mapping):
            with transaction(runtime.data_engine(acc.workspace_id)) as data:
                current = matching.current(data, rt, [r.record_id for r in chunk])
            for link in chunk:
                record = current.get(link.record_id)
                if record is None:
                    continue
                for p, f in props:
                    theirs = (link.remote_values or {}).get(p.property)
                    if not values.same(f, record["fields"].get(f.key), theirs, ctx):
                        found[f.key][name] += 1
    return dict(found)


def _links(runtime: Runtime, mapping: MappingDef) -> Any:
    after = 0
    while True:
        with transaction(runtime.control) as conn:
            chunk = conn.execute(
                select(X.c.id, X.c.record_id, X.c.remote_values)
                .where(
                    X.c.connection_id == mapping.connection_id,
                    X.c.remote_object == mapping.remote_object,
                    X.c.deleted_at.is_(None),
                    X.c.id > after,
                )
                .order_by(X.c.id)
                .limit(CHUNK)
            ).all()
        if not chunk:
            return
        yield chunk
        after = chunk[-1].id


def as_csv(found: dict[str, Any]) -> str:
    """The map as a spreadsheet: one row per field (free text guarded against formulas)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for f in found["fields"]:
        owner = f["owner"].get("name", "Workspace")
        copies = "; ".join(
            f"{c['tool']} {c['object']}.{c['property']} ({c['direction']})" for c in f["copies"]
        )
        by_source = "; ".join(f"{s}: {n['90']}" for s, n in sorted(f["changes"].items()))
        last = f["last_change"] or {}
        differs = "; ".join(f"{tool}: {n}" for tool, n in sorted(f["differs"].items()))
        writer.writerow(
            [
                guard(f["name"]),
                f["key"],
                guard(owner),
                guard(copies),
                sum(n["30"] for n in f["changes"].values()),
                sum(n["90"] for n in f["changes"].values()),
                guard(by_source),
                last["at"].isoformat() if last else "",
                guard(last.get("source", "")),
                guard(differs),
            ]
        )
    return out.getvalue()
