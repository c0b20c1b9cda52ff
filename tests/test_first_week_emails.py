"""Email addresses are checked for their syntax, never for whether the domain is public:
special-use domains are real inside companies (``user@corp.local``), in email fields and as
accounts alike; the stored form stays the one lower-cased, IDN-normalised address."""

from __future__ import annotations

import pytest

from tests.helpers import field, make_type, records_path
from workspace.access import users
from workspace.errors import ValidationFailed

SPECIAL_USE = [
    "user@corp.local",
    "qa@shop.test",
    "info@acme.example",
    "ops@db.internal",
    "dev@app.localhost",
]


@pytest.mark.parametrize("address", SPECIAL_USE)
def test_an_email_field_takes_an_address_at_a_special_use_domain(api, ws, address):
    rt, _ = make_type(api, ws, "Contact", field("Email", "email"))
    made = api.post(records_path(ws, rt), {"fields": {"email": address.upper()}}, expect=201)
    assert made["fields"]["email"] == address


def test_a_bulk_write_of_internal_addresses_is_taken_whole(api, ws):
    rt, _ = make_type(api, ws, "Contact", field("Email", "email"))
    items = [{"fields": {"email": address}} for address in SPECIAL_USE]
    result = api.post(f"{records_path(ws, rt)}/bulk", {"items": items}, expect=200)
    assert [r["record"]["fields"]["email"] for r in result["results"]] == SPECIAL_USE


@pytest.mark.parametrize(
    ("address", "stored"),
    [("Bob@Bücher.Local", "bob@bücher.local"), ("Ann@xn--bcher-kva.test", "ann@bücher.test")],
)
def test_internationalised_domains_keep_their_normal_form(api, ws, address, stored):
    rt, _ = make_type(api, ws, "Contact", field("Email", "email"))
    made = api.post(records_path(ws, rt), {"fields": {"email": address}}, expect=201)
    assert made["fields"]["email"] == stored


@pytest.mark.parametrize("bad", ["ada@", "ada at example", "ada@localhost", "ada@corp..local"])
def test_addresses_that_are_not_addresses_are_still_refused(api, ws, bad):
    rt, _ = make_type(api, ws, "Contact", field("Email", "email"))
    refused = api.post(records_path(ws, rt), {"fields": {"email": bad}}, expect=422)
    assert "is not a valid email address" in refused["error"]["fields"]["email"]


def test_an_account_may_have_an_internal_address(runtime):
    user = users.create_user(runtime, "Ops@Corp.Local", name="Ops", password=None)
    assert user["email"] == "ops@corp.local"
    with pytest.raises(ValidationFailed) as refused:
        users.create_user(runtime, "ops@", name="Ops", password=None)
    assert "email" in refused.value.fields
