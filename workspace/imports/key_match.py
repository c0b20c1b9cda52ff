"""An import's own match on a key field: a row whose value of the chosen field equals a
record on file's goes to that record by the import's policy, whether or not the record type
has dedupe rules (a team's first import usually comes before its first rule).

Values are compared as the field type stores them: an email lower-cased, a phone in E.164,
so rows differing only in the case of an address are one customer. Two rows of one file
with the same key are one customer too: the later waits for the next batch, by when the
record the first wrote is on file and the later fills it by the policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from workspace.db import Tx
from workspace.errors import ValidationFailed
from workspace.principal import Access
from workspace.records.items import text_item
from workspace.records.write_items import Item
from workspace.records.writes import existing_keys, unique_key
from workspace.schema.fields import FieldDef, ValueContext
from workspace.schema.record_values import Parsed, parse_values, to_columns, with_links
from workspace.schema.tables import RecordTypeDef

#: The policies that say what happens to a row matching a record on file by the key.
KEY_POLICIES = ("update", "fill_empty", "refuse")

Key = tuple[Any, ...]


def matchable(rt: RecordTypeDef) -> list[FieldDef]:
    """The fields a row can be matched on: those holding one value in the record's row."""
    return [f for f in rt.fields if not f.type.outside_record and not f.type.uses_link_table]


def checked_key(rt: RecordTypeDef, match_on: Any, policy: str) -> FieldDef | None:
    """The field named by ``match_on`` (blank: none), or a 422 naming ``match_on``."""
    if match_on in (None, ""):
        return None
    found = rt.field_by_key(match_on) if isinstance(match_on, str) else None
    if found is None or found not in matchable(rt):
        raise ValidationFailed.single(
            "match_on", f"{match_on!r} is not a field of {rt.name} that rows can be matched on"
        )
    if policy not in KEY_POLICIES:
        raise ValidationFailed.single(
            "match_on",
            "needs a policy saying what happens to the rows that match: "
            "update, fill_empty or refuse",
        )
    return found


def key_of(rt: RecordTypeDef, acc: Access, f: FieldDef, texts: Mapping[str, str]) -> Key | None:
    """A row's key as the field type stores it; None when blank or not a valid value (the
    row is then written, or refused, like any other)."""
    if f.key not in texts:
        return None
    ctx = ValueContext(acc.phone_region)
    parsed = parse_values(rt, {f.key: texts[f.key]}, ctx, partial=True, text=True)
    return None if parsed.errors else unique_key(to_columns(rt, parsed.values), (f,))


def first_of_each_key(keys: Sequence[Key | None]) -> list[int]:
    """The rows this batch writes: all but those whose key an earlier row of it holds."""
    seen: set[Key] = set()
    chosen = []
    for index, key in enumerate(keys):
        if key is None or key not in seen:
            chosen.append(index)
        if key is not None:
            seen.add(key)
    return chosen


def build_items(
    rt: RecordTypeDef,
    acc: Access,
    tx: Tx,
    f: FieldDef,
    policy: str,
    rows: Sequence[Mapping[str, str]],
    keys: Sequence[Key | None],
) -> list[Item]:
    """The write items of a batch (keys unique within it): an update of the record on file
    holding a row's key, by the policy, or a create."""
    held = existing_keys(tx.data, rt, (f,), {k for k in keys if k is not None})
    ctx = ValueContext(acc.phone_region)
    filled = _filled_fields(tx, rt, set(held.values())) if policy == "fill_empty" else {}
    items = []
    for index, (texts, key) in enumerate(zip(rows, keys, strict=True)):
        record_id = held.get(key) if key is not None else None
        if record_id is None:
            items.append(text_item(rt, acc, index, texts))
        elif policy == "refuse":
            why = f"matches record {record_id} on file (same {f.name})"
            items.append(Item(index, Parsed(errors={f.key: why})))
        else:
            kept = {k: v for k, v in texts.items() if k not in filled.get(record_id, set())}
            parsed = parse_values(rt, kept, ctx, partial=True, text=True)
            items.append(Item(index, parsed, record_id=record_id))
    return items


def _filled_fields(tx: Tx, rt: RecordTypeDef, ids: set[int]) -> dict[int, set[str]]:
    """The keys of the fields that hold a value, per record: fill_empty leaves those be."""
    if not ids:
        return {}
    found = tx.data.execute(select(rt.table).where(rt.table.c.id.in_(sorted(ids)))).mappings()
    return {
        row["id"]: {
            f.key
            for f in rt.fields
            if not f.type.outside_record and not f.type.is_empty(f.type.from_row(f, row))
        }
        for row in with_links(tx.data, rt, found.all())
    }
