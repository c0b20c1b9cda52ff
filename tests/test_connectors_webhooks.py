"""Vendor webhooks to a live server: each vendor's signature checked (forged or stale ones are
refused with 401 and kept as rejected), the record named read back from the tool and
written, and a webhook arriving while a sync runs waits for it instead of racing it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.browser import LiveServer, serving
from tests.connectors import (
    connect,
    customer_type,
    disconnect_loopback,
    loopback_settings,
    map_story,
)
from tests.fake_saas import HubSpotFake, MailchimpFake, StripeFake, people
from tests.fake_saas.hubspot import signature_v3
from tests.helpers import Api
from workspace import models as m
from workspace.access import auth, users, workspaces
from workspace.connectors import engine, lease
from workspace.db import transaction
from workspace.principal import Access, Principal

ROWS = m.sync_rows


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = loopback_settings(database_url, tmp_path_factory.mktemp("hooks"))
    with serving(settings) as live:
        yield live


class Story:
    """A workspace on the live server with a Customer type, as its owner."""

    def __init__(self, server: LiveServer) -> None:
        self.runtime = server.runtime
        user = users.create_user(self.runtime, f"hooks{id(self)}@example.com", password=None)
        _, token = auth.create_token(self.runtime, user["id"], "test")
        self.http = httpx.Client(base_url=server.url + "/api/v1")
        self.http.headers["Authorization"] = f"Bearer {token}"
        principal = Principal(user["id"], user["email"])
        self.ws = workspaces.create(self.runtime, principal, "Hooks")["id"]
        self.acc: Access = workspaces.access(self.runtime, principal, self.ws)
        self.api = Api(_Client(self.http), token)  # type: ignore[arg-type]
        self.rt = customer_type(self.api, self.ws)
        self.base = server.url

    def hook_url(self, connection: int) -> str:
        found = self.api.get(f"/workspaces/{self.ws}/connections/{connection}")
        return self.base + found["webhook_path"]

    def record(self, email: str) -> dict[str, Any]:
        items = self.api.get(
            f"/workspaces/{self.ws}/types/{self.rt['id']}/records",
            filter=json.dumps([{"field": "email", "op": "eq", "value": email.lower()}]),
        )["items"]
        assert len(items) == 1, items
        return dict(items[0])

    def hook_rows(self, connection: int) -> list[Any]:
        with transaction(self.runtime.control) as conn:
            return list(
                conn.execute(
                    select(ROWS)
                    .join(m.sync_runs, m.sync_runs.c.id == ROWS.c.run_id)
                    .where(ROWS.c.connection_id == connection, m.sync_runs.c.kind == "webhook")
                    .order_by(ROWS.c.id)
                )
            )


@pytest.fixture
def story(server: LiveServer) -> Iterator[Story]:
    made = Story(server)
    yield made
    made.http.close()
    disconnect_loopback(server.runtime)


class _Client:
    """Enough of Litestar's TestClient for tests.helpers.Api, over a real HTTP client."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, url.removeprefix("/api/v1"), **kw)


def test_hubspot_webhooks_are_checked_then_read_back(story):
    with HubSpotFake() as hubspot:
        ids = hubspot.seed_contacts(3)
        connection = connect(story.runtime, story.acc, hubspot)
        map_story(story.runtime, story.acc, connection, "hubspot", story.rt["id"])
        engine.run_sync(story.runtime, connection)
        url = story.hook_url(connection)
        target = hubspot.get("contacts", ids[0])["properties"]["email"]
        story.api.patch(
            f"/workspaces/{story.ws}/types/{story.rt['id']}/records/{story.record(target)['id']}",
            {"fields": {"company": None}},
            expect=200,
        )
        hubspot.update("contacts", ids[0], {"company": "Webhook GmbH"})
        deliveries = hubspot.deliver_webhooks(url)
        assert [d.status for d in deliveries] == [200]
        assert story.record(target)["fields"]["company"] == "Webhook GmbH"
        assert story.hook_rows(connection)[-1].outcome == "updated"

        forged = hubspot.deliver(url, [{"objectId": int(ids[1])}], signature="Zm9yZ2Vk")
        stale = hubspot.deliver(url, [{"objectId": int(ids[1])}], timestamp_ms=1)
        assert (forged.status, stale.status) == (401, 401)
        refused = story.hook_rows(connection)[-2:]
        assert [r.outcome for r in refused] == ["rejected", "rejected"]
        assert refused[0].detail["message"] == "signature refused: the v3 signature does not match"
        assert "older than 5 minutes" in refused[1].detail["message"]
        # Signed for another address (the URI is part of the signature): refused too.
        body = json.dumps([{"objectId": 1, "subscriptionType": "contact.propertyChange"}])
        stamp = str(int(time.time() * 1000))
        elsewhere = signature_v3(hubspot.client_secret, "POST", url + "x", body, stamp)
        response = httpx.post(
            url,
            content=body,
            headers={"X-HubSpot-Signature-v3": elsewhere, "X-HubSpot-Request-Timestamp": stamp},
        )
        assert response.status_code == 401
        hubspot.archive("contacts", ids[2])
        assert [d.status for d in hubspot.deliver_webhooks(url)] == [200]
    assert story.hook_rows(connection)[-1].outcome == "deleted"


