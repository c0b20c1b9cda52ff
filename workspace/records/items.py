"""Turning request bodies into write items: creates, updates, and upserts matched on a
unique field or unique combination (the unique index decides what "the same" is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from workspace.db import Tx
from workspace.errors import ValidationFailed
from workspace.principal import Access
from workspace.records.write_items import Item
from workspace.records.writes import existing_keys, unique_key
from workspace.schema.fields import FieldDef, ValueContext
from workspace.schema.record_values import Parsed, parse_values, to_columns
from workspace.schema.tables import RecordTypeDef

SHAPE = 'each item must be {"fields": {...}}'


def create_item(rt: RecordTypeDef, acc: Access, index: int, fields: Any) -> Item:
    return Item(index, parse_values(rt, fields, ValueContext(acc.phone_region), partial=False))


def text_item(rt: RecordTypeDef, acc: Access, index: int, texts: Mapping[str, str]) -> Item:
    """A create from values written for people, as an import's cells are."""
    ctx = ValueContext(acc.phone_region)
    return Item(index, parse_values(rt, texts, ctx, partial=False, text=True))


def bulk_create_item(rt: RecordTypeDef, acc: Access, index: int, item: Any) -> Item:
    if not isinstance(item, Mapping) or set(item) != {"fields"}:
        return Item(index, Parsed(errors={"item": SHAPE}))
    return create_item(rt, acc, index, item["fields"])


def update_item(
    rt: RecordTypeDef, acc: Access, index: int, record_id: int, fields: Any, version: int | None
) -> Item:
    parsed = parse_values(rt, fields, ValueContext(acc.phone_region), partial=True)
    return Item(index, parsed, record_id=record_id, expected_version=version)


def bulk_update_item(rt: RecordTypeDef, acc: Access, index: int, item: Any) -> Item:
    if not isinstance(item, Mapping) or set(item) - {"id", "version", "fields"}:
        return Item(
            index, Parsed(errors={"item": 'each item must be {"id": ..., "fields": {...}}'})
        )
    record_id, version = item.get("id"), item.get("version")
    if not _is_id(record_id) or (version is not None and not _is_id(version)):
        return Item(index, Parsed(errors={"id": "must be a record id (and version a number)"}))
    return update_item(rt, acc, index, record_id, item.get("fields", {}), version)


def _is_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def match_fields(rt: RecordTypeDef, match_on: Any) -> tuple[FieldDef, ...]:
    """``match_on`` must name a unique field or exactly the fields of a unique combination."""
    if isinstance(match_on, str):
        match_on = [match_on]
    if not isinstance(match_on, list) or not match_on:
        raise ValidationFailed.single(
            "match_on", "must name a unique field or a unique combination"
        )
    chosen = []
    for key in match_on:
        f = rt.field_by_key(str(key))
        if f is None:
            raise ValidationFailed.single("match_on", f"{key!r} is not a field of this record type")
        chosen.append(f)
    ids = {f.id for f in chosen}
    if (len(chosen) == 1 and chosen[0].unique) or any(
        set(c.field_ids) == ids for c in rt.unique_together
    ):
        return tuple(chosen)
    raise ValidationFailed.single(
        "match_on", "must be a unique field or the fields of a unique combination"
    )


def upsert_items(
    rt: RecordTypeDef, acc: Access, tx: Tx, raw_items: list[Any], match: tuple[FieldDef, ...]
) -> list[Item]:
    ctx = ValueContext(acc.phone_region)
    parsed = []
    for raw in raw_items:
        if not isinstance(raw, Mapping) or set(raw) != {"fields"}:
            parsed.append(Parsed(errors={"item": SHAPE}))
            continue
        one = parse_values(rt, raw["fields"], ctx, partial=True)
        for f in match:
            if one.values.get(f.key) is None and f.key not in one.errors:
                one.errors[f.key] = "is needed to match existing records (match_on)"
        parsed.append(one)
    existing = _existing_matches(tx, rt, match, parsed)
    items = []
    for index, one in enumerate(parsed):
        key = _match_key(rt, match, one)
        record_id = existing.get(key) if key is not None else None
        if record_id is None and not one.errors:
            for f in rt.fields:
                if f.required and f.key not in one.values:
                    one.errors[f.key] = "is required"
        items.append(Item(index, one, record_id=record_id))
    return items


def _match_key(
    rt: RecordTypeDef, match: tuple[FieldDef, ...], parsed: Parsed
) -> tuple[Any, ...] | None:
    if parsed.errors:
        return None
    row = to_columns(rt, parsed.values)
    return unique_key(row, match)


def _existing_matches(
    tx: Tx, rt: RecordTypeDef, match: tuple[FieldDef, ...], parsed: list[Parsed]
) -> dict[tuple[Any, ...], int]:
    keys = {k for p in parsed if (k := _match_key(rt, match, p)) is not None}
    return existing_keys(tx.data, rt, match, keys) if keys else {}
