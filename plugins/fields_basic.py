"""Built-in field types for plain values: text, long text, number, money, date, datetime,
checkbox."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry
from sqlalchemy import BigInteger, Boolean, Column, ColumnElement, Date, Table, false, true

from workspace import (
    ConfigContext,
    ExactDecimal,
    FieldDef,
    FieldError,
    FieldType,
    TextLike,
    UtcDateTime,
    ValidationFailed,
    ValueContext,
    exact_string,
    fold,
    hookimpl,
    long_text,
    type_name,
)

#: Doubles hold 15 significant digits exactly; SQLite stores decimals as doubles.
MAX_DIGITS = 15


@hookimpl
def register_field_types(register: Any) -> None:
    for field_type in (TextType, LongTextType, NumberType, MoneyType, DateType, DateTimeType):
        register(field_type)
    register(CheckboxType)


def int_option(low: int, high: int) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldError(f"must be a whole number from {low} to {high}")
        return value

    return check


def number_option(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError("must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise FieldError("must be a number") from None
    if not number.is_finite():
        # NaN would make every later comparison with a value raise instead of answer.
        raise FieldError("must be a finite number")
    return value


def check_bounds(config: Mapping[str, Any], parse: Any = Decimal) -> None:
    """Refuse min above max: such a field would reject every value it is given."""
    low, high = config.get("min"), config.get("max")
    if low is not None and high is not None and parse(str(low)) > parse(str(high)):
        raise ValidationFailed.single("config.min", "must not be greater than config.max")


class TextType(TextLike):
    """Kept twice: as written, and as a folded key (``<column>_k``: lower case, no accents)
    with an index of its own, so sorting and searching are case- and accent-insensitive on
    both databases and an index still serves "sorted by name, first 25"."""

    name = "text"
    label = "Text"
    options = {"max_length": int_option(1, 255)}

    def columns(self, field: FieldDef) -> list[Column[Any]]:
        return [
            Column(field.column, exact_string(self.max_chars), nullable=True),
            Column(field.column + "_k", exact_string(self.max_chars), nullable=True),
        ]

    def index_columns(self, field: FieldDef) -> list[list[str]]:
        return [[field.column], [field.column + "_k"]]

    def to_row(self, field: FieldDef, value: Any) -> dict[str, Any]:
        key = None if value is None else fold(value)[: self.max_chars]
        return {field.column: value, field.column + "_k": key}

    def text_column(self, field: FieldDef, table: Table) -> tuple[ColumnElement[Any], bool]:
        return table.c[field.column + "_k"], True


class LongTextType(TextLike):
    name = "long_text"
    label = "Long text"
    can_be_unique = False
    indexed = False
    operators = frozenset({"eq", "neq", "contains", "starts_with", "is_empty", "not_empty"})
    options = {"max_length": int_option(1, 100_000)}
    max_chars = 100_000

    def column_type(self, config: Mapping[str, Any]) -> Any:
        return long_text()

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise FieldError(f"must be text, not {type_name(value)}")
        text = value.replace("\r\n", "\n").strip()
        if len(text) > self.max_chars:
            raise FieldError(f"is longer than {self.max_chars} characters")
        return text or None


class NumberType(FieldType):
    name = "number"
    free_text = False
    label = "Number"
    options = {
        "decimals": int_option(0, 8),
        "min": number_option,
        "max": number_option,
    }

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        check_bounds(config)
        return config

    def storage_signature(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return (self.name, config.get("decimals", 0))

    def column_type(self, config: Mapping[str, Any]) -> Any:
        decimals = config.get("decimals", 0)
        return BigInteger() if decimals == 0 else ExactDecimal(18, decimals)

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        return to_number(value, field.config.get("decimals", 0))

    def check(self, field: FieldDef, value: Any) -> None:
        check_range(value, field.config)

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        return number_operand(value, field.config.get("decimals", 0))


def to_number(value: Any, decimals: int) -> int | Decimal | None:
    """Exact number from JSON/text; refuses more decimal places than the field keeps."""
    number = parse_decimal(value)
    if number is None:
        return None
    quantum = Decimal(1).scaleb(-decimals)
    if number != number.quantize(quantum, rounding="ROUND_DOWN"):
        if decimals == 0:
            raise FieldError("must be a whole number")
        raise FieldError(f"allows at most {decimals} decimal places")
    number = number.quantize(quantum)
    if len(number.as_tuple().digits) > MAX_DIGITS:
        raise FieldError(f"has more than {MAX_DIGITS} digits")
    return int(number) if decimals == 0 else number


def parse_decimal(value: Any) -> Decimal | None:
    """A finite number of at most 15 integer digits from JSON or text (None when empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("must be a number, not true/false")
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError("must be a finite number")
    if isinstance(value, int | float):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise FieldError(f"must be a number, not {value.strip()[:40]!r}") from None
    else:
        raise FieldError(f"must be a number, not {type_name(value)}")
    if not number.is_finite():
        raise FieldError("must be a finite number")
    if number.adjusted() >= MAX_DIGITS:
        # Checked before any quantize: past 28 digits quantize raises instead of answering.
        raise FieldError(f"has more than {MAX_DIGITS} digits")
    return number


def number_operand(value: Any, decimals: int) -> int | float | Decimal | None:
    """A filter value: any precision may be compared ("amount > 0.555" on a 2-place field)."""
    number = parse_decimal(value)
    if number is None or number != number.to_integral_value():
        # A fraction against an integer column compares as a float on both databases.
        return float(number) if number is not None and decimals == 0 else number
    return int(number) if decimals == 0 else number


def check_range(value: Any, config: Mapping[str, Any]) -> None:
    low, high = config.get("min"), config.get("max")
    if low is not None and value < Decimal(str(low)):
        raise FieldError(f"must be at least {low}")
    if high is not None and value > Decimal(str(high)):
        raise FieldError(f"must be at most {high}")


def currency_option(value: Any) -> str:
    if not isinstance(value, str) or pycountry.currencies.get(alpha_3=value.upper()) is None:
        raise FieldError("must be an ISO 4217 currency code such as EUR or USD")
    return value.upper()


def currencies_option(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise FieldError("must be a non-empty list of currency codes")
    return [currency_option(code) for code in value]


class MoneyType(FieldType):
    """An amount with its currency: two columns, ``<column>`` and ``<column>_cur``."""

    name = "money"
    free_text = False
    label = "Money"
    options = {
        "decimals": int_option(0, 4),
        "currency": currency_option,
        "currencies": currencies_option,
        "min": number_option,
        "max": number_option,
    }

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        config.setdefault("decimals", 2)
        check_bounds(config)
        allowed = config.get("currencies")
        default = config.get("currency")
        if allowed and default and default not in allowed:
            raise ValidationFailed.single("config.currency", "must be one of config.currencies")
        return config

    def storage_signature(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return (self.name, config.get("decimals", 2))

    def value_columns(self, field: FieldDef) -> list[str]:
        return [field.column, field.column + "_cur"]

    def columns(self, field: FieldDef) -> list[Column[Any]]:
        decimals = field.config.get("decimals", 2)
        return [
            Column(field.column, ExactDecimal(18, decimals), nullable=True),
            Column(field.column + "_cur", exact_string(3), nullable=True),
        ]

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None or value == "":
            return None
        currency = field.config.get("currency")
        amount = value
        if isinstance(value, dict):
            unknown = set(value) - {"amount", "currency"}
            if unknown:
                raise FieldError(f"has unknown keys {sorted(unknown)}; use amount and currency")
            amount, currency = value.get("amount"), value.get("currency", currency)
        elif isinstance(value, str) and " " in value.strip():
            amount, _, currency = value.strip().rpartition(" ")
        number = to_number(amount, field.config.get("decimals", 2))
        if number is None:
            return None
        if currency is None:
            raise FieldError('needs a currency, e.g. {"amount": 10, "currency": "EUR"}')
        code = currency_option(currency)
        allowed = field.config.get("currencies")
        if allowed and code not in allowed:
            raise FieldError(f"currency must be one of {', '.join(allowed)}")
        return {"amount": Decimal(number), "currency": code}

    def check(self, field: FieldDef, value: Any) -> None:
        check_range(value["amount"], field.config)

    def to_row(self, field: FieldDef, value: Any) -> dict[str, Any]:
        if value is None:
            return {field.column: None, field.column + "_cur": None}
        return {field.column: value["amount"], field.column + "_cur": value["currency"]}

    def from_row(self, field: FieldDef, row: Mapping[str, Any]) -> Any:
        amount = row[field.column]
        if amount is None:
            return None
        return {"amount": amount, "currency": row[field.column + "_cur"]}

    def to_text(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else f"{value['amount']} {value['currency']}"

    def filter(
        self, field: FieldDef, table: Table, op: str, value: Any, ctx: ValueContext
    ) -> ColumnElement[bool]:
        if op == "eq" and isinstance(value, dict):
            wanted = self.coerce(field, value, ctx)
            currency = table.c[field.column + "_cur"]
            return (table.c[field.column] == wanted["amount"]) & (currency == wanted["currency"])
        return super().filter(field, table, op, value, ctx)

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        return number_operand(value, field.config.get("decimals", 2))


def date_option(value: Any) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise FieldError("must be a date like 2026-01-31") from None


class DateType(FieldType):
    name = "date"
    free_text = False
    label = "Date"
    options = {"min": date_option, "max": date_option}

    def finish_config(self, config: dict[str, Any], ctx: ConfigContext) -> dict[str, Any]:
        check_bounds(config, dt.date.fromisoformat)
        return config

    def column_type(self, config: Mapping[str, Any]) -> Any:
        return Date()

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            raise FieldError("must be a date without a time")
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str):
            raise FieldError(f"must be a date like 2026-01-31, not {type_name(value)}")
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(f"must be a date like 2026-01-31, not {value[:40]!r}") from None

    def check(self, field: FieldDef, value: Any) -> None:
        low, high = field.config.get("min"), field.config.get("max")
        if low and value < dt.date.fromisoformat(low):
            raise FieldError(f"must be on or after {low}")
        if high and value > dt.date.fromisoformat(high):
            raise FieldError(f"must be on or before {high}")


class DateTimeType(FieldType):
    """A moment in time, stored in UTC. Input without a UTC offset is read as UTC."""

    name = "datetime"
    free_text = False
    label = "Date and time"

    def column_type(self, config: Mapping[str, Any]) -> Any:
        return UtcDateTime()

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                raise FieldError(
                    f"must be a date and time like 2026-01-31T14:30:00Z, not {value[:40]!r}"
                ) from None
        else:
            raise FieldError(f"must be a date and time, not {type_name(value)}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            # e.g. 9999-12-31T23:00-02:00 is past the last moment a datetime can hold in UTC
            raise FieldError("is outside the supported range (years 1 to 9999 in UTC)") from None


class CheckboxType(FieldType):
    """Never empty: unchecked is false. ``required`` means it must be checked."""

    ordered_consent = True
    name = "checkbox"
    free_text = False
    label = "Checkbox"
    can_be_unique = False
    indexed = False
    operators = frozenset({"eq", "neq", "is_empty", "not_empty"})
    truthy = frozenset({"true", "yes", "1", "on", "y"})
    falsy = frozenset({"false", "no", "0", "off", "n", ""})

    def columns(self, field: FieldDef) -> list[Column[Any]]:
        return [Column(field.column, Boolean(), nullable=False, server_default=false())]

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in self.truthy | self.falsy:
            return value.strip().lower() in self.truthy
        raise FieldError(f"must be true or false, not {str(value)[:40]!r}")

    def is_empty(self, value: Any) -> bool:
        return value is None or value is False

    def to_row(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {field.column: bool(value)}

    def from_row(self, field: FieldDef, row: Mapping[str, Any]) -> Any:
        return bool(row[field.column])

    def to_text(self, field: FieldDef, value: Any) -> str:
        return "true" if value else "false"

    def filter(
        self, field: FieldDef, table: Table, op: str, value: Any, ctx: ValueContext
    ) -> ColumnElement[bool]:
        column = table.c[field.column]
        if op in {"is_empty", "not_empty"}:
            return column == (false() if op == "is_empty" else true())
        wanted = self.coerce(field, value, ctx)
        return (column == wanted) if op == "eq" else (column != wanted)
