"""A connector pull under a rule across types: remote customers match the Customers on file
through the span (linked, not refused or created twice), and the ones that are Leads here
are created as Customers with the cross-type pair queued for review."""

from __future__ import annotations

import pytest

from tests.connectors import (
    CUSTOMER_FIELDS,
    connect,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
    outcomes,
)
from tests.fake_saas import StripeFake, people
from tests.helpers import field, make_type, records_path
from workspace.connectors import engine

pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def test_a_pull_links_through_a_rule_across_types(runtime, api, ws, access):
    customer, _ = make_type(api, ws, "Customer", *CUSTOMER_FIELDS)
    lead, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Email", "email"))
    body = {
        "rule": "email",
        "types": [
            {"type": lead["id"], "fields": ["email"], "on_create": "warn"},
            {"type": customer["id"], "fields": ["email"], "on_create": "block"},
        ],
    }
    api.post(f"/workspaces/{ws}/dedupe-spans", body, expect=201)
    crowd = list(people(10))
    for p in crowd[:3]:
        api.post(records_path(ws, customer), {"fields": {"email": p.email.upper()}}, expect=201)
    for p in crowd[3:5]:
        api.post(records_path(ws, lead), {"fields": {"email": p.email}}, expect=201)
    with StripeFake() as stripe:
        stripe.seed_customers(10)
        connection = connect(runtime, access, stripe)
        map_story(runtime, access, connection, "stripe", customer["id"])
        assert engine.run_sync(runtime, connection)["state"] == "done"
    assert outcomes(runtime, connection) == {"linked": 3, "created": 7}
    stored = api.get(records_path(ws, customer), limit=50)["items"]
    assert len(stored) == 10
    pairs = api.get(f"/workspaces/{ws}/types/{lead['id']}/duplicates", limit=50)["items"]
    assert len(pairs) == 2 and all(p["cross_type"] for p in pairs)
