"""Built-in field types that point at something: choices, other records, members.

Multi-valued types (multiple choice, relation) keep their values in a link table
``lnk_<field id>(record_id, value)``, so "records having X" is an indexed lookup and a value
is never squeezed into a delimited string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    MetaData,
    Table,
    case,
    exists,
    func,
    select,
)

from workspace import (
    ConfigContext,
    FieldDef,
    FieldError,
    FieldType,
    InvalidEmail,
    Lookup,
    ValidationFailed,
    ValueContext,
    account_email,
    exact_string,
    hookimpl,
    list_operand,
    type_name,
)

MAX_CHOICES = 500
CHOICE_CHARS = 100
COLORS = ("gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown")
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Ids are signed 64-bit in the database; a larger number can only be a wrong id, and SQLite
#: cannot even bind it as a query parameter.
MAX_ID = 2**63 - 1


@hookimpl
def register_field_types(register: Any) -> None:
    for field_type in (SingleChoiceType, MultipleChoiceType, RelationType, UserType):
        register(field_type)


def choices_option(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > MAX_CHOICES:
        raise FieldError(f"must be a list of at most {MAX_CHOICES} choices")
    cleaned: list[dict[str, str]] = []
    seen: set[str] = set()
    for position, item in enumerate(value):
        choice = {"label": item} if isinstance(item, str) else item
        if not isinstance(choice, dict) or not isinstance(choice.get("label"), str):
            raise FieldError(f"choice {position + 1} needs a label")
        if set(choice) - {"id", "label", "color"}:
            raise FieldError(f"choice {position + 1} may only have id, label and color")
        label = choice["label"].strip()
        if not label or len(label) > CHOICE_CHARS or "\n" in label:
            raise FieldError(f"choice {position + 1} needs a one-line label of 1-100 characters")
        if label.lower() in seen:
            raise FieldError(f"choice {label!r} appears twice")
        seen.add(label.lower())
        color = choice.get("color", COLORS[position % len(COLORS)])
        if color not in COLORS and not (isinstance(color, str) and HEX_COLOR.match(color)):
            raise FieldError(f"choice {label!r} has an unknown color; use #rrggbb or a name")
        cleaned.append({"label": label, "color": color, **_id_of(choice)})
    return cleaned


def _id_of(choice: Mapping[str, Any]) -> dict[str, str]:
    return {"id": str(choice["id"])} if choice.get("id") else {}


class ChoiceBase(FieldType):
    options = {"choices": choices_option}

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        """Give new choices stable ids; renames are recognised by id."""
        choices = config.setdefault("choices", [])
        used = {c["id"] for c in choices if "id" in c}
        if len(used) != len([c for c in choices if "id" in c]):
            raise ValidationFailed.single("config.choices", "choice ids must be unique")
        counter = 1
        for choice in choices:
            if "id" not in choice:
                while f"c{counter}" in used:
                    counter += 1
                choice["id"] = f"c{counter}"
                used.add(choice["id"])
        return config

    def absorb(self, config: dict[str, Any], texts: list[str]) -> dict[str, Any]:
        choices = list(config.get("choices", []))
        known = {c["label"].lower() for c in choices}
        for text in texts:
            for label in self.split(text):
                if label.lower() not in known and len(choices) < MAX_CHOICES:
                    known.add(label.lower())
                    choices.append({"label": label})
        return self.finish_config({**config, "choices": choices_option(choices)}, ConfigContext())

    def split(self, text: str) -> list[str]:
        label = text.strip()
        return [label] if label and len(label) <= CHOICE_CHARS and "\n" not in label else []

    def canonical(self, field: FieldDef, value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError(f"must be one of the field's choices, not {type_name(value)}")
        text = value.strip()
        labels = [c["label"] for c in field.config.get("choices", [])]
        for label in labels:
            if label == text:
                return label
        for label in labels:
            if label.lower() == text.lower():
                return label
        shown = ", ".join(labels[:10]) + (" ..." if len(labels) > 10 else "")
        raise FieldError(f"{text[:40]!r} is not a choice; choose from: {shown or '(none yet)'}")

    def order_key(self, field: FieldDef, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """Sort by the choices' order in the field definition, as the UI lists them."""
        labels = [c["label"] for c in field.config.get("choices", [])]
        if not labels:
            return column
        return case({label: i for i, label in enumerate(labels)}, value=column, else_=None)


class SingleChoiceType(ChoiceBase):
    ordered_consent = True
    name = "single_choice"
    label = "Single choice"
    searchable = True
    # No gt/lt: labels compare as text, which would contradict the choice order sorts use.
    operators = frozenset({"eq", "neq", "in", "is_empty", "not_empty"})

    def column_type(self, config: Mapping[str, Any]) -> Any:
        return exact_string(CHOICE_CHARS)

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None or value == "":
            return None
        return self.canonical(field, value)

    def sort_key(self, field: FieldDef, table: Table) -> ColumnElement[Any]:
        return self.order_key(field, table.c[field.column])


