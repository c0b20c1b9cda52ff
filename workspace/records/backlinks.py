"""Links the other way round: which records point at this one through a relation field.

A relation is stored on the linking side only (``lnk_<field id>(record_id, value)``), so a
record does not know who links to it. The record page still wants "linked from: 3 Orders",
and the link table's index on ``value`` makes that an indexed lookup per relation field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from workspace.db import transaction
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: Linking records listed per relation field; the rest are counted.
LIMIT = 10


@dataclass(frozen=True)
class LinkedRecord:
    id: int
    label: str


@dataclass(frozen=True)
class Backlinks:
    """The live records of ``source`` whose ``field`` links to the record, newest first."""

    source: RecordTypeDef
    field: FieldDef
    records: list[LinkedRecord]
    total: int


def relations_to(
    runtime: Runtime, acc: Access, target_id: int
) -> list[tuple[RecordTypeDef, FieldDef]]:
    """Every relation field in the workspace that points at record type ``target_id``."""
    found = []
    for item in definitions.list_types(runtime, acc):
        if not any(_targets(f["type"], f["config"], target_id) for f in item["fields"]):
            continue
        try:
            source = definitions.get_type(runtime, acc, item["id"])
        except NotFound:  # deleted since it was listed
            continue
        found += [(source, f) for f in source.fields if _targets(f.type.name, f.config, target_id)]
    return found


def linked_from(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int, limit: int = LIMIT
) -> list[Backlinks]:
    """For each relation field targeting ``rt``: up to ``limit`` live records linking to
    ``record_id`` with their labels, and how many there are in all. Fields with no links are
    left out."""
    groups = []
    for source, f in relations_to(runtime, acc, rt.id):
        ids, total = _linking_ids(runtime, acc, source, f, record_id, limit)
        if not total:
            continue
        labels = record_labels.labels(runtime, acc, source, ids)
        records = [LinkedRecord(i, labels.get(i, f"#{i}")) for i in ids]
        groups.append(Backlinks(source, f, records, total))
    return groups


def _targets(type_name: str, config: Mapping[str, Any] | None, target_id: int) -> bool:
    return type_name == "relation" and (config or {}).get("target") == target_id


def _linking_ids(
    runtime: Runtime,
    acc: Access,
    source: RecordTypeDef,
    f: FieldDef,
    record_id: int,
    limit: int,
) -> tuple[list[int], int]:
    link, table = source.link_table(f), source.table
    joined = link.join(table, table.c.id == link.c.record_id)
    where = (link.c.value == record_id, table.c.deleted_at.is_(None))
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        ids = list(
            conn.execute(
                select(link.c.record_id)
                .select_from(joined)
                .where(*where)
                .order_by(link.c.record_id.desc())
                .limit(limit)
            ).scalars()
        )
        total = (
            len(ids)
            if len(ids) < limit
            else conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()
        )
    return ids, total