def test_stripe_webhooks_carry_the_customer_and_a_signature(story):
    with StripeFake() as stripe:
        ids = stripe.seed_customers(2)
        connection = connect(story.runtime, story.acc, stripe)
        map_story(story.runtime, story.acc, connection, "stripe", story.rt["id"])
        engine.run_sync(story.runtime, connection)
        url = story.hook_url(connection)
        stripe.update_customer(ids[0], name="Ada Lovelace Ltd")
        assert [d.status for d in stripe.deliver_webhooks(url)] == [200]
        email = stripe.customer(ids[0])["email"]
        assert story.record(email)["fields"]["legal_name"] == "Ada Lovelace Ltd"
        event = {"id": "evt_x", "type": "customer.updated", "data": {"object": {"id": ids[1]}}}
        assert stripe.deliver(url, event, secret="whsec_someone_else").status == 401
        assert stripe.deliver(url, event, timestamp=1).status == 401
        nameless = {"id": "evt_y", "type": "customer.updated", "data": {"object": {"email": "x"}}}
        assert stripe.deliver(url, nameless).status == 200
    last = story.hook_rows(connection)[-1]
    assert (last.outcome, last.detail["message"]) == ("rejected", "the customer has no id")


def test_a_mailchimp_unsubscribe_reaches_the_record(story):
    with MailchimpFake() as mailchimp:
        mailchimp.seed_members(5)
        connection = connect(story.runtime, story.acc, mailchimp)
        map_story(story.runtime, story.acc, connection, "mailchimp", story.rt["id"])
        engine.run_sync(story.runtime, connection)
        url = story.hook_url(connection)
        assert mailchimp.validate_webhook(url).status == 200
        person = next(iter(people(1)))
        assert story.record(person.email)["fields"]["marketing_consent"] is True
        mailchimp.unsubscribe(person.email)
        assert [d.status for d in mailchimp.deliver_webhooks(url)] == [200]
        fields = story.record(person.email)["fields"]
        assert (fields["marketing_consent"], fields["unsubscribed"]) == (False, True)
        assert httpx.post(url + "x", data={"type": "unsubscribe"}).status_code == 404


def test_a_webhook_during_a_sync_waits_for_it(story):
    with StripeFake() as stripe:
        ids = stripe.seed_customers(2)
        connection = connect(story.runtime, story.acc, stripe)
        map_story(story.runtime, story.acc, connection, "stripe", story.rt["id"])
        engine.run_sync(story.runtime, connection)
        url = story.hook_url(connection)
        token = "held-by-another-process"
        lease.claim(story.runtime, connection, token)
        stripe.update_customer(ids[0], name="Waiting Co")
        delivery = stripe.deliver_webhooks(url)[0]
        assert delivery.status == 200 and json.loads(delivery.response_body)["taken"] is False
        assert story.hook_rows(connection)[-1].outcome == "pending"
        lease.release(story.runtime, connection, token)
        run = engine.run_sync(story.runtime, connection)  # takes the waiting webhook too
        email = stripe.customer(ids[0])["email"]
    assert run["state"] == "done"
    assert story.hook_rows(connection)[-1].outcome != "pending"
    assert story.record(email)["fields"]["legal_name"] == "Waiting Co"
