"""The built-in file field type: the files attached to a record through a field.

A file field's value is the list of files uploaded through it, oldest first, as
``[{"id", "name", "size", "content_type"}]``. The files are rows of the control database's
``files`` table (with the field's id), not a column of the record table: the workspace's
records may live in another database, and a file must stay on its record through merges,
field deletions and backend migrations. So the type has no column, its value is read-only in
record writes (files are uploaded to ``.../records/{id}/files?field=<key>``) and it can be
neither filtered nor sorted on in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column

from workspace import (
    ConfigContext,
    FieldDef,
    FieldError,
    FieldType,
    ValidationFailed,
    ValueContext,
    hookimpl,
)


@hookimpl
def register_field_types(register: Any) -> None:
    register(FileType)


class FileType(FieldType):
    """Files attached through the field; uploaded after the record exists."""

    name = "file"
    label = "File"
    outside_record = True
    sortable = False
    can_be_unique = False
    indexed = False
    operators = frozenset()
    cannot_require = "a file field cannot be required: files are uploaded after the record is saved"

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        if "survivorship" in config:
            raise ValidationFailed.single(
                "config.survivorship", "a merge keeps the files of both records"
            )
        return config

    def columns(self, field: FieldDef) -> list[Column[Any]]:
        return []

    def value_columns(self, field: FieldDef) -> list[str]:
        return []

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        raise FieldError(
            "is read-only: upload files to the record's files endpoint, "
            f"POST .../records/{{id}}/files?field={field.key}"
        )

    def to_row(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {}

    def from_row(self, field: FieldDef, row: Mapping[str, Any]) -> Any:
        """Empty until the records service fills in the files (rows hold no value)."""
        return list(row.get(field.column) or [])

    def to_text(self, field: FieldDef, value: Any) -> str:
        return ", ".join(str(f["name"]) for f in value or [])
