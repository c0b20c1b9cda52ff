"""What the duplicates screen shows of the rules across types a record type is part of, and
how its add form becomes the ``spans`` service's spec."""

from __future__ import annotations

from typing import Any

from workspace.dedupe import spans
from workspace.dedupe.pages.rules import MODES, last
from workspace.errors import ValidationFailed
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema.definitions import list_types
from workspace.schema.tables import RecordTypeDef

NOTICES = {
    "span-added": "The rule across types was added. Records already on file were checked: "
    "pairs across the types are in the review queue.",
    "span-saved": "The modes were saved.",
    "span-deleted": "The rule across types was deleted.",
}


def spans_state(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, add: dict[str, Any] | None
) -> dict[str, Any]:
    """What ``_spans.html`` reads: the spans of this type, the other types and their fields,
    the exact rules, and a refused add form's input and errors."""
    mine = [s for s in spans.list_spans(runtime, acc) if rt.id in {t["type"] for t in s["types"]}]
    for span in mine:
        known = span["rule"] in runtime.dedupe_rules
        span["label"] = runtime.dedupe_rules.get(span["rule"]).label if known else span["rule"]
    others = [t for t in list_types(runtime, acc) if t["id"] != rt.id]
    exact = [runtime.dedupe_rules.get(n) for n in runtime.dedupe_rules.names()]
    add = add or {}
    return {
        "spans": mine,
        "span_others": others,
        "span_rules": [r for r in exact if not r.fuzzy],
        "span_modes": MODES,
        "span_posted": add.get("posted", {}),
        "span_errors": add.get("errors", {}),
        "span_notice": add.get("notice"),
    }


def spec_from(rt: RecordTypeDef, data: dict[str, Any]) -> dict[str, Any]:
    """The add form -> the service's spec: this type and one other, one field each (the
    other field's option carries its type: ``<type id>:<field key>``)."""
    other, _, other_key = last(data, "other_field").partition(":")
    if not other.isdigit():
        raise ValidationFailed.single("other_field", "pick a field of another record type")
    return {
        "rule": last(data, "rule"),
        "types": [
            {
                "type": rt.id,
                "fields": [last(data, "my_field")],
                "on_create": last(data, "my_mode"),
                "on_update": "block" if last(data, "my_mode") in {"block", "update"} else "warn",
            },
            {
                "type": int(other),
                "fields": [other_key],
                "on_create": last(data, "other_mode"),
                "on_update": "block" if last(data, "other_mode") in {"block", "update"} else "warn",
            },
        ],
    }
