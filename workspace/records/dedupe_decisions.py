"""Dedupe decisions for a batch of write items, before anything is written.

Per rule, the keys of every item are looked up at once (one indexed query per rule and 500
keys), then each item's fate follows the rule's mode: ``block`` refuses it, ``update``
turns a create into a merge with the record on file, ``warn`` lets it through with the
candidates for the review queue. Two creates of the same customer in one batch are caught
too: the later one is refused, or folded into the earlier one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from workspace.errors import DuplicateFound
from workspace.matching import RuleContext
from workspace.records import match_keys
from workspace.records.match_keys import Candidate, Verdict
from workspace.records.write_items import Item
from workspace.schema.record_values import record_out
from workspace.schema.tables import RecordTypeDef, RuleDef


def decide(
    conn: Connection,
    rt: RecordTypeDef,
    items: list[Item],
    ctx: RuleContext,
    rules: tuple[RuleDef, ...] | None = None,
) -> dict[int, Verdict]:
    """``rules``: the type's rules as this entry path applies them (see ``Override``)."""
    verdicts = {item.index: Verdict() for item in items}
    values = {i.index: prospective(rt, i) for i in items if i.error is None}
    for rd in rt.dedupe if rules is None else rules:
        active = [
            i
            for i in items
            if i.error is None
            and _open(verdicts[i.index])
            and _mode(rd, i) != "off"
            and _touches(rt, rd, i)
        ]
        keys = {i.index: match_keys.keys_for(rt, rd, values[i.index], ctx) for i in active}
        held = match_keys.holders(conn, rt, rd, {k for ks in keys.values() for k in ks})
        leaders: dict[str, Item] = {}
        for item in active:
            mine = keys[item.index]
            others = {rid for k in mine for rid in held.get(k, ())} - {item.record_id}
            if rd.rule.fuzzy:
                found = match_keys.score_candidates(conn, rt, rd, values[item.index], others, ctx)
                verdicts[item.index].candidates.extend(found)
                continue
            earlier = next((leaders[k] for k in sorted(mine) if k in leaders), None)
            _judge(rt, rd, item, verdicts[item.index], sorted(others), earlier)
            for k in mine:
                leaders.setdefault(k, item)
    return verdicts


def _judge(
    rt: RecordTypeDef,
    rd: RuleDef,
    item: Item,
    verdict: Verdict,
    on_file: list[int],
    earlier: Item | None,
) -> None:
    mode = _mode(rd, item)
    label = f"same {rd.rule.label.lower()}"
    if on_file:
        match = Candidate(on_file[0], rd.rule.name, 1.0, [label])
        if mode == "block":
            item.error = match_keys.duplicate_error(rt, rd, match)
        elif mode == "update":
            verdict.merged_into, verdict.merge_rule = on_file[0], rd
        else:
            verdict.candidates.extend(Candidate(r, rd.rule.name, 1.0, [label]) for r in on_file)
    elif earlier is not None and item.is_create and mode in {"block", "update"}:
        if mode == "block":
            item.error = DuplicateFound(
                f"the same customer as item {earlier.index} of this batch ({rd.rule.label})",
                fields={
                    key: f"matches item {earlier.index} of this batch" for key in _keys(rt, rd)
                },
                details={"item": earlier.index, "rule": rd.rule.name},
            )
        else:
            verdict.follows, verdict.merge_rule = earlier.index, rd


def prospective(rt: RecordTypeDef, item: Item) -> dict[str, Any]:
    """The record's values as they would be after the write."""
    if item.current is None:
        return dict(item.parsed.values)
    return {**record_out(rt, item.current)["fields"], **item.parsed.values}


def _mode(rd: RuleDef, item: Item) -> str:
    return rd.on_create if item.is_create else rd.on_update


def _open(verdict: Verdict) -> bool:
    return verdict.merged_into is None and verdict.follows is None


def _touches(rt: RecordTypeDef, rd: RuleDef, item: Item) -> bool:
    """Creates always; updates only when they change a field the rule reads."""
    return item.is_create or any(k in item.parsed.values for k in _keys(rt, rd))


def _keys(rt: RecordTypeDef, rd: RuleDef) -> list[str]:
    return [f.key for fid in rd.field_ids if (f := rt.field_by_id(fid)) is not None]
