"""Which record a remote row is, when no external id says so yet: the record type's exact
dedupe rules (and its rules across types, for records of this type), looked up for a whole
page at once (one indexed query per rule), and the records' current values for what a pull
may fill or must not overwrite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, select

from workspace.matching import RuleContext
from workspace.records import span_keys
from workspace.records.match_keys import holders, keys_for
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef

CHUNK = 500


def on_file(
    conn: Connection,
    rt: RecordTypeDef,
    values: Mapping[int, Mapping[str, Any]],
    ctx: RuleContext,
) -> dict[int, int]:
    """For each row (by index) the record an exact rule in use finds on file; the first
    rule that finds one decides, and of several records the oldest."""
    found: dict[int, int] = {}
    for rd in rt.dedupe:
        if rd.rule.fuzzy or rd.on_create == "off":
            continue
        keys = {i: keys_for(rt, rd, v, ctx) for i, v in values.items() if i not in found}
        held = holders(conn, rt, rd, {k for ks in keys.values() for k in ks})
        for index, mine in keys.items():
            ids = sorted({r for k in mine for r in held.get(k, ())})
            if ids:
                found[index] = ids[0]
    for span in rt.spans:  # rules across types: a record of this type holding the key
        if span.me.on_create == "off":
            continue
        keys = {
            i: span_keys.keys_for(rt, span, v, ctx) for i, v in values.items() if i not in found
        }
        span_held = span_keys.holders(conn, span, {k for ks in keys.values() for k in ks})
        for index, mine in keys.items():
            held_here = [h for k in mine for h in span_held.get(k, ())]
            ids = sorted({h.record_id for h in held_here if h.record_type_id == rt.id})
            if ids:
                found[index] = ids[0]
    return found


def current(conn: Connection, rt: RecordTypeDef, record_ids: Iterable[int]) -> dict[int, Any]:
    """Live records by id, as the API shows them (deleted ones are left out)."""
    wanted = sorted(set(record_ids))
    found: dict[int, Any] = {}
    for start in range(0, len(wanted), CHUNK):
        query = select(rt.table).where(rt.table.c.id.in_(wanted[start : start + CHUNK]))
        rows = conn.execute(query).mappings().all()
        for record in load_records(conn, rt, rows):
            if "deleted_at" not in record:
                found[record["id"]] = record
    return found
