"""Which value survives when two records of the same customer are merged.

Each field follows its ``survivorship`` option, or a default that loses nothing: the
survivor's value unless it is empty (most complete), and for multi-valued fields the union.
"most_recent" takes the value of the record changed last; "most_restrictive" is for consent:
a ticked checkbox (unsubscribed, do not call) wins, and of two choices the one listed later
(order choices from least to most restrictive) wins. A field marked restrictive always keeps
the more restrictive value of the two (records/restrictive.py: for a consent checkbox, the
unticked one); a person's override that would loosen it is refused by the write path.
A person can override any other field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace.errors import ValidationFailed
from workspace.records import restrictive
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef


def pick(
    rt: RecordTypeDef,
    survivor: Mapping[str, Any],
    loser: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Values the survivor takes (only those that differ from what it has).

    ``survivor`` and ``loser`` are records in the API shape. ``overrides`` maps field keys to
    "survivor", "loser" or ``{"value": ...}``.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - {f.key for f in rt.fields}
    if unknown:
        raise ValidationFailed(
            "unknown fields", fields={k: "no such field in this record type" for k in unknown}
        )
    newer = loser if loser["updated_at"] > survivor["updated_at"] else survivor
    chosen = {}
    for f in rt.fields:
        mine, theirs = survivor["fields"].get(f.key), loser["fields"].get(f.key)
        if f.key in overrides:
            value = _override(f, overrides[f.key], mine, theirs)
        else:
            value = _default(f, mine, theirs, newer["fields"].get(f.key))
        if value != mine:
            chosen[f.key] = value
    return chosen


def _override(f: FieldDef, choice: Any, mine: Any, theirs: Any) -> Any:
    if choice == "survivor":
        return mine
    if choice == "loser":
        return theirs
    if isinstance(choice, Mapping) and set(choice) == {"value"}:
        return choice["value"]
    raise ValidationFailed.single(f.key, 'must be "survivor", "loser" or {"value": ...}')


def _default(f: FieldDef, mine: Any, theirs: Any, newest: Any) -> Any:
    empty = f.type.is_empty
    if f.type.uses_link_table or f.type.outside_record:
        return list(mine or []) + [v for v in theirs or [] if v not in (mine or [])]
    if restrictive.is_restrictive(f):
        return restrictive.tightest(f, mine, theirs)
    rule = f.config.get("survivorship", "most_complete")
    if rule == "most_restrictive":
        return _most_restrictive(f, mine, theirs)
    if rule == "most_recent" and not empty(newest):
        return newest
    return theirs if empty(mine) else mine


def _most_restrictive(f: FieldDef, mine: Any, theirs: Any) -> Any:
    if f.type.name == "checkbox":
        return bool(mine) or bool(theirs)
    order = [c["label"] for c in f.config.get("choices", [])]
    if order and mine in order and theirs in order:
        return mine if order.index(mine) >= order.index(theirs) else theirs
    return theirs if f.type.is_empty(mine) else mine


def rule_of(f: FieldDef) -> str:
    """The default a field follows in a merge: "union" for multi-valued fields, else its
    ``survivorship`` option ("most_complete" unless set); what a merge screen explains."""
    if f.type.uses_link_table or f.type.outside_record:
        return "union"
    if restrictive.is_restrictive(f):
        return "restrictive"
    return str(f.config.get("survivorship", "most_complete"))


def preview(
    rt: RecordTypeDef,
    survivor: Mapping[str, Any],
    loser: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every value the survivor would have after the merge, without writing anything
    (overrides are not parsed yet: a typed value shows as typed)."""
    return {**survivor["fields"], **pick(rt, survivor, loser, overrides)}
