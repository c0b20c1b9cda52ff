"""What the designer's forms post, read as the ``record_types`` service wants it.

Browsers post text: a field's options arrive as ``config.<option>`` inputs (``f3.config.<option>``
in the new-type form's third row), choices as the rows of the choices editor. These helpers turn
them into the API's field specs and configs. What does not parse is passed on as text, so the
service, the one judge of what a field accepts, explains what it expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workspace.runtime import Runtime
from workspace.schema.fields import FieldError, FieldType

#: The colours choice chips come in (app.css ``.chip.<colour>``; the service knows the same).
COLORS = ("gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown")
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
#: Built-in types in the order people reach for them; plugin types follow by label.
PREFERRED = (
    "text", "long_text", "number", "money", "date", "datetime", "checkbox", "single_choice",
    "multiple_choice", "email", "phone", "url", "relation", "user", "file",
)  # fmt: skip
OPTION_LABELS = {
    "required": "Required",
    "unique": "Unique",
    "restrictive": "Restrictive",
    "description": "Help text",
    "max_length": "Maximum length",
    "decimals": "Decimal places",
    "min": "Minimum",
    "max": "Maximum",
    "currency": "Default currency",
    "currencies": "Allowed currencies",
    "choices": "Choices",
    "target": "Links to",
    "region": "Phone region",
}
#: Options every field type understands (``FieldType.clean_config``).
COMMON = ("required", "unique", "description")
NEW_ROWS, MAX_ROWS = 5, 30
ROW_EXAMPLES = ("Name", "Email", "Status", "Annual revenue", "Customer since")
ROW = re.compile(r"^f(\d{1,2})\.name$")
#: Enough for any real choice list; a bound on what one post may make the server loop over.
MAX_CHOICES = 1000


def type_choices(runtime: Runtime) -> list[tuple[str, str]]:
    """(name, label) of every field type, for a type select."""
    names = runtime.field_types.names()
    label = {n: runtime.field_types.get(n).label for n in names}
    extra = sorted((n for n in names if n not in PREFERRED), key=lambda n: label[n].lower())
    return [(n, label[n]) for n in [*(p for p in PREFERRED if p in label), *extra]]


def lookup(runtime: Runtime, name: str) -> FieldType | None:
    """The field type called ``name``; None for a name no plugin registered."""
    try:
        return runtime.field_types.get(name)
    except FieldError:
        return None


def last(form: Mapping[str, Any], key: str) -> str:
    """A form value as text: the last one if the key was sent several times."""
    value = form.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    return "" if value is None else str(value)


def matching(value: Any, pattern: str) -> str:
    """``value`` as text if it matches ``pattern`` whole, else empty: for values that end up
    in ids and input names."""
    text = str(value or "")
    return text if re.fullmatch(pattern, text) else ""


def blank_row(i: int) -> dict[str, Any]:
    """Row ``i`` of the new-type form before anything is typed."""
    example = ROW_EXAMPLES[i] if i < len(ROW_EXAMPLES) else ""
    return {
        "i": i,
        "name": "",
        "type": "text",
        "ftype": None,
        "config": {},
        "errors": {},
        "general": None,
        "example": example,
    }


def posted_row(
    runtime: Runtime, form: Mapping[str, Any], prefix: str, i: int = 0
) -> dict[str, Any]:
    """One new field as the form describes it: name, type and the options filled in."""
    row = blank_row(i)
    name = last(form, prefix + "type") or "text"
    ftype = lookup(runtime, name)
    row.update(name=last(form, prefix + "name").strip(), type=name, ftype=ftype)
    row["config"] = config_from(ftype, form, prefix, edit=False) if ftype else {}
    return row


def posted_rows(runtime: Runtime, form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of the new-type form, in their order (rows may have been added by htmx)."""
    found = sorted({int(m.group(1)) for key in form if (m := ROW.match(key))})
    return [posted_row(runtime, form, f"f{i}.", n) for n, i in enumerate(found[:MAX_ROWS])]


def field_spec(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the API's field spec."""
    spec = {"name": row["name"], "type": row["type"]}
    return {**spec, "config": row["config"]} if row["config"] else spec


def config_from(
    ftype: FieldType, form: Mapping[str, Any], prefix: str, *, edit: bool
) -> dict[str, Any]:
    """The API-shaped config a form describes. ``edit`` sends every option the form shows
    (an empty input removes the option); a new field sends only what was filled in."""
    config: dict[str, Any] = {}
    keys = [k for k in COMMON if k != "unique" or ftype.can_be_unique]
    if ftype.ordered_consent:
        keys.append("restrictive")
    if not edit:
        keys.remove("description")
    for key in [*keys, *ftype.options]:
        raw = last(form, f"{prefix}config.{key}").strip()
        if key in {"required", "unique", "restrictive"}:
            if raw == "true" or edit:
                config[key] = raw == "true"
        elif key == "choices":
            choices = edited_choices(form) if edit else listed_choices(raw)
            if choices or edit:
                config[key] = choices
        else:
            value = _option_value(ftype, key, raw)
            if value is not None or edit:
                config[key] = value
    return config


def _option_value(ftype: FieldType, key: str, text: str) -> Any:
    """Form text as the option's JSON type; what does not fit goes to the service as text,
    which then explains what it expected."""
    if not text:
        return None
    if key in {"max_length", "decimals", "target"}:
        return int(text) if text.isdigit() else text
    if key in {"min", "max"} and ftype.name != "date":
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text
    if key == "currencies":
        return [code.upper() for code in re.split(r"[\s,;]+", text) if code]
    if key in {"currency", "region"}:
        return text.upper()
    return text


# ---- the choices editor ----------------------------------------------------------------


def listed_choices(text: str) -> list[dict[str, str]]:
    """Choices typed one per line (the new-type form); the service picks their colours."""
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    return [{"label": label} for label in labels]


def edited_choices(form: Mapping[str, Any]) -> list[dict[str, str]]:
    """The choices editor's rows after its button (``op``): up, down, remove or add."""
    rows: list[dict[str, str]] = []
    while f"choices.{len(rows)}.label" in form and len(rows) < MAX_CHOICES:
        i = len(rows)
        row = {"label": last(form, f"choices.{i}.label")}
        row["color"] = _color(last(form, f"choices.{i}.color"), i)
        if last(form, f"choices.{i}.id"):
            row["id"] = last(form, f"choices.{i}.id")
        rows.append(row)
    _apply_op(rows, last(form, "op"))
    new = last(form, "choices.new.label").strip()
    if new:
        rows.append({"label": new, "color": _color(last(form, "choices.new.color"), len(rows))})
    return rows


def _apply_op(rows: list[dict[str, str]], op: str) -> None:
    """``remove:2``, ``up:2`` or ``down:2``: what a row's button asks, done in place."""
    name, _, arg = op.partition(":")
    at = int(arg) if arg.isdigit() and int(arg) < len(rows) else None
    if at is None:
        return
    if name == "remove":
        rows.pop(at)
    elif name in {"up", "down"}:
        to = at - 1 if name == "up" else at + 1
        if 0 <= to < len(rows):
            rows[at], rows[to] = rows[to], rows[at]


def _color(posted: str, position: int) -> str:
    """A colour the editor offers (a name, or a custom #rrggbb kept from the API)."""
    if posted in COLORS or HEX_COLOR.fullmatch(posted):
        return posted
    return COLORS[position % len(COLORS)]
