"""Remote values in and out: what a tool sends, as field values (or why not), and field
values as a tool takes them.

A tool's payload is input like any other, and worse: nobody typed it into our forms. Each
value goes through its field type's own parsing (``parse_text`` for text, as an import's
cells), and two checks come first, the same for every connector: no value longer than
:data:`MAX_CHARS` (a 1 MB name is a broken export, not a name) and no HTML markup (a script
tag in a name is an attack on someone's screen, somewhere). A row with such a value is kept
as rejected, naming the property and the field, and nothing of it is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from workspace.connectors.mappings import MappingDef
from workspace.schema.fields import FieldDef, FieldError, ValueContext
from workspace.schema.tables import RecordTypeDef

#: Longest text taken from a tool, whatever the field would hold.
MAX_CHARS = 10_000
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")


@dataclass
class Incoming:
    """One remote row's pulled values by field key (parsed), the raw values of every mapped
    property (the new baseline), and why the row cannot be taken, if it cannot."""

    values: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def incoming(
    rt: RecordTypeDef, mapping: MappingDef, remote: Mapping[str, Any], ctx: ValueContext
) -> Incoming:
    """Parse the mapped properties of one remote row (all are kept as the baseline; those
    the mapping pulls are parsed into field values)."""
    found = Incoming()
    for p in mapping.properties:
        f = rt.field_by_id(p.field_id)
        if f is None:
            continue
        raw = remote.get(p.property)
        found.raw[p.property] = raw
        if not p.pulls:
            continue
        reason = screen(raw)
        if reason is None:
            try:
                found.values[f.key] = parse(f, raw, ctx)
                continue
            except FieldError as exc:
                reason = str(exc)
        found.fields[f.key] = f"{reason} (from {p.property})"
    if found.fields:
        found.problem = "; ".join(f"{k}: {v}" for k, v in list(found.fields.items())[:5])
    return found


def screen(raw: Any) -> str | None:
    """Why a value is not taken from a tool at all, or None."""
    if isinstance(raw, str):
        if len(raw) > MAX_CHARS:
            return f"is {len(raw):,} characters long; at most {MAX_CHARS:,} are taken from a tool"
        if MARKUP.search(raw):
            return "contains HTML markup, which is not taken from a tool"
    elif raw is not None and not isinstance(raw, bool | int | float):
        return f"is a {type(raw).__name__}, not a value"
    return None


def parse(f: FieldDef, raw: Any, ctx: ValueContext) -> Any:
    if isinstance(raw, str):
        return f.type.parse_text(f, raw, ctx)
    return f.type.parse(f, raw, ctx)


def same(f: FieldDef, ours: Any, raw: Any, ctx: ValueContext) -> bool:
    """Whether the workspace's value and a tool's raw value mean the same (a phone number
    in another format is the same number); an unreadable remote value is not the same."""
    if screen(raw) is not None:
        return False
    try:
        theirs = parse(f, raw, ctx)
    except FieldError:
        return False
    if f.type.is_empty(ours) and f.type.is_empty(theirs):
        return True
    return bool(ours == theirs)


def to_remote(value: Any) -> Any:
    """A field value as a tool takes it: text, or None to clear."""
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | float):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value.get('currency') or ''}".strip()
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)
