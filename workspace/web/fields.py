"""Record values between HTML forms and the services.

Browsers send forms as strings, drop empty inputs and send unchecked checkboxes not at all,
so every record form carries ``_fields`` (the keys it edits): a key listed there but absent
from the body means "cleared". Values then go to the same service calls as the API's, which
validate them; nothing here decides whether a value is acceptable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: Field types whose inputs send several values (checkbox groups, multi-selects).
MULTI = {"multiple_choice", "relation"}


def edited_keys(rt: RecordTypeDef, form: Mapping[str, Any]) -> list[str]:
    """The keys listed in ``_fields`` (one comma-separated value, or several) that are fields
    of ``rt`` a form can set, in the type's field order (a file field's files are uploaded
    by a form of their own)."""
    listed = {key.strip() for part in _all(form.get("_fields")) for key in part.split(",")}
    return [f.key for f in rt.fields if f.key in listed and not f.type.outside_record]


def form_values(rt: RecordTypeDef, form: Mapping[str, Any]) -> dict[str, Any]:
    """API-shaped values of the fields the form edits."""
    values = {}
    for key in edited_keys(rt, form):
        f = rt.field_by_key(key)
        if f is not None:
            values[key] = field_value(f, form)
    return values


def field_value(f: FieldDef, form: Mapping[str, Any]) -> Any:
    """One field's value as the API takes it; empty input means ``None`` (or ``[]``)."""
    raw = form.get(f.key)
    name = f.type.name
    if name == "checkbox":
        # A hidden "false" precedes the box, so a checked box posts ["false", "true"].
        return "true" in _all(raw)
    if name in MULTI:
        values = [v.strip() for v in _all(raw) if v.strip()]
        return [int(v) if v.isdigit() else v for v in values] if name == "relation" else values
    if name == "money":
        amount = _last(form.get(f.key + ".amount"))
        if amount is None:
            return None
        currency = _last(form.get(f.key + ".currency")) or f.config.get("currency")
        return {"amount": amount, "currency": currency.upper() if currency else None}
    if name == "user":
        member = _last(raw)
        return int(member) if member is not None and member.isdigit() else member
    return _last(raw)


def _last(raw: Any) -> str | None:
    """The last of a key's values without surrounding blanks; ``None`` when blank."""
    values = _all(raw)
    last = values[-1].strip() if values else ""
    return last or None


def _all(raw: Any) -> list[str]:
    if raw is None:
        return []
    return [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
