"""A stored submission's payload as the team reads it: the form's labels, short values
(a file as its name and size: the payload keeps a file's facts, never its bytes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace.files.content import human_size
from workspace.forms.intake import HONEYPOT
from workspace.schema.tables import RecordTypeDef

LONGEST = 80


def summary(
    payload: Mapping[str, Any], form: Mapping[str, Any], rt: RecordTypeDef | None
) -> list[tuple[str, str]]:
    """(label, value) for each non-empty posted value: the form's label where the key is
    one of its fields, the type's field name otherwise, the raw key as a last resort."""
    labels = {f.key: f.name for f in rt.fields} if rt is not None else {}
    labels.update({f["key"]: f["label"] for f in form["config"]["fields"]})
    labels[HONEYPOT] = "Trap field (bots only)"
    order = {f["key"]: i for i, f in enumerate(form["config"]["fields"])}
    keys = sorted(payload, key=lambda k: order.get(k.partition(".")[0], len(order)))
    found = []
    for key in keys:
        value = payload[key]
        if key.startswith("_"):
            continue
        base, _, part = key.partition(".")
        values = [_text(v) for v in value] if isinstance(value, list) else [str(value)]
        text = ", ".join(v for v in values if v.strip() and v != "false")
        if not text:
            continue
        label = labels.get(base, base) + (f" ({part})" if part else "")
        found.append((label, text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"))
    return found


def _text(value: Any) -> str:
    if isinstance(value, Mapping) and "name" in value:
        return f"{value['name']} ({human_size(int(value.get('size') or 0))})"
    return str(value)
