"""Conditions of an automation, tested when a run starts.

The filter is the records API's own (``schema.queries.parse_filter``) with the record's id
added, run in SQL against the record as it is now, so a condition means exactly what the same
filter means in a list of records. "Changed" tests read the triggering event's changes: the
field changed, optionally from and to given values (as the activity history shows them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workspace.db import transaction
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import queries
from workspace.schema.fields import ValueContext
from workspace.schema.tables import RecordTypeDef


def changed(tests: Sequence[Mapping[str, Any]], changes: Sequence[Mapping[str, Any]]) -> bool:
    """Every test holds for the event's changes."""
    by_field = {c.get("field"): c for c in changes}
    for test in tests:
        change = by_field.get(test["field"])
        if change is None:
            return False
        if "from" in test and change.get("old") != test["from"]:
            return False
        if "to" in test and change.get("new") != test["to"]:
            return False
    return True


def record_matches(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int | None, tree: Any
) -> bool:
    """Whether the live record ``record_id`` passes the filter ``tree``."""
    if tree is None:
        return True
    if record_id is None:
        return False
    where = queries.parse_filter(rt, tree, runtime.field_types, ValueContext(acc.phone_region))
    query = (
        queries.base_select(rt, "exclude")
        .with_only_columns(rt.table.c.id)
        .where(rt.table.c.id == record_id, where)
    )
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        return conn.execute(query).first() is not None


def hold(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    conditions: Mapping[str, Any],
    record_id: int | None,
    changes: Sequence[Mapping[str, Any]],
) -> bool:
    if not changed(conditions.get("changed", ()), changes):
        return False
    return record_matches(runtime, acc, rt, record_id, conditions.get("filter"))
