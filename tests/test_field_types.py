"""Every built-in field type through the HTTP API: what a client sends and what it reads back.

Each value is created, changed and cleared, and every step reads the record again, so the
assertions are about what was stored, not about what the write answered.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.field_refs import KEY, Refs, one_field_type, resolve
from tests.helpers import field, make_type, records_path

COLORS = {"choices": ["Red", "Green", "Blue"]}
LETTERS = {"choices": ["A", "B", "C"]}
COMPANY = {"target": lambda r: r.company_type}
#: What a cleared field reads as: multi-valued fields are lists, a checkbox is unchecked.
EMPTY: dict[str, Any] = {"multiple_choice": [], "relation": [], "checkbox": False}


class Trip(NamedTuple):
    """A value's life in one field: what is sent, what is read, and the same for a change."""

    type: str
    config: dict[str, Any]
    sent: Any
    shown: Any
    changed: Any
    changed_shown: Any


TRIPS = {
    "text": Trip("text", {}, "  Ada Lovelace ", "Ada Lovelace", "Grace", "Grace"),
    "long_text": Trip(
        "long_text", {}, "line one\r\nline two\n", "line one\nline two", "ünï 🎉", "ünï 🎉"
    ),
    "integer": Trip("number", {}, 42, 42, "-7", -7),
    "decimal": Trip("number", {"decimals": 2}, "1.5", "1.50", 3, "3.00"),
    "decimal-15-digits": Trip(
        "number", {"decimals": 8}, "1234567.12345678", "1234567.12345678", 0.1, "0.10000000"
    ),
    "money": Trip(
        "money", {}, {"amount": "12.5", "currency": "eur"}, {"amount": "12.50", "currency": "EUR"},
        "99 usd", {"amount": "99.00", "currency": "USD"},
    ),
    "money-default-currency": Trip(
        "money", {"currency": "JPY", "decimals": 0}, 1500, {"amount": "1500", "currency": "JPY"},
        {"amount": "20"}, {"amount": "20", "currency": "JPY"},
    ),
    "date": Trip("date", {}, "2026-01-31", "2026-01-31", "20240229", "2024-02-29"),
    "datetime": Trip(
        "datetime", {}, "2026-01-31T14:30:00+02:00", "2026-01-31T12:30:00Z",
        "2026-07-01T08:00:00.250000", "2026-07-01T08:00:00.250000Z",
    ),
    "checkbox": Trip("checkbox", {}, True, True, "no", False),
    "email": Trip(
        "email", {}, "  Ada@Example.ORG ", "ada@example.org", "Grace@Navy.mil", "grace@navy.mil"
    ),
    "phone-default-region": Trip(
        "phone", {}, "(202) 555-0143", "+12025550143", "+44 20 7946 0958", "+442079460958"
    ),
    "phone-field-region": Trip(
        "phone", {"region": "gb"}, "020 7946 0958", "+442079460958", 1212345678, "+441212345678"
    ),
    "url": Trip(
        "url", {}, "example.com/docs", "https://example.com/docs",
        "http://localhost:8000/x", "http://localhost:8000/x",
    ),
    "single_choice": Trip("single_choice", COLORS, "green", "Green", " Red ", "Red"),
    "multiple_choice": Trip("multiple_choice", LETTERS, ["C", "a", "C"], ["A", "C"], "b", ["B"]),
    "relation": Trip(
        "relation", COMPANY,
        lambda r: r.companies[1::-1], lambda r: r.companies[:2],
        lambda r: [str(r.companies[1])], lambda r: [r.companies[1]],
    ),
    "user": Trip(
        "user", {},
        lambda r: r.member["email"].upper(), lambda r: r.member["id"],
        lambda r: r.owner_id, lambda r: r.owner_id,
    ),
}  # fmt: skip
each_trip = pytest.mark.parametrize("trip", TRIPS.values(), ids=TRIPS.keys())


@pytest.fixture
def refs(api: Any, ws: int, make_user: Any, owner: Any) -> Refs:
    return Refs(api, ws, make_user, owner[0]["id"])


#: Types whose values no record write sets, with the tests that cover them instead.
READ_ONLY = {"file": "tests/test_file_fields.py (files are uploaded, not written)"}


def test_every_registered_type_is_covered(runtime: Any) -> None:
    """A field type added later must get a round trip here too (or say where it is tested)."""
    assert {t.type for t in TRIPS.values()} | set(READ_ONLY) == set(runtime.field_types.names())


@each_trip
def test_value_round_trip(api: Any, ws: int, refs: Refs, trip: Trip) -> None:
    path, _ = one_field_type(api, ws, trip.type, resolve(trip.config, refs))

    created = api.post(path, {"fields": {KEY: resolve(trip.sent, refs)}}, expect=201)
    url = f"{path}/{created['id']}"
    assert created["fields"][KEY] == resolve(trip.shown, refs)
    assert api.get(url, expect=200)["fields"][KEY] == resolve(trip.shown, refs)

    api.patch(url, {"fields": {KEY: resolve(trip.changed, refs)}}, expect=200)
    assert api.get(url, expect=200)["fields"][KEY] == resolve(trip.changed_shown, refs)

    api.patch(url, {"fields": {KEY: None}}, expect=200)
    assert api.get(url, expect=200)["fields"][KEY] == EMPTY.get(trip.type)


@each_trip
def test_sending_back_what_was_read_is_not_a_change(
    api: Any, ws: int, refs: Refs, trip: Trip
) -> None:
    """A client that saves a record form unchanged must not bump its version or history."""
    path, _ = one_field_type(api, ws, trip.type, resolve(trip.config, refs))
    created = api.post(path, {"fields": {KEY: resolve(trip.sent, refs)}}, expect=201)
    url = f"{path}/{created['id']}"

    again = api.patch(url, {"fields": created["fields"]}, expect=200)

    assert again["version"] == created["version"]
    assert again["fields"] == created["fields"]
    assert len(api.get(f"{url}/activity", expect=200)["items"]) == 1


@pytest.mark.parametrize(
    ("field_region", "typed", "stored"),
    [(None, "030 123456", "+4930123456"), ("GB", "0121 234 5678", "+441212345678")],
    ids=["workspace-region", "field-region-wins"],
)
def test_phone_numbers_are_read_in_the_workspace_region_unless_the_field_has_one(
    api: Any, ws: int, field_region: str | None, typed: str, stored: str
) -> None:
    api.patch(f"/workspaces/{ws}", {"phone_region": "de"}, expect=200)
    config = {"region": field_region} if field_region else {}
    path, _ = one_field_type(api, ws, "phone", config)

    created = api.post(path, {"fields": {KEY: typed}}, expect=201)

    assert api.get(f"{path}/{created['id']}", expect=200)["fields"][KEY] == stored


def test_a_new_record_reads_every_unset_field_as_empty(api: Any, ws: int, refs: Refs) -> None:
    """One record type with every kind of field; a record made with none of them set."""
    trips = list(TRIPS.values())
    fields = [field(f"F{i}", t.type, **resolve(t.config, refs)) for i, t in enumerate(trips)]
    rt, _ = make_type(api, ws, "Everything", *fields)
    created = api.post(records_path(ws, rt), {"fields": {}}, expect=201)

    got = api.get(f"{records_path(ws, rt)}/{created['id']}", expect=200)["fields"]
    assert got == {f"f{i}": EMPTY.get(t.type) for i, t in enumerate(trips)}
