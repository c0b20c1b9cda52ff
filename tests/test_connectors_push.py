"""Push: a workspace change of a field a tool keeps a copy of is sent once, with the same
idempotency key on every retry; a change made in the tool since the last sync is a conflict
for the admin (never overwritten either way), decided by keeping ours or taking theirs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connectors import (
    connect,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
)
from tests.fake_saas import HubSpotFake, StripeFake
from tests.helpers import Api, records_path
from workspace.connectors import engine, mappings, push

#: Stripe's description is the workspace's, pushed; the legal name is Stripe's.
BILLING = [
    {"property": "email", "field": "email", "direction": "pull"},
    {"property": "name", "field": "legal_name", "owner": "connection"},
    {"property": "description", "field": "company", "direction": "push"},
]


pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def setup_stripe(runtime: Any, api: Api, ws: int, access: Any, stripe: StripeFake) -> Any:
    rt = customer_type(api, ws)
    ids = stripe.seed_customers(3)
    connection = connect(runtime, access, stripe)
    body = {"object": "customers", "type": rt["id"], "properties": BILLING}
    mappings.save(runtime, access, connection, body)
    engine.run_sync(runtime, connection)
    records = {r["fields"]["email"]: r for r in api.get(records_path(ws, rt))["items"]}
    return rt, ids, connection, records


def test_a_change_is_pushed_once_with_a_stable_idempotency_key(runtime, api, ws, access):
    with StripeFake() as stripe:
        rt, ids, connection, records = setup_stripe(runtime, api, ws, access, stripe)
        email = stripe.customer(ids[0])["email"].lower()
        record = records[email]
        api.patch(f"{records_path(ws, rt)}/{record['id']}", {"fields": {"company": "Acme"}})
        first = push.push_records(runtime, connection, rt["id"], [record["id"]])
        assert first["counts"] == {**first["counts"], "pushed": 1, "conflict": 0}
        assert stripe.customer(ids[0])["description"] == "Acme"
        writes = [w for w in stripe.writes if w.target == ids[0]]
        assert len(writes) == 1 and writes[0].idempotency_key.startswith("ws-")
        # Nothing changed since: nothing is sent again, whoever asks.
        push.push_records(runtime, connection, rt["id"], [record["id"]])
        push.push_records(runtime, connection, rt["id"], None)
        assert len([w for w in stripe.writes if w.target == ids[0]]) == 1
        # Stripe's own fields are never pushed: they are pulled only.
        other = records[stripe.customer(ids[1])["email"].lower()]
        api.patch(f"{records_path(ws, rt)}/{other['id']}", {"fields": {"name": "Local only"}})
        assert push.push_records(runtime, connection, rt["id"], [other["id"]])["rows"] == 0


def test_the_same_change_sent_twice_carries_the_same_key(runtime, api, ws, access):
    """A push whose answer is late is sent again with the same key: Stripe answers the retry
    that arrives meanwhile with 409 (still running; tried again later), then replays the
    first answer. The customer is changed once."""
    with StripeFake() as stripe:
        rt, ids, connection, records = setup_stripe(runtime, api, ws, access, stripe)
        record = records[stripe.customer(ids[2])["email"].lower()]
        api.patch(f"{records_path(ws, rt)}/{record['id']}", {"fields": {"company": "Twice"}})
        stripe.hang("POST /v1/customers/*", seconds=3, times=1)  # answered after the timeout
        run = push.push_records(runtime, connection, rt["id"], [record["id"]])
        assert run["counts"]["pushed"] == 1
        sent = stripe.requests_to(f"POST /v1/customers/{ids[2]}")
        assert [r.status for r in sent][1:] == [409, 200]
        assert len({r.header("idempotency-key") for r in sent}) == 1
        assert stripe.idempotency.replays == 1
        assert len([w for w in stripe.writes if w.target == ids[2]]) == 1
        assert stripe.customer(ids[2])["description"] == "Twice"


def test_a_change_made_in_the_tool_since_the_last_sync_is_a_conflict(runtime, api, ws, access):
    with StripeFake() as stripe:
        rt, ids, connection, records = setup_stripe(runtime, api, ws, access, stripe)
        record = records[stripe.customer(ids[0])["email"].lower()]
        stripe.update_customer(ids[0], description="Changed in Stripe")
        api.patch(f"{records_path(ws, rt)}/{record['id']}", {"fields": {"company": "Ours"}})
        run = push.push_records(runtime, connection, rt["id"], [record["id"]])
        assert run["counts"]["conflict"] == 1 and run["counts"]["pushed"] == 0
        assert stripe.customer(ids[0])["description"] == "Changed in Stripe"  # untouched
        found = api.get(f"/workspaces/{ws}/connections/{connection}/conflicts")
        assert len(found) == 1
        conflict = found[0]
        assert (conflict["workspace_value"], conflict["remote_value"]) == (
            "Ours",
            "Changed in Stripe",
        )
        decided = api.post(
            f"/workspaces/{ws}/connections/conflicts/{conflict['id']}",
            {"decision": "keep_workspace"},
            expect=200,
        )
        assert decided["state"] == "kept_workspace"
        assert (
            push.push_records(runtime, connection, rt["id"], [record["id"]])["counts"]["pushed"]
            == 1
        )
        assert stripe.customer(ids[0])["description"] == "Ours"
        assert api.get(f"/workspaces/{ws}/connections/{connection}/conflicts") == []


def test_both_ways_a_remote_change_is_listed_and_taken_on_request(runtime, api, ws, access):
    rt = customer_type(api, ws)
    both = [
        {"property": "email", "field": "email", "direction": "pull"},
        {"property": "company", "field": "company", "direction": "both"},
    ]
    with HubSpotFake() as hubspot:
        contact = hubspot.create("contacts", {"email": "bo@x.example", "company": "Old"})
        connection = connect(runtime, access, hubspot)
        mappings.save(
            runtime,
            access,
            connection,
            {"object": "contacts", "type": rt["id"], "properties": both},
        )
        engine.run_sync(runtime, connection)
        record = api.get(records_path(ws, rt))["items"][0]
        assert record["fields"]["company"] == "Old"  # filled while empty
        api.patch(f"{records_path(ws, rt)}/{record['id']}", {"fields": {"company": "Ours"}})
        hubspot.update("contacts", contact, {"company": "Theirs"})
        run = engine.run_sync(runtime, connection)
        assert run["counts"]["conflict"] == 1
        assert api.get(f"{records_path(ws, rt)}/{record['id']}")["fields"]["company"] == "Ours"
        (conflict,) = api.get(f"/workspaces/{ws}/connections/{connection}/conflicts")
        api.post(
            f"/workspaces/{ws}/connections/conflicts/{conflict['id']}",
            {"decision": "take_remote"},
            expect=200,
        )
        assert api.get(f"{records_path(ws, rt)}/{record['id']}")["fields"]["company"] == "Theirs"
        api.post(
            f"/workspaces/{ws}/connections/conflicts/{conflict['id']}",
            {"decision": "dismiss"},
            expect=409,
        )
        # Settled: the next pull and push find nothing to do.
        assert engine.run_sync(runtime, connection)["rows"] == 0
        assert push.push_records(runtime, connection, rt["id"], None)["rows"] == 0
