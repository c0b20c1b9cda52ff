"""The FieldType extension point: how one kind of field is stored, validated and queried.

A FieldType owns everything type-specific (Baserow's registry idea): its physical columns,
how API input becomes a stored value, how stored values come back, which filter operators it
understands and how it sorts. The records service and query builder stay generic. Built-in
types live in ``plugins/field_types.py`` and register through the same hook a third-party
plugin uses.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Column, ColumnElement, MetaData, Table, func, or_

from workspace.errors import ValidationFailed
from workspace.registry import Registry
from workspace.schema.coltypes import exact_string

#: How a merge picks a field's value (services/survivorship.py).
SURVIVORSHIP = ("most_complete", "most_recent", "most_restrictive")

#: Every filter operator the API knows; each field type supports a subset.
OPERATORS = (
    "eq",
    "neq",
    "contains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "in",
    "is_empty",
    "not_empty",
)


class FieldError(ValueError):
    """A value or config that a field cannot accept; the message is shown to the user."""


@dataclass(frozen=True)
class ValueContext:
    """What parsing needs to know beyond the value itself."""

    phone_region: str = "US"


@dataclass(frozen=True)
class FieldDef:
    """One field of a record type as the schema engine sees it (loaded from metadata)."""

    id: int
    key: str
    name: str
    type: FieldType
    config: Mapping[str, Any]
    position: int
    column: str

    @property
    def required(self) -> bool:
        return bool(self.config.get("required"))

    @property
    def unique(self) -> bool:
        return bool(self.config.get("unique"))


@dataclass
class Lookup:
    """Batch existence checks for fields that point at other things (records, users)."""

    existing_records: Callable[[int, set[int]], set[int]]
    member_ids: Callable[[set[int]], set[int]]
    member_ids_by_email: Callable[[set[str]], dict[str, int]]


@dataclass(frozen=True)
class ConfigContext:
    """What validating a field config needs: sibling record types for relations."""

    record_type_ids: frozenset[int] = field(default_factory=frozenset)


class FieldType:
    """Base class of every field type. Subclasses set ``name`` and override what differs."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: Multi-valued types keep values in a link table instead of a column.
    uses_link_table: ClassVar[bool] = False
    #: Included in the record list's free-text search.
    searchable: ClassVar[bool] = False
    can_be_unique: ClassVar[bool] = True
    #: A plain index is created on the column so filters and sorts stay fast.
    indexed: ClassVar[bool] = True
    #: Values can be ranked from least to most restrictive (consent: checkbox, choices), so a
    #: merge may keep "the most restrictive" one.
    ordered_consent: ClassVar[bool] = False
    #: Values live outside the record's tables (a file field's files are rows of the control
    #: database's ``files`` table): no column or link table, never written through a record
    #: write; the services fill them in when records are read.
    outside_record: ClassVar[bool] = False
    #: Records can be ordered by this field.
    sortable: ClassVar[bool] = True
    #: Values are text a person types freely, so one may look like a spreadsheet formula
    #: (CSV exports guard it); False where the text form is fixed (numbers, dates, E.164).
    free_text: ClassVar[bool] = True
    #: Why a field of this type cannot be required (None: it can); refused with this reason.
    cannot_require: ClassVar[str | None] = None
    #: Type-specific config keys and their validators (common keys are handled here).
    options: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}
    operators: ClassVar[frozenset[str]] = frozenset(
        {"eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "is_empty", "not_empty"}
    )

    # ---- definition -------------------------------------------------------------------

    def clean_config(self, config: Mapping[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        """Validate a config dict; return it normalised. Raises ValidationFailed per key."""
        cleaned: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key, value in config.items():
            try:
                if key in {"required", "unique"}:
                    cleaned[key] = _bool_option(value)
                elif key == "description":
                    cleaned[key] = _text_option(value, 1000)
                elif key == "survivorship":
                    cleaned[key] = self._survivorship_option(value)
                elif key == "restrictive":
                    cleaned[key] = self._restrictive_option(value)
                elif key in self.options:
                    cleaned[key] = self.options[key](value)
                else:
                    raise FieldError(f"unknown option for fields of type {self.name}")
            except FieldError as exc:
                errors[f"config.{key}"] = str(exc)
        if cleaned.get("unique") and not self.can_be_unique:
            errors["config.unique"] = f"fields of type {self.name} cannot be unique"
        if cleaned.get("required") and self.cannot_require:
            errors["config.required"] = self.cannot_require
        if errors:
            raise ValidationFailed("invalid field configuration", fields=errors)
        finished = self.finish_config(cleaned, ctx)
        ranked = self.name == "checkbox" or len(finished.get("choices", [])) >= 2
        if finished.get("restrictive") and not ranked:
            raise ValidationFailed.single(
                "config.restrictive",
                "needs at least two choices, listed from least to most restrictive",
            )
        return finished

    def _restrictive_option(self, value: Any) -> bool:
        """Only a value that can be ranked can be restrictive: the later of a single choice's
        choices, or an unticked consent checkbox, is the tighter one (records/restrictive.py)."""
        if not isinstance(value, bool):
            raise FieldError("must be true or false")
        if value and not self.ordered_consent:
            raise FieldError(
                f"fields of type {self.name} cannot be restrictive: only a single choice "
                "(its choices in order) or a consent checkbox can"
            )
        return value

    def _survivorship_option(self, value: Any) -> str:
        """Which value a merge keeps (see services/survivorship.py)."""
        allowed = [r for r in SURVIVORSHIP if r != "most_restrictive" or self.ordered_consent]
        if value not in allowed:
            raise FieldError(f"must be one of {', '.join(allowed)}")
        return str(value)

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        """Hook for cross-option checks and defaults after each option is valid."""
        return config

    def storage_signature(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        """What decides the physical column type; a change to it rebuilds the column."""
        return (self.name,)

    def columns(self, field: FieldDef) -> list[Column[Any]]:
        return [Column(field.column, self.column_type(field.config), nullable=True)]

    def column_type(self, config: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def value_columns(self, field: FieldDef) -> list[str]:
        """The columns that together are the value: what a unique index covers."""
        return [field.column]

    def index_columns(self, field: FieldDef) -> list[list[str]]:
        """Plain indexes, one column list each, that keep this field's filters and sorts fast."""
        return [[field.column]] if self.indexed else []

    def link_table(self, field: FieldDef, metadata: MetaData) -> Table | None:
        return None

    # ---- values -----------------------------------------------------------------------

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        """Turn API input into the stored Python value, or raise FieldError. None = empty."""
        raise NotImplementedError

    def check(self, field: FieldDef, value: Any) -> None:
        """Constraints beyond the value's form (min, max, length); raise FieldError."""

    def parse(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        coerced = self.coerce(field, value, ctx)
        if self.is_empty(coerced):
            return None
        self.check(field, coerced)
        return coerced

    def parse_text(self, field: FieldDef, text: str, ctx: ValueContext) -> Any:
        """Parse a human text form (imports, type conversion)."""
        return self.parse(field, text, ctx)

    def absorb(self, config: dict[str, Any], texts: list[str]) -> dict[str, Any]:
        """Before converting existing values to this type: extend the config so they fit
        (choice types add the values as choices, as a spreadsheet user expects)."""
        return config

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == []

    def to_row(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {field.column: value}

    def from_row(self, field: FieldDef, row: Mapping[str, Any]) -> Any:
        return row[field.column]

    def to_text(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else str(value)

    def resolve(
        self, field: FieldDef, values: list[Any], lookup: Lookup
    ) -> tuple[list[Any], dict[int, str]]:
        """Check or resolve references (records, users) for a batch of parsed values.

        Returns the values to store and ``{index: reason}`` for those that point nowhere.
        """
        return values, {}

    # ---- queries ----------------------------------------------------------------------

    def sort_key(self, field: FieldDef, table: Table) -> ColumnElement[Any]:
        return table.c[field.column]

    def filter(
        self, field: FieldDef, table: Table, op: str, value: Any, ctx: ValueContext
    ) -> ColumnElement[bool]:
        """Build the WHERE expression for ``op``; operands go through ``filter_operand``."""
        column = self.filter_column(field, table)
        if op == "is_empty":
            return column.is_(None)
        if op == "not_empty":
            return column.is_not(None)

        def operand(value: Any) -> Any:
            # An empty operand would become SQL NULL and quietly match nothing, also in a
            # list (in) or a range (between).
            parsed = self.filter_operand(field, value, ctx)
            if parsed is None:
                raise FieldError("needs a value; use is_empty to find empty fields")
            return parsed

        if op == "in":
            return column.in_([operand(v) for v in list_operand(value)])
        if op == "between":
            low, high = pair_operand(value)
            return column.between(operand(low), operand(high))
        return compare(op, column, operand(value))

    def filter_column(self, field: FieldDef, table: Table) -> ColumnElement[Any]:
        return table.c[field.column]

    def search(self, field: FieldDef, table: Table, text: str) -> ColumnElement[bool]:
        """Free-text search of a ``searchable`` type: case-insensitive substring."""
        return like_filter(table.c[field.column], "contains", text)

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        return self.coerce(field, value, ctx)


def compare(op: str, column: ColumnElement[Any], operand: object) -> ColumnElement[bool]:
    match op:
        case "eq":
            return column == operand
        case "neq":
            return or_(column != operand, column.is_(None))
        case "gt":
            return column > operand
        case "gte":
            return column >= operand
        case "lt":
            return column < operand
        case "lte":
            return column <= operand
    raise FieldError(f"operator {op} is not supported")


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_filter(
    column: ColumnElement[Any], op: str, text: str, *, folded: bool = False
) -> ColumnElement[bool]:
    """Case-insensitive contains / starts-with that means the same on SQLite and MySQL.

    ``folded``: the column already holds a :func:`fold` key, so compare it as it is (and a
    starts-with can use its index).
    """
    needle = fold(text) if folded else text.lower()
    pattern = escape_like(needle)
    pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
    target = column if folded else func.lower(column)
    return target.like(pattern, escape="\\")


def fold(text: str) -> str:
    """Case- and accent-free form of a text for sorting and searching ("Émile" -> "emile")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def list_operand(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise FieldError("needs a non-empty list of values")
    if len(value) > 1000:
        raise FieldError("accepts at most 1000 values")
    return value


def pair_operand(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise FieldError("needs a list of two values [low, high]")
    return value[0], value[1]


def _bool_option(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError("must be true or false")
    return value


def _text_option(value: Any, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise FieldError(f"must be text of at most {limit} characters")
    return value


class TextLike(FieldType):
    """Single-line text stored trimmed, searched and sorted case-insensitively."""

    searchable = True
    operators = FieldType.operators | {"contains", "starts_with"}
    max_chars = 255

    def column_type(self, config: Mapping[str, Any]) -> Any:
        return exact_string(self.max_chars)

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise FieldError(f"must be text, not {type_name(value)}")
        text = value.strip()
        if "\n" in text or "\r" in text:
            raise FieldError("must be a single line (use a long text field for several)")
        if len(text) > self.max_chars:
            raise FieldError(f"is longer than {self.max_chars} characters")
        return text or None

    def check(self, field: FieldDef, value: Any) -> None:
        limit = field.config.get("max_length")
        if limit is not None and len(value) > limit:
            raise FieldError(f"is longer than {limit} characters")

    def filter(
        self, field: FieldDef, table: Table, op: str, value: Any, ctx: ValueContext
    ) -> ColumnElement[bool]:
        if op in {"contains", "starts_with"}:
            if not isinstance(value, str) or not value.strip():
                raise FieldError("needs some text to look for")
            column, folded = self.text_column(field, table)
            return like_filter(column, op, value.strip(), folded=folded)
        return super().filter(field, table, op, value, ctx)

    def search(self, field: FieldDef, table: Table, text: str) -> ColumnElement[bool]:
        column, folded = self.text_column(field, table)
        return like_filter(column, "contains", text, folded=folded)

    def sort_key(self, field: FieldDef, table: Table) -> ColumnElement[Any]:
        column, folded = self.text_column(field, table)
        return column if folded else func.lower(column)

    def text_column(self, field: FieldDef, table: Table) -> tuple[ColumnElement[Any], bool]:
        """The column to search and sort on, and whether it holds :func:`fold` keys."""
        return table.c[field.column], False


def type_name(value: Any) -> str:
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


class FieldTypeRegistry(Registry[FieldType]):
    """Field types by name, filled through the ``register_field_types`` hook."""

    kind = "field type"

    def unknown(self, name: object) -> Exception:
        return FieldError(f"unknown field type {name!r}")
