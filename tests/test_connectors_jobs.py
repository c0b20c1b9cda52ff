"""Connectors on the job queue: scheduled pulls from the periodic task, one sync job per
connection, pushes fed from the event outbox (never back to the tool that made the change,
a burst of edits one push), and webhooks that waited for a busy connection."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from tests.connectors import (
    connect,
    count,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
)
from tests.fake_saas import HubSpotFake, StripeFake
from tests.fake_saas.stripe_webhooks import signature_header
from tests.helpers import records_path
from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import background, connections, lease, mappings, webhooks
from workspace.db import transaction
from workspace.jobs.worker import run_until_idle
from workspace.remote import WebhookRequest

J = m.jobs
pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def later(seconds: float = 5) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def jobs_of(runtime: Any, kind: str, connection: int) -> list[Any]:
    with transaction(runtime.control) as conn:
        rows = conn.execute(select(J).where(J.c.kind == kind).order_by(J.c.id)).all()
    return [r for r in rows if r.payload.get("connection") == connection]


def map_billing(runtime: Any, access: Any, connection: int, type_id: int) -> None:
    properties = [
        {"property": "email", "field": "email", "direction": "pull"},
        {"property": "description", "field": "company", "direction": "push"},
    ]
    body = {"object": "customers", "type": type_id, "properties": properties}
    mappings.save(runtime, access, connection, body)


def map_crm(runtime: Any, access: Any, connection: int, type_id: int) -> None:
    properties = [
        {"property": "email", "field": "email", "direction": "pull"},
        {"property": "company", "field": "company", "owner": "connection"},
    ]
    body = {"object": "contacts", "type": type_id, "properties": properties}
    mappings.save(runtime, access, connection, body)


def test_scheduled_pulls_run_as_jobs(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe:
        stripe.seed_customers(3)
        connection = connect(runtime, access, stripe)
        map_billing(runtime, access, connection, rt["id"])
        connections.update_connection(runtime, access, connection, {"pull_every": 5})
        run_until_idle(runtime, now=later(120))  # the periodic task is due: it queues, then runs
        (run,) = api.get(f"/workspaces/{ws}/connections/{connection}/runs")
        assert (run["trigger"], run["state"], run["counts"]["created"]) == ("schedule", "done", 3)
        run_until_idle(runtime, now=later(120))  # the next pull is 5 minutes away
        assert len(api.get(f"/workspaces/{ws}/connections/{connection}/runs")) == 1
        assert [j.state for j in jobs_of(runtime, background.SYNC, connection)] == ["done"]


def test_changes_are_pushed_from_the_outbox_to_the_tools_that_copy_them(runtime, api, ws, access):
    """HubSpot owns Company; Stripe gets a copy (description). A HubSpot pull changes
    Company: the change goes to Stripe, never back to HubSpot; two edits in a row are one
    push."""
    rt = customer_type(api, ws)
    with StripeFake() as stripe, HubSpotFake() as hubspot:
        customers = stripe.seed_customers(3)
        contacts = hubspot.seed_contacts(3)
        billing = connect(runtime, access, stripe)
        map_billing(runtime, access, billing, rt["id"])
        crm = connect(runtime, access, hubspot)
        map_crm(runtime, access, crm, rt["id"])
        for connection in (billing, crm):
            api.post(f"/workspaces/{ws}/connections/{connection}/sync", expect=202)
        run_until_idle(runtime)  # the two syncs, then the events of their writes
        run_until_idle(runtime, now=later())  # the pushes, a moment later
        assert jobs_of(runtime, background.PUSH, crm) == []
        pushed = jobs_of(runtime, background.PUSH, billing)
        assert len(pushed) == 3 and {j.state for j in pushed} == {"done"}
        for customer, contact in zip(customers, contacts, strict=True):
            company = hubspot.get("contacts", contact)["properties"]["company"]
            assert stripe.customer(customer)["description"] == company
        writes = len(stripe.writes)
        # The company is HubSpot's now: a change there reaches Stripe through the workspace.
        hubspot.update("contacts", contacts[0], {"company": "First Name Ltd"})
        hubspot.update("contacts", contacts[0], {"company": "Second Name Ltd"})
        api.post(f"/workspaces/{ws}/connections/{crm}/sync", expect=202)
        run_until_idle(runtime)
        run_until_idle(runtime, now=later())
        assert stripe.customer(customers[0])["description"] == "Second Name Ltd"
        assert len(stripe.writes) == writes + 1


def test_a_webhook_that_waited_for_a_busy_connection_is_taken_by_a_job(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe:
        ids = stripe.seed_customers(2)
        connection = connect(runtime, access, stripe)
        properties = [
            {"property": "email", "field": "email", "direction": "pull"},
            {"property": "name", "field": "legal_name", "owner": "connection"},
        ]
        body = {"object": "customers", "type": rt["id"], "properties": properties}
        mappings.save(runtime, access, connection, body)
        api.post(f"/workspaces/{ws}/connections/{connection}/sync", expect=202)
        run_until_idle(runtime)
        token = connections.get(runtime, access, connection)["webhook_path"].rsplit("/", 1)[1]
        stripe.update_customer(ids[1], name="Later Ltd")
        event = stripe.pending_events[-1]
        payload = json.dumps(event, indent=2).encode()
        header = signature_header(payload, stripe.webhook_secret, int(time.time()))
        hook = WebhookRequest("POST", "http://x/", {"stripe-signature": header}, payload)
        lease.claim(runtime, connection, "a-running-sync")
        answer = webhooks.receive(runtime, token, hook)
        assert answer["taken"] is False
        assert [j.state for j in jobs_of(runtime, webhooks.WAITING, connection)] == ["queued"]
        run_until_idle(runtime, now=later(1))  # still busy: to be tried again shortly
        assert [j.state for j in jobs_of(runtime, webhooks.WAITING, connection)] == ["failed"]
        lease.release(runtime, connection, "a-running-sync")
        run_until_idle(runtime, now=later(600))
        email = stripe.customer(ids[1])["email"].lower()
    records = {r["fields"]["email"]: r for r in api.get(records_path(ws, rt))["items"]}
    assert records[email]["fields"]["legal_name"] == "Later Ltd"
    assert count(runtime, J, J.c.kind == webhooks.WAITING, J.c.state == "done") >= 1
