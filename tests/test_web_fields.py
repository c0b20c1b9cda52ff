"""``form_values``: what HTML forms post becomes the values the API takes, for every field
type: cleared inputs, unchecked boxes, several values, money and relation ids.

No database: a record type definition is built in memory from the built-in field types.
"""

from __future__ import annotations

from typing import Any

import pytest

from plugins import fields_basic, fields_contact, fields_links
from workspace.schema.fields import FieldDef, FieldTypeRegistry
from workspace.schema.tables import RecordTypeDef
from workspace.web.fields import edited_keys, form_values

FIELDS = [
    ("name", "text", {}),
    ("notes", "long_text", {}),
    ("amount", "number", {"decimals": 2}),
    ("budget", "money", {"currency": "EUR"}),
    ("price", "money", {}),
    ("since", "date", {}),
    ("seen", "datetime", {}),
    ("vip", "checkbox", {}),
    ("email", "email", {}),
    ("phone", "phone", {}),
    ("site", "url", {}),
    ("status", "single_choice", {"choices": [{"label": "New"}, {"label": "Won"}]}),
    ("tags", "multiple_choice", {"choices": [{"label": "a"}, {"label": "b"}]}),
    ("company", "relation", {"target": 7}),
    ("owner", "user", {}),
]


@pytest.fixture(scope="module")
def rt() -> RecordTypeDef:
    registry = FieldTypeRegistry()
    for module in (fields_basic, fields_contact, fields_links):
        module.register_field_types(registry.register)
    fields = tuple(
        FieldDef(
            id=i + 1,
            key=key,
            name=key.title(),
            type=registry.get(type_name),
            config=config,
            position=i,
            column=f"f_{i + 1}"
            if type_name not in {"multiple_choice", "relation"}
            else f"lnk_{i + 1}",
        )
        for i, (key, type_name, config) in enumerate(FIELDS)
    )
    return RecordTypeDef(
        id=1, workspace_id=1, name="T", schema_version=1, state="ready", fields=fields
    )


def values(rt: RecordTypeDef, keys: str, **form: Any) -> dict[str, Any]:
    return form_values(rt, {"_fields": keys, **form})


def test_every_type_posted_empty_means_cleared(rt):
    """Browsers send empty text inputs as "", and nothing at all for unchecked boxes and
    empty checkbox groups or multi-selects: all of it clears the field."""
    keys = ",".join(key for key, _, _ in FIELDS)
    posted = {
        key: ""
        for key, kind, _ in FIELDS
        if kind not in {"checkbox", "multiple_choice", "relation", "money"}
    }
    posted["vip"] = "false"  # the hidden input before the box
    posted["budget.amount"] = ""
    posted["budget.currency"] = "EUR"
    got = values(rt, keys, **posted)
    expected_empty = {"checkbox": False, "multiple_choice": [], "relation": []}
    assert got == {key: expected_empty.get(kind) for key, kind, _ in FIELDS}


def test_fields_missing_from_the_body_are_cleared_too(rt):
    assert values(rt, "name,vip,tags,company,budget,owner") == {
        "name": None,
        "vip": False,
        "tags": [],
        "company": [],
        "budget": None,
        "owner": None,
    }


def test_only_listed_fields_are_taken(rt):
    got = values(rt, "name", name="Ada", notes="not listed", amount="3")
    assert got == {"name": "Ada"}


def test_unknown_and_blank_keys_in_fields_are_ignored(rt):
    assert edited_keys(rt, {"_fields": " name , nope,,vip "}) == ["name", "vip"]
    assert edited_keys(rt, {}) == []
    assert edited_keys(rt, {"_fields": ["name", "vip,tags"]}) == ["name", "vip", "tags"]


def test_text_like_values_are_kept_as_strings_without_surrounding_blanks(rt):
    got = values(
        rt,
        "name,notes,amount,since,seen,email,phone,site,status",
        name="  Ada  ",
        notes="line 1\r\nline 2",
        amount="12.50",
        since="2026-01-31",
        seen="2026-01-31T14:30",
        email="ada@example.com",
        phone="+1 202 555 0100",
        site="example.com",
        status="Won",
    )
    assert got == {
        "name": "Ada",
        "notes": "line 1\r\nline 2",
        "amount": "12.50",
        "since": "2026-01-31",
        "seen": "2026-01-31T14:30",
        "email": "ada@example.com",
        "phone": "+1 202 555 0100",
        "site": "example.com",
        "status": "Won",
    }


def test_a_repeated_single_value_takes_the_last(rt):
    assert values(rt, "name", name=["old", "new"]) == {"name": "new"}


def test_checkbox_checked_and_unchecked(rt):
    assert values(rt, "vip", vip=["false", "true"]) == {"vip": True}
    assert values(rt, "vip", vip="true") == {"vip": True}
    assert values(rt, "vip", vip="false") == {"vip": False}
    assert values(rt, "vip") == {"vip": False}


def test_multiple_choice_takes_every_ticked_value(rt):
    assert values(rt, "tags", tags=["a", "b"]) == {"tags": ["a", "b"]}
    assert values(rt, "tags", tags="b") == {"tags": ["b"]}
    assert values(rt, "tags", tags=["a", " ", ""]) == {"tags": ["a"]}


def test_relation_ids_become_numbers(rt):
    assert values(rt, "company", company=["3", " 12 "]) == {"company": [3, 12]}
    assert values(rt, "company", company="5") == {"company": [5]}
    # not an id: passed on for the service to refuse with a clear message
    assert values(rt, "company", company=["x1"]) == {"company": ["x1"]}


def test_money_amount_with_currency(rt):
    got = values(
        rt,
        "budget,price",
        **{
            "budget.amount": " 10.50 ",
            "budget.currency": "usd",
            "price.amount": "3",
            "price.currency": "GBP",
        },
    )
    assert got == {
        "budget": {"amount": "10.50", "currency": "USD"},
        "price": {"amount": "3", "currency": "GBP"},
    }


def test_money_without_a_posted_currency_uses_the_fields_default(rt):
    assert values(rt, "budget", **{"budget.amount": "7"}) == {
        "budget": {"amount": "7", "currency": "EUR"}
    }
    assert values(rt, "price", **{"price.amount": "7"}) == {
        "price": {"amount": "7", "currency": None}
    }


def test_money_without_an_amount_is_cleared_whatever_the_currency(rt):
    assert values(rt, "budget", **{"budget.amount": " ", "budget.currency": "USD"}) == {
        "budget": None
    }


def test_user_by_id_or_email(rt):
    assert values(rt, "owner", owner="42") == {"owner": 42}
    assert values(rt, "owner", owner="ada@example.com") == {"owner": "ada@example.com"}
    assert values(rt, "owner", owner="") == {"owner": None}
