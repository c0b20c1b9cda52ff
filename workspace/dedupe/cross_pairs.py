"""Review pairs whose two records may be of different record types (a rule across types),
and the part of a scan that finds them in a span's key space.

A cross-type pair is stored once, with ``record_type_id`` the type of ``record_a`` and
``type_b`` the type of ``record_b``; it shows in the queue of both types.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

from workspace import models as m
from workspace.db import transaction
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import span_keys
from workspace.records.match_keys import Candidate, queue_pairs
from workspace.runtime import Runtime
from workspace.schema.definitions import get_type
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef

PAIRS = m.duplicate_pairs
#: A key held by more records than this (a shared inbox) pairs only its first holder.
GROUP_LIMIT = 100


def of_type(record_type_id: int) -> ColumnElement[bool]:
    """The pairs a type's queue shows: its own, and cross-type pairs with a record of it."""
    return or_(PAIRS.c.record_type_id == record_type_id, PAIRS.c.type_b == record_type_id)


def public_pairs(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, rows: Sequence[Any]
) -> list[dict[str, Any]]:
    """Pairs with both records loaded from their own types."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        wanted[row["record_type_id"]].add(row["record_a"])
        wanted[row["type_b"] or row["record_type_id"]].add(row["record_b"])
    types = {type_id: _type(runtime, acc, rt, type_id) for type_id in wanted}
    loaded: dict[int, dict[int, dict[str, Any]]] = {}
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        for type_id, ids in wanted.items():
            t = types[type_id]
            if t is None:
                loaded[type_id] = {}
                continue
            found = conn.execute(select(t.table).where(t.table.c.id.in_(ids))).mappings().all()
            loaded[type_id] = {r["id"]: r for r in load_records(conn, t, found)}
    items = []
    for row in rows:
        a_type, b_type = row["record_type_id"], row["type_b"] or row["record_type_id"]
        rt_a, rt_b = types[a_type] or rt, types[b_type] or rt
        items.append(public_pair(rt_a, rt_b, row, loaded[a_type], loaded[b_type]))
    return items


def _type(runtime: Runtime, acc: Access, rt: RecordTypeDef, type_id: int) -> RecordTypeDef | None:
    if type_id == rt.id:
        return rt
    try:
        return get_type(runtime, acc, type_id)
    except NotFound:  # deleted since the pair was queued
        return None


def public_pair(
    rt_a: RecordTypeDef,
    rt_b: RecordTypeDef,
    row: Any,
    a_by_id: dict[int, dict[str, Any]],
    b_by_id: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """A pair as the queue shows it; each side names its record type, and the differences
    are the fields both types have (by key) whose values differ."""
    a, b = _side(rt_a, a_by_id.get(row["record_a"])), _side(rt_b, b_by_id.get(row["record_b"]))
    keys_b = {f.key for f in rt_b.fields}
    differ = [
        f.key
        for f in rt_a.fields
        if a is not None
        and b is not None
        and f.key in keys_b
        and a["fields"].get(f.key) != b["fields"].get(f.key)
    ]
    return {
        "id": row["id"],
        "score": row["score"],
        "reasons": row["reasons"],
        "found_by": row["found_by"],
        "status": row["status"],
        "a": a,
        "b": b,
        "differences": differ,
        "cross_type": rt_a.id != rt_b.id,
    }


def _side(rt: RecordTypeDef, record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {**record, "record_type": rt.id, "record_type_name": rt.name}


def scan(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> dict[str, int]:
    """Queue every pair of records sharing a key of a span of ``rt``, one of them of ``rt``
    (exact rules only: a shared key is the match)."""
    compared = queued = 0
    for span in rt.spans:
        table = span.keys_table
        with transaction(runtime.data_engine(acc.workspace_id)) as conn:
            rows = conn.execute(
                select(table.c.key, table.c.record_type_id, table.c.record_id).order_by(
                    table.c.key, table.c.record_type_id, table.c.record_id
                )
            ).all()
        groups: dict[str, list[span_keys.Holder]] = defaultdict(list)
        for key, type_id, record_id in rows:
            groups[key].append(span_keys.Holder(type_id, record_id, False))
        found: list[tuple[int, Candidate]] = []
        for holders in groups.values():
            pairs = (
                combinations(holders, 2)
                if len(holders) <= GROUP_LIMIT
                else ((holders[0], h) for h in holders[1:])
            )
            for x, y in pairs:
                if rt.id not in {x.record_type_id, y.record_type_id}:
                    continue
                mine, other = (x, y) if x.record_type_id == rt.id else (y, x)
                compared += 1
                same = other.record_type_id == rt.id
                reason = span_keys.exists_message(span, other)
                candidate = Candidate(
                    other.record_id,
                    span.rule.name,
                    1.0,
                    [reason],
                    None if same else other.record_type_id,
                )
                found.append((mine.record_id, candidate))
        with transaction(runtime.control, write=True) as control:
            queued += queue_pairs(control, rt, found, acc.principal)
    return {"compared": compared, "queued": queued}


def open_pairs_of(conn: Connection, rt: RecordTypeDef, record_id: int) -> list[dict[str, Any]]:
    """The pairs still to review that hold a record, each with the other record (its type and
    id) and the reasons: what the record page warns about ("a Contact with this email
    exists: #12")."""
    mine_a = (PAIRS.c.record_type_id == rt.id) & (PAIRS.c.record_a == record_id)
    mine_b = (
        (PAIRS.c.type_b == rt.id) | ((PAIRS.c.record_type_id == rt.id) & (PAIRS.c.type_b == 0))
    ) & (PAIRS.c.record_b == record_id)
    rows = conn.execute(
        select(PAIRS)
        .where(PAIRS.c.status == "open", mine_a | mine_b)
        .order_by(PAIRS.c.score.desc(), PAIRS.c.id)
        .limit(20)
    ).mappings()
    found = []
    for row in rows:
        type_b = row["type_b"] or row["record_type_id"]
        a_is_me = row["record_type_id"] == rt.id and row["record_a"] == record_id
        other_type, other_id = (
            (type_b, row["record_b"]) if a_is_me else (row["record_type_id"], row["record_a"])
        )
        found.append(
            {"pair": row["id"], "type": other_type, "record": other_id, "reasons": row["reasons"]}
        )
    return found
