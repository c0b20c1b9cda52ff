"""Field definitions as clients send them: names, keys, types and configs, validated."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from workspace.errors import ValidationFailed
from workspace.names import clean_name
from workspace.runtime import Runtime
from workspace.schema.fields import ConfigContext, FieldDef, FieldError, FieldType
from workspace.schema.queries import SYSTEM_FIELDS

KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def clean_field_specs(
    runtime: Runtime,
    specs: list[Any],
    ctx: ConfigContext,
    taken_keys: set[str],
    taken_names: set[str],
    prefix: str = "fields",
) -> list[dict[str, Any]]:
    """Validate field specs; every problem is reported at once, keyed by its path."""
    cleaned, errors = [], {}
    for index, spec in enumerate(specs):
        label = f"{prefix}[{index}]." if prefix else ""
        try:
            if not isinstance(spec, Mapping):
                raise ValidationFailed.single(label.rstrip("."), "must be an object")
            cleaned.append(_clean_field_spec(runtime, spec, ctx, taken_keys, taken_names, label))
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("invalid field definition", fields=errors)
    return cleaned


def _clean_field_spec(
    runtime: Runtime,
    spec: Mapping[str, Any],
    ctx: ConfigContext,
    taken_keys: set[str],
    taken_names: set[str],
    label: str,
) -> dict[str, Any]:
    only_keys(spec, {"name", "key", "type", "config"}, label)
    name = clean_field_name(spec.get("name"), taken_names, label + "name")
    key = spec.get("key") or _slug(name, taken_keys)
    key = clean_key(key, taken_keys, label + "key")
    field_type = lookup_type(runtime, spec.get("type"), label + "type")
    config = clean_config(field_type, spec.get("config") or {}, ctx, label)
    taken_keys.add(key)
    taken_names.add(name.lower())
    return {"name": name, "key": key, "type": field_type, "config": config}


def lookup_type(runtime: Runtime, name: Any, label: str) -> FieldType:
    try:
        return runtime.field_types.get(name)
    except FieldError:
        choices = ", ".join(runtime.field_types.names())
        raise ValidationFailed.single(label, f"must be one of: {choices}") from None


def merged_config(old: FieldDef, new_type: FieldType, changes: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH semantics for config: given keys replace, null removes, the rest stays.

    On a type change only the options every type shares carry over.
    """
    given = changes.get("config") or {}
    if not isinstance(given, Mapping):
        raise ValidationFailed.single("config", "must be an object")
    shared = {"required", "description", "unique"}
    base = (
        dict(old.config)
        if new_type is old.type
        else {k: v for k, v in old.config.items() if k in shared}
    )
    base.update(given)
    return {k: v for k, v in base.items() if v is not None}


def clean_config(
    field_type: FieldType, config: Any, ctx: ConfigContext, label: str
) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ValidationFailed.single(label + "config", "must be an object")
    try:
        return field_type.clean_config(config, ctx)
    except ValidationFailed as exc:
        raise ValidationFailed(
            exc.message, fields={label + k: v for k, v in exc.fields.items()}
        ) from None


def clean_field_name(name: Any, taken: set[str], label: str = "name") -> str:
    cleaned = clean_name(name, label)
    if cleaned.lower() in taken:
        raise ValidationFailed.single(label, "another field already has this name")
    return cleaned


def clean_key(key: Any, taken: set[str], label: str) -> str:
    if not isinstance(key, str) or not KEY.match(key):
        raise ValidationFailed.single(
            label, "must start with a-z and hold only a-z, 0-9 and _ (at most 63)"
        )
    if key in taken or key in SYSTEM_FIELDS:
        raise ValidationFailed.single(label, f"{key!r} is already used")
    return key


def _slug(name: str, taken: set[str]) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:55] or "field"
    if not base[0].isalpha():
        base = "f_" + base
    key, counter = base, 2
    while key in taken or key in SYSTEM_FIELDS:
        key, counter = f"{base}_{counter}", counter + 1
    return key


def only_keys(spec: Mapping[str, Any], allowed: set[str], label: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown keys: {', '.join(unknown)}",
            fields={label + k: "is not a known key" for k in unknown},
        )
