"""Bad values and bad field configs: a 4xx naming the field and the reason, and nothing written.

Invariant 5 of DESIGN.md, per field type and per config option, through the HTTP API. Every
refusal is checked twice: the answer names the field, and reading back shows no change.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.field_refs import KEY, Refs, one_field_type, resolve
from tests.helpers import field, make_type

COLORS = {"choices": ["Red", "Green"]}
COMPANY = {"target": lambda r: r.company_type}
YEAR_2026 = {"min": "2026-01-01", "max": "2026-12-31"}

# type, config, a good value (held by an existing record), a bad value, part of the reason
REFUSED = [
    ("text", {"required": True}, "Ada", None, "is required"),
    ("text", {"required": True}, "Ada", "   ", "is required"),
    ("text", {"max_length": 5}, "Ada", "Lovelace", "is longer than 5 characters"),
    ("text", {}, "Ada", 42, "must be text, not a number"),
    ("text", {}, "Ada", "two\nlines", "must be a single line"),
    ("long_text", {"max_length": 10}, "short", "x" * 11, "is longer than 10 characters"),
    ("number", {"min": 0, "max": 10}, 5, 11, "must be at most 10"),
    ("number", {"min": 0, "max": 10}, 5, "-1", "must be at least 0"),
    ("number", {}, 5, 1.5, "must be a whole number"),
    ("number", {"decimals": 2}, "1.25", "1.255", "allows at most 2 decimal places"),
    ("number", {}, 5, "five", "must be a number, not 'five'"),
    ("number", {}, 5, True, "must be a number, not true/false"),
    ("number", {}, 5, 10**15, "has more than 15 digits"),
    ("number", {"decimals": 2}, 5, 1e300, "has more than 15 digits"),
    ("number", {}, 5, "1e30", "has more than 15 digits"),
    ("money", {"currencies": ["EUR", "USD"]}, "5 EUR", "5 GBP", "currency must be one of EUR, USD"),
    ("money", {}, "5 EUR", {"amount": 5}, "needs a currency"),
    ("money", {}, "5 EUR", "5 EURO", "ISO 4217 currency code"),
    ("money", {"min": 0}, "5 EUR", "-1 EUR", "must be at least 0"),
    ("money", {"max": 100}, "5 EUR", {"amount": "100.01", "currency": "EUR"}, "at most 100"),
    ("money", {}, "5 EUR", "5.001 EUR", "allows at most 2 decimal places"),
    ("money", {}, "5 EUR", {"amount": 5, "currency": "EUR", "rate": 1}, "unknown keys ['rate']"),
    ("date", YEAR_2026, "2026-06-01", "2025-12-31", "must be on or after 2026-01-01"),
    ("date", YEAR_2026, "2026-06-01", "2027-01-01", "must be on or before 2026-12-31"),
    ("date", {}, "2026-06-01", "31/01/2026", "must be a date like 2026-01-31"),
    ("datetime", {}, "2026-01-31T10:00:00Z", "yesterday", "must be a date and time like"),
    ("datetime", {}, "2026-01-31T10:00:00Z", "9999-12-31T23:30:00-01:00", "supported range"),
    ("checkbox", {"required": True}, True, False, "is required"),
    ("checkbox", {}, True, "maybe", "must be true or false"),
    ("email", {}, "ada@example.org", "ada@", "is not a valid email address"),
    ("phone", {}, "(202) 555-0143", "12", "is not a valid phone number for region US"),
    (
        "phone",
        {"region": "DE"},
        "030 123456",
        "030 12",
        "is not a valid phone number for region DE",
    ),
    ("url", {}, "example.com", "ftp://example.com", "must start with http:// or https://"),
    ("url", {}, "example.com", "localhost-only", "is not a web address"),
    ("url", {}, "example.com", "https://example.com:http/", "has an invalid port"),
    ("single_choice", COLORS, "Red", "Blue", "'Blue' is not a choice; choose from: Red, Green"),
    ("multiple_choice", COLORS, ["Red"], ["Red", "Pink"], "'Pink' is not a choice"),
    ("multiple_choice", {"required": True, **COLORS}, ["Red"], [], "is required"),
    ("relation", COMPANY, lambda r: r.companies[:1], [999_999], "do not exist: [999999]"),
    ("relation", COMPANY, lambda r: r.companies[:1], lambda r: r.companies, "do not exist"),
    ("relation", COMPANY, lambda r: r.companies[:1], ["Acme"], "must list record ids"),
    ("relation", COMPANY, lambda r: r.companies[:1], [2**64], "is not a record id"),
    ("relation", {"required": True, **COMPANY}, lambda r: r.companies[:1], [], "is required"),
    ("user", {}, lambda r: r.member["id"], lambda r: r.outsider["id"], "is not a member"),
    ("user", {}, lambda r: r.member["id"], lambda r: r.outsider["email"], "is not a member"),
    ("user", {}, lambda r: r.member["id"], 2**64, "must be a member's user id or email"),
    ("user", {}, lambda r: r.member["id"], "nobody", "must be a member's user id or email"),
    ("user", {"required": True}, lambda r: r.member["id"], None, "is required"),
]


def _id(case: tuple[Any, ...]) -> str:
    type_, config, _, bad, _ = case
    return f"{type_}-{','.join(config) or 'bad'}-{bad if not callable(bad) else 'ref'}"[:50]


@pytest.fixture
def refs(api: Any, ws: int, make_user: Any, owner: Any) -> Refs:
    return Refs(api, ws, make_user, owner[0]["id"])


def _refused(api: Any, status: int, key: str) -> str:
    """The reason given for ``key``, after checking it is the only field named."""
    assert api.last.status_code == status, api.last.text
    fields = api.last.json()["error"]["fields"]
    assert list(fields) == [key]
    return str(fields[key])


@pytest.mark.parametrize(
    ("type_", "config", "good", "bad", "reason"), REFUSED, ids=map(_id, REFUSED)
)
def test_a_bad_value_is_refused_by_name_and_changes_nothing(
    api: Any, ws: int, refs: Refs, type_: str, config: Any, good: Any, bad: Any, reason: str
) -> None:
    path, (record,) = one_field_type(api, ws, type_, resolve(config, refs), [resolve(good, refs)])
    before = api.get(path, expect=200)["items"]
    body = {"fields": {KEY: resolve(bad, refs)}}

    api.post(path, body)
    assert reason in _refused(api, 422, KEY)
    assert api.last.json()["error"]["code"] == "validation_failed"
    api.patch(f"{path}/{record['id']}", body)
    assert reason in _refused(api, 422, KEY)

    assert api.get(path, expect=200)["items"] == before


def test_a_required_field_left_out_of_a_new_record_is_named(api: Any, ws: int) -> None:
    path, _ = one_field_type(api, ws, "text", {"required": True})

    api.post(path, {"fields": {}})

    assert _refused(api, 422, KEY) == "is required"
    assert api.get(path, expect=200)["items"] == []


# type, config, a stored value, the same value as another client might type it
SAME_VALUE = [
    ("text", {}, "Ada", "  Ada "),
    ("number", {"decimals": 2}, "1.5", 1.50),
    ("money", {}, "10 EUR", {"amount": "10.00", "currency": "eur"}),
    ("date", {}, "2026-01-31", "20260131"),
    ("datetime", {}, "2026-01-31T14:30:00+02:00", "2026-01-31T12:30:00Z"),
    ("email", {}, "ada@example.org", "ADA@Example.org"),
    ("phone", {}, "(202) 555-0143", "+1 202-555-0143"),
    ("single_choice", COLORS, "red", "Red"),
    ("user", {}, lambda r: r.member["email"], lambda r: r.member["id"]),
]


@pytest.mark.parametrize(
    ("type_", "config", "stored", "typed"), SAME_VALUE, ids=[c[0] for c in SAME_VALUE]
)
def test_a_unique_field_refuses_a_value_another_record_holds(
    api: Any, ws: int, refs: Refs, type_: str, config: Any, stored: Any, typed: Any
) -> None:
    """409 naming the field and the record holding the value, also when typed differently."""
    config = {**resolve(config, refs), "unique": True}
    path, (holder, other) = one_field_type(api, ws, type_, config, [resolve(stored, refs), None])
    before = api.get(path, expect=200)["items"]
    body = {"fields": {KEY: resolve(typed, refs)}}
    clash = f"is already used by record {holder['id']}"

    api.post(path, body)
    assert _refused(api, 409, KEY) == clash
    assert api.last.json()["error"]["record"] == holder["id"]
    api.patch(f"{path}/{other['id']}", body)
    assert _refused(api, 409, KEY) == clash

    assert api.get(path, expect=200)["items"] == before


def test_a_unique_money_field_tells_currencies_apart(api: Any, ws: int) -> None:
    path, _ = one_field_type(api, ws, "money", {"unique": True}, ["10 EUR"])

    api.post(path, {"fields": {KEY: "10 USD"}}, expect=201)


# type, config, the option named in the error, part of the reason
BAD_CONFIGS = [
    ("text", {"colour": "red"}, "colour", "unknown option for fields of type text"),
    ("text", {"required": "yes"}, "required", "must be true or false"),
    ("text", {"max_length": 0}, "max_length", "whole number from 1 to 255"),
    ("text", {"max_length": "10"}, "max_length", "whole number from 1 to 255"),
    ("long_text", {"unique": True}, "unique", "fields of type long_text cannot be unique"),
    ("number", {"decimals": 9}, "decimals", "whole number from 0 to 8"),
    ("number", {"min": "low"}, "min", "must be a number"),
    ("number", {"max": "NaN"}, "max", "must be a finite number"),
    ("number", {"min": 10, "max": 1}, "min", "must not be greater than config.max"),
    ("money", {"currency": "EURO"}, "currency", "ISO 4217 currency code"),
    ("money", {"currencies": []}, "currencies", "non-empty list of currency codes"),
    ("money", {"currency": "GBP", "currencies": ["EUR"]}, "currency", "one of config.currencies"),
    ("money", {"min": 5, "max": "-5"}, "min", "must not be greater than config.max"),
    ("date", {"min": "31/01/2026"}, "min", "must be a date like 2026-01-31"),
    ("date", {"min": "2026-12-31", "max": "2026-01-01"}, "min", "not be greater than config.max"),
    ("datetime", {"max_length": 5}, "max_length", "unknown option for fields of type datetime"),
    ("checkbox", {"unique": True}, "unique", "fields of type checkbox cannot be unique"),
    ("email", {"region": "US"}, "region", "unknown option"),
    ("phone", {"region": "XX"}, "region", "two-letter region code"),
    ("url", {"unique": True}, "unique", "fields of type url cannot be unique"),
    ("single_choice", {"choices": "Red, Green"}, "choices", "must be a list"),
    ("single_choice", {"choices": ["Red", "red "]}, "choices", "'red' appears twice"),
    ("single_choice", {"choices": [""]}, "choices", "one-line label of 1-100 characters"),
    ("single_choice", {"choices": [{"label": "A", "color": "mauve"}]}, "choices", "unknown color"),
    ("single_choice", {"choices": [{"label": "A", "size": 1}]}, "choices", "only have id, label"),
    ("multiple_choice", {"choices": [{"id": "x", "label": "A"}, {"id": "x", "label": "B"}]},
     "choices", "choice ids must be unique"),
    ("multiple_choice", {"unique": True}, "unique", "type multiple_choice cannot be unique"),
    ("relation", {}, "target", "must be the id of a record type in this workspace"),
    ("relation", {"target": 999_999}, "target", "record type in this workspace"),
    ("relation", {"target": "1"}, "target", "record type in this workspace"),
    ("relation", {"target": lambda r: r.foreign_type}, "target", "record type in this workspace"),
    ("relation", {**COMPANY, "unique": True}, "unique", "fields of type relation cannot be unique"),
    ("user", {"choices": ["Ada"]}, "choices", "unknown option for fields of type user"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "config", "option", "reason"), BAD_CONFIGS,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(BAD_CONFIGS)],
)  # fmt: skip
def test_a_bad_field_config_is_refused_by_option_and_changes_nothing(
    api: Any, ws: int, refs: Refs, type_: str, config: Any, option: str, reason: str
) -> None:
    """Both ways to define a field: adding it to a type, and listing it in a new type."""
    spec = {"name": "Value", "type": type_, "config": resolve(config, refs)}
    existing, _ = make_type(api, ws, "Thing", field("Name", "text"))
    types = f"/workspaces/{ws}/types"
    before = api.get(types, expect=200)

    api.post(f"{types}/{existing['id']}/fields", spec)
    assert reason in _refused(api, 422, f"config.{option}")
    api.post(types, {"name": "Other", "fields": [field("Name", "text"), spec]})
    assert reason in _refused(api, 422, f"fields[1].config.{option}")

    assert api.get(types, expect=200) == before
