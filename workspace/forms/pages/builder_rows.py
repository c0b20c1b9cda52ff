"""The form builder's field table: one row per field of the record type, to and from HTML.

Rows post as ``f.<key>.<attr>`` (on, label, help, required, order, hidden, prefill, value,
protect; max_files and kinds for file fields); ``_keys`` lists every row, because browsers
send nothing for an unticked box. Fixed values are typed as text (or picked) and turned into
API values the same way a submitted form is, so the service checks them as it checks a
submission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workspace.forms.config import PUBLIC_TYPES
from workspace.records.file_values import FILE_FIELD_TYPE
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef
from workspace.web.fields import MULTI, field_value


@dataclass(frozen=True)
class Row:
    """One field of the type as the builder shows it."""

    field: FieldDef
    on: bool
    label: str
    help: str
    required: bool
    order: int
    hidden: bool
    prefill: str
    value: str
    protect: bool
    error: str | None = None
    #: File fields: most files per submission, and which kind (form_file_kinds.KINDS).
    max_files: str = "1"
    kinds: str = "any"

    @property
    def key(self) -> str:
        return self.field.key

    @property
    def public_type(self) -> bool:
        """Strangers may fill it in (others can only be a hidden fixed value)."""
        return self.field.type.name in PUBLIC_TYPES

    @property
    def is_file(self) -> bool:
        return self.field.type.name == FILE_FIELD_TYPE

    @property
    def public(self) -> bool:
        """Strangers see it and fill it in (a hidden field only sets a value)."""
        return self.on and not self.hidden


def rows_from_config(
    rt: RecordTypeDef, config: Mapping[str, Any], errors: Mapping[str, str] | None = None
) -> list[Row]:
    """Rows for every field of the type: the form's fields first in its order, then the
    rest (off) in the type's order."""
    specs = {f["key"]: (i, f) for i, f in enumerate(config.get("fields") or [])}
    rows = []
    for f in rt.fields:
        index, spec = specs.get(f.key, (None, None))
        rows.append(
            Row(
                field=f,
                on=spec is not None,
                label=(spec or {}).get("label") or f.name,
                help=(spec or {}).get("help") or "",
                required=bool((spec or {}).get("required", f.required)),
                order=(index if index is not None else len(specs) + f.position) + 1,
                hidden=bool((spec or {}).get("hidden")),
                prefill=(spec or {}).get("prefill") or "",
                value=value_text((spec or {}).get("value")),
                protect=bool((spec or {}).get("protect")),
                error=row_error(f.key, errors or {}),
                max_files=str((spec or {}).get("max_files") or 1),
                kinds=(spec or {}).get("kinds") or "any",
            )
        )
    return sorted(rows, key=lambda r: (not r.on, r.order))


def rows_from_post(
    rt: RecordTypeDef, data: Mapping[str, Any], errors: Mapping[str, str] | None = None
) -> list[Row]:
    """The rows as posted (to show a refused save again exactly as it was)."""
    listed = {k.strip() for k in _text(data.get("_keys")).split(",")}
    rows = []
    for f in rt.fields:
        if f.key not in listed:
            continue
        at = f"f.{f.key}."
        rows.append(
            Row(
                field=f,
                on=_ticked(data.get(at + "on")),
                label=_text(data.get(at + "label")),
                help=_text(data.get(at + "help")),
                required=_ticked(data.get(at + "required")),
                order=_number(data.get(at + "order"), f.position + 1),
                hidden=_ticked(data.get(at + "hidden")),
                prefill=_text(data.get(at + "prefill")),
                value=_text(data.get(at + "value")),
                protect=_ticked(data.get(at + "protect")),
                error=row_error(f.key, errors or {}),
                max_files=_text(data.get(at + "max_files")) or "1",
                kinds=_text(data.get(at + "kinds")) or "any",
            )
        )
    return sorted(rows, key=lambda r: (not r.on, r.order))


def config_fields(rows: list[Row]) -> list[dict[str, Any]]:
    """The form's fields for the service, in the chosen order."""
    return [_config_field(r) for r in rows if r.on]


def _config_field(r: Row) -> dict[str, Any]:
    spec = {
        "key": r.key,
        "label": r.label,
        "help": r.help,
        "required": r.required,
        "hidden": r.hidden,
        "prefill": r.prefill,
        "value": r.value or None,
        "protect": r.protect,
    }
    if r.is_file:  # the service checks the number (and refuses whatever else was posted)
        spec.update(max_files=r.max_files, kinds=r.kinds)
    elif r.hidden:
        spec["value"] = fixed_value(r.field, r.value)
    return spec


def fixed_value(f: FieldDef, text: str) -> Any:
    """A fixed value typed in the builder, read as a submitted form's input would be."""
    if not text:
        return None
    posted = text.split(",") if f.type.name in MULTI else text
    return field_value(f, {f.key: posted, f.key + ".amount": text})


def value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("amount") or "")
    return str(value)


def row_error(key: str, errors: Mapping[str, str]) -> str | None:
    """Every reason the service gave about one field of the form, as one sentence."""
    found = [
        reason
        for path, reason in errors.items()
        if path == f"fields.{key}" or path.startswith(f"fields.{key}.")
    ]
    text = "; ".join(found)
    return text[:1].upper() + text[1:] if text else None


def _ticked(raw: Any) -> bool:
    values = raw if isinstance(raw, list) else [raw]
    return any(str(v) in {"on", "true", "1"} for v in values if v is not None)


def _text(raw: Any) -> str:
    if isinstance(raw, list):
        raw = raw[-1] if raw else None
    return "" if raw is None else str(raw).strip()


def _number(raw: Any, default: int) -> int:
    try:
        return int(_text(raw))
    except ValueError:
        return default