class LinkBase(FieldType):
    """Values in ``lnk_<id>(record_id, value)``; filters use EXISTS on the link table."""

    uses_link_table = True
    can_be_unique = False
    indexed = False
    operators = frozenset({"contains", "in", "is_empty", "not_empty"})

    def value_type(self) -> Any:
        raise NotImplementedError

    def columns(self, field: FieldDef) -> list[Column[Any]]:
        return []

    def link_table(self, field: FieldDef, metadata: MetaData) -> Table:
        return Table(
            field.column,
            metadata,
            Column("record_id", BigInteger, primary_key=True, autoincrement=False),
            Column("value", self.value_type(), primary_key=True, autoincrement=False),
            Index(f"ix_{field.column}_value", "value"),
            mysql_charset="utf8mb4",
            mysql_collate="utf8mb4_bin",
        )

    def to_row(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {}

    def is_empty(self, value: Any) -> bool:
        return value is None or value == []

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        if len(items) > 1000:
            raise FieldError("holds at most 1000 values")
        parsed: list[Any] = []
        for item in items:
            one = self.coerce_one(field, item)
            if one not in parsed:
                parsed.append(one)
        return parsed

    def coerce_one(self, field: FieldDef, item: Any) -> Any:
        raise NotImplementedError

    def to_text(self, field: FieldDef, value: Any) -> str:
        return ", ".join(str(v) for v in value or [])

    def filter(
        self, field: FieldDef, table: Table, op: str, value: Any, ctx: ValueContext
    ) -> ColumnElement[bool]:
        link = table.metadata.tables[field.column]
        linked = exists().where(link.c.record_id == table.c.id)
        if op == "is_empty":
            return ~linked
        if op == "not_empty":
            return linked
        wanted = list_operand(value) if op == "in" else [value]
        values = [self.coerce_one(field, v) for v in wanted]
        return exists().where(link.c.record_id == table.c.id, link.c.value.in_(values))

    def link_subquery(self, field: FieldDef, table: Table, aggregate: Any) -> Any:
        link = table.metadata.tables[field.column]
        return (
            select(aggregate(link.c.value)).where(link.c.record_id == table.c.id).scalar_subquery()
        )


class MultipleChoiceType(ChoiceBase, LinkBase):
    name = "multiple_choice"
    label = "Multiple choice"

    def value_type(self) -> Any:
        return exact_string(CHOICE_CHARS)

    def coerce_one(self, field: FieldDef, item: Any) -> Any:
        return self.canonical(field, item)

    def parse_text(self, field: FieldDef, text: str, ctx: ValueContext) -> Any:
        return self.parse(field, [part for part in text.split(",") if part.strip()], ctx)

    def split(self, text: str) -> list[str]:
        one = super().split  # zero-argument super() does not work inside a comprehension
        return [label for part in text.split(",") for label in one(part)]

    def from_row(self, field: FieldDef, row: Mapping[str, Any]) -> Any:
        order = {c["label"]: i for i, c in enumerate(field.config.get("choices", []))}
        return sorted(row[field.column], key=lambda label: (order.get(label, 1_000), label))

    def sort_key(self, field: FieldDef, table: Table) -> ColumnElement[Any]:
        link = table.metadata.tables[field.column]
        key = self.order_key(field, link.c.value)
        return select(func.min(key)).where(link.c.record_id == table.c.id).scalar_subquery()


def target_option(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("must be the id of a record type in this workspace")
    return value


class RelationType(LinkBase):
    """Many-to-many links to records of another (or the same) record type."""

    name = "relation"
    label = "Relation"
    options = {"target": target_option}

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        if config.get("target") not in ctx.record_type_ids:
            raise ValidationFailed.single(
                "config.target", "must be the id of a record type in this workspace"
            )
        return config

    def storage_signature(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return (self.name, config.get("target"))

    def value_type(self) -> Any:
        return BigInteger()

    def coerce_one(self, field: FieldDef, item: Any) -> Any:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if isinstance(item, bool) or not isinstance(item, int):
            raise FieldError(f"must list record ids (numbers), not {type_name(item)}")
        if not 1 <= item <= MAX_ID:
            raise FieldError(f"{item} is not a record id")
        return item

    def parse_text(self, field: FieldDef, text: str, ctx: ValueContext) -> Any:
        return self.parse(field, [part for part in text.split(",") if part.strip()], ctx)

    def resolve(
        self, field: FieldDef, values: list[Any], lookup: Lookup
    ) -> tuple[list[Any], dict[int, str]]:
        wanted = {record_id for value in values for record_id in value or []}
        found = lookup.existing_records(field.config["target"], wanted) if wanted else set()
        errors = {}
        for index, value in enumerate(values):
            missing = [record_id for record_id in value or [] if record_id not in found]
            if missing:
                errors[index] = f"links to records that do not exist: {missing[:10]}"
        return values, errors

    def from_row(self, field: FieldDef, row: Mapping[str, Any]) -> Any:
        return sorted(row[field.column])

    def sort_key(self, field: FieldDef, table: Table) -> ColumnElement[Any]:
        return self.link_subquery(field, table, func.count)


class UserType(FieldType):
    """A member of the workspace (assignee, owner). Accepts a user id or a member's email."""

    name = "user"
    label = "User"
    operators = frozenset({"eq", "neq", "in", "is_empty", "not_empty"})

    def column_type(self, config: Mapping[str, Any]) -> Any:
        return BigInteger()

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
            return value
        if isinstance(value, str) and "@" in value:
            # The same normal form as user accounts get, so a member is found however typed.
            try:
                return account_email(value)
            except InvalidEmail:
                raise FieldError(f"{value.strip()[:60]!r} is not an email address") from None
        raise FieldError("must be a member's user id or email")

    def resolve(
        self, field: FieldDef, values: list[Any], lookup: Lookup
    ) -> tuple[list[Any], dict[int, str]]:
        emails = {v for v in values if isinstance(v, str)}
        by_email = lookup.member_ids_by_email(emails) if emails else {}
        resolved = [by_email.get(v, v) if isinstance(v, str) else v for v in values]
        ids = {v for v in resolved if isinstance(v, int)}
        members = lookup.member_ids(ids) if ids else set()
        errors = {
            index: "is not a member of this workspace"
            for index, value in enumerate(resolved)
            if value is not None and value not in members
        }
        return resolved, errors

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
            raise FieldError("filters on user fields take user ids")
        return value
