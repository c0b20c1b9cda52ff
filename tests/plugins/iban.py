"""The field type from docs/plugin_hooks.md, to prove the documented example works."""

from __future__ import annotations

from typing import Any

from workspace import FieldError, FieldType, exact_string, hookimpl


class IbanType(FieldType):
    name = "iban"
    label = "IBAN"

    def column_type(self, config: Any) -> Any:
        return exact_string(34)

    def coerce(self, field: Any, value: Any, ctx: Any) -> Any:
        if value in (None, ""):
            return None
        iban = str(value).replace(" ", "").upper()
        if not iban[:2].isalpha():
            raise FieldError("must start with a country code")
        return iban


@hookimpl
def register_field_types(register: Any) -> None:
    register(IbanType)
