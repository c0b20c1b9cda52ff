"""Dedupe across record types on every write: the keys of a spanning rule, and each type's mode.

A rule across types (Lead and Contact by email) keeps the keys of all its types in one key
space, ``dks_<span>``, each row with its record's type. The keys of types whose mode refuses
or merges duplicates (``block``, ``update``) go in *enforced*, and the unique index over
(key, enforced) holds at most one of them per key, whatever type it is: two processes
creating the same Contact, or a Contact and a Customer of one span, cannot both win, exactly
as within one type (the loser's transaction fails, is retried, and then sees the winner).
Keys of ``warn`` types (Lead) are stored unenforced: a lookup finds them, nothing is refused.

A record is refused or merged only by a holder of an enforcing type; a holder of a ``warn``
type is named as a possible duplicate (the review queue gets the cross-type pair), so a
Contact is created even though a Lead with its email exists, and the Lead's creation says
"a Contact with this email exists: #12".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from workspace.errors import DuplicateFound
from workspace.matching import RuleContext
from workspace.records.match_keys import Candidate, Verdict, stored_key
from workspace.records.write_items import Item
from workspace.schema.tables import RecordTypeDef, RuleDef, SpanDef


@dataclass(frozen=True)
class Holder:
    """A record holding a key of a span."""

    record_type_id: int
    record_id: int
    enforced: bool


def keys_for(
    rt: RecordTypeDef, span: SpanDef, values: Mapping[str, Any], ctx: RuleContext
) -> set[str]:
    """A record's stored keys under a span, read through this type's field mapping."""
    fields = [rt.field_by_id(fid) for fid in span.me.field_ids]
    raw = span.rule.keys([values.get(f.key) if f is not None else None for f in fields], ctx)
    return {stored_key(k) for k in raw if k}


def holders(conn: Connection, span: SpanDef, keys: Iterable[str]) -> dict[str, list[Holder]]:
    """Every record, of any spanned type, holding each of ``keys`` (keys a deleted type
    left behind neither match nor block anyone)."""
    members = {m.record_type_id for m in span.members}
    table = span.keys_table
    wanted = sorted(set(keys))
    found: dict[str, list[Holder]] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(table).where(table.c.key.in_(wanted[start : start + 500])).order_by("record_id")
        )
        for row in rows:
            if row.record_type_id not in members:
                continue
            holder = Holder(row.record_type_id, row.record_id, bool(row.enforced))
            found.setdefault(row.key, []).append(holder)
    return found


def decide(
    conn: Connection,
    rt: RecordTypeDef,
    items: list[Item],
    verdicts: dict[int, Verdict],
    ctx: RuleContext,
    values: Mapping[int, Mapping[str, Any]],
) -> None:
    """Apply each span's mode for this type to the items still open after the type's own
    rules: refuse (an item's error), merge into a record of this type, or name candidates."""
    for span in rt.spans:
        active = [
            i
            for i in items
            if i.error is None
            and _open(verdicts[i.index])
            and _mode(span, i) != "off"
            and _touches(rt, span, i)
        ]
        keys = {i.index: keys_for(rt, span, values[i.index], ctx) for i in active}
        held = holders(conn, span, {k for ks in keys.values() for k in ks})
        leaders: dict[str, Item] = {}
        for item in active:
            others = _others(held, keys[item.index], rt.id, item.record_id)
            earlier = next((leaders[k] for k in sorted(keys[item.index]) if k in leaders), None)
            _judge(rt, span, item, verdicts[item.index], others, earlier)
            if span.me.enforced and item.is_create:
                for k in keys[item.index]:
                    leaders.setdefault(k, item)


def _others(
    held: Mapping[str, list[Holder]], keys: set[str], type_id: int, record_id: int | None
) -> list[Holder]:
    seen: dict[tuple[int, int], Holder] = {}
    for k in sorted(keys):
        for h in held.get(k, ()):
            if (h.record_type_id, h.record_id) != (type_id, record_id):
                seen.setdefault((h.record_type_id, h.record_id), h)
    return sorted(seen.values(), key=lambda h: (not h.enforced, h.record_id))


def _judge(
    rt: RecordTypeDef,
    span: SpanDef,
    item: Item,
    verdict: Verdict,
    others: list[Holder],
    earlier: Item | None,
) -> None:
    mode = _mode(span, item)
    enforcing = [h for h in others if h.enforced]
    if mode in {"block", "update"} and enforcing:
        first = enforcing[0]
        if mode == "update" and first.record_type_id == rt.id:
            verdict.merged_into, verdict.merge_rule = first.record_id, merge_rule(span)
            return
        item.error = duplicate_error(rt, span, first)
        return
    if mode in {"block", "update"} and earlier is not None and span.me.enforced:
        if mode == "update":
            verdict.follows, verdict.merge_rule = earlier.index, merge_rule(span)
            return
        item.error = DuplicateFound(
            f"the same customer as item {earlier.index} of this batch ({span.rule.label})",
            fields={f: f"matches item {earlier.index} of this batch" for f in _keys(rt, span)},
            details={"item": earlier.index, "rule": span.rule.name},
        )
        return
    verdict.candidates.extend(_candidate(rt, span, h) for h in others)


def _candidate(rt: RecordTypeDef, span: SpanDef, holder: Holder) -> Candidate:
    same = holder.record_type_id == rt.id
    return Candidate(
        holder.record_id,
        span.rule.name,
        1.0,
        [exists_message(span, holder)],
        None if same else holder.record_type_id,
    )


def exists_message(span: SpanDef, holder: Holder) -> str:
    """What a person reads: "a Contact with this email exists: #12"."""
    member = span.member(holder.record_type_id)
    name = member.name if member is not None else f"record type {holder.record_type_id}"
    return f"a {name} with this {span.rule.label.lower()} exists: #{holder.record_id}"


def duplicate_error(rt: RecordTypeDef, span: SpanDef, holder: Holder) -> DuplicateFound:
    message = exists_message(span, holder)
    return DuplicateFound(
        f"{message}: this customer is already on file",
        fields={key: message for key in _keys(rt, span)},
        details={
            "record": holder.record_id,
            "record_type": holder.record_type_id,
            "rule": span.rule.name,
        },
    )


def merge_rule(span: SpanDef) -> RuleDef:
    """A span's ``update`` mode merges like a type's rule with the default policy (fill
    empty fields, never overwrite what is on file)."""
    me = span.me
    return RuleDef(span.id, span.rule, me.field_ids, me.on_create, me.on_update, {})


def _mode(span: SpanDef, item: Item) -> str:
    return span.me.on_create if item.is_create else span.me.on_update


def _open(verdict: Verdict) -> bool:
    return verdict.merged_into is None and verdict.follows is None


def _touches(rt: RecordTypeDef, span: SpanDef, item: Item) -> bool:
    return item.is_create or any(k in item.parsed.values for k in _keys(rt, span))


def _keys(rt: RecordTypeDef, span: SpanDef) -> list[str]:
    return [f.key for fid in span.me.field_ids if (f := rt.field_by_id(fid)) is not None]


# ---- keeping the key space current -----------------------------------------------------


def write_keys(
    conn: Connection,
    rt: RecordTypeDef,
    records: Sequence[dict[str, Any]],
    ctx: RuleContext,
    *,
    created: Iterable[int] = (),
    lenient: bool = False,
) -> None:
    """Replace the keys of ``records`` (API-shaped, as now stored) in every span of the type.

    As within a type: a new record of an enforcing type stores its keys enforced, so the
    unique index referees a race; an edit where the type does not block edits keeps a key
    someone else holds unenforced, and a key the record already had keeps its flag.
    """
    strict = set(created)
    ids = [r["id"] for r in records]
    for span in rt.spans:
        if not ids:
            return
        table, me = span.keys_table, span.me
        mine = (table.c.record_type_id == rt.id) & table.c.record_id.in_(ids)
        before = {
            (row.record_id, row.key): row.enforced
            for row in conn.execute(
                select(table.c.record_id, table.c.key, table.c.enforced).where(mine)
            )
        }
        conn.execute(delete(table).where(mine))
        rows = []
        for record in records:
            for key in keys_for(rt, span, record["fields"], ctx):
                enforced = before.get((record["id"], key), True if me.enforced else None)
                loose = lenient or (record["id"] not in strict and me.on_update != "block")
                rows.append((record["id"], key, enforced, loose))
        _drop_left_behind(conn, span, {key for _, key, _, _ in rows})
        taken = _enforced_keys(conn, span, {key for _, key, on, loose in rows if on and loose})
        values = [
            {
                "key": key,
                "record_type_id": rt.id,
                "record_id": record_id,
                "enforced": None if loose and key in taken else enforced,
            }
            for record_id, key, enforced, loose in rows
        ]
        if values:
            conn.execute(insert(table), values)


def _drop_left_behind(conn: Connection, span: SpanDef, keys: set[str]) -> None:
    """Keys of a type no longer in the span (deleted) would hold the unique index against
    the new ones: they go first."""
    if not keys:
        return
    table = span.keys_table
    members = sorted(m.record_type_id for m in span.members)
    conn.execute(
        delete(table).where(table.c.key.in_(sorted(keys)), table.c.record_type_id.not_in(members))
    )


def _enforced_keys(conn: Connection, span: SpanDef, keys: set[str]) -> set[str]:
    if not keys:
        return set()
    table = span.keys_table
    query = select(table.c.key).where(table.c.enforced.is_(True), table.c.key.in_(sorted(keys)))
    return set(conn.execute(query).scalars())


def drop_keys(conn: Connection, rt: RecordTypeDef, record_ids: Sequence[int]) -> None:
    """A deleted record matches nothing in any span (restoring writes its keys again)."""
    for span in rt.spans:
        if record_ids:
            table = span.keys_table
            conn.execute(
                delete(table).where(
                    table.c.record_type_id == rt.id, table.c.record_id.in_(record_ids)
                )
            )


def find(
    conn: Connection,
    rt: RecordTypeDef,
    values: Mapping[str, Any],
    ctx: RuleContext,
    *,
    exclude: int | None = None,
) -> list[tuple[SpanDef, Candidate]]:
    """Records of any spanned type sharing a key with ``values`` (the duplicate check)."""
    found: list[tuple[SpanDef, Candidate]] = []
    for span in rt.spans:
        keys = keys_for(rt, span, values, ctx)
        others = _others(holders(conn, span, keys), keys, rt.id, exclude)
        found.extend((span, _candidate(rt, span, h)) for h in others)
    return found


def refuse_restore(
    conn: Connection, rt: RecordTypeDef, values: Mapping[str, Any], ctx: RuleContext, record_id: int
) -> None:
    """Restoring a record of an enforcing type whose customer came back on file meanwhile
    (in any enforcing type of a span): one of them must go first."""
    for span in rt.spans:
        if not span.me.enforced:
            continue
        keys = keys_for(rt, span, values, ctx)
        others = _others(holders(conn, span, keys), keys, rt.id, record_id)
        first = next((h for h in others if h.enforced), None)
        if first is not None:
            raise duplicate_error(rt, span, first)
