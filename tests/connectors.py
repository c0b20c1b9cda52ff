"""Helpers for connector tests: settings that let connections reach the fakes on loopback, a
Customer type the way the users' story needs it, and connecting each fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.fake_saas import HubSpotFake, MailchimpFake, StripeFake
from tests.helpers import Api, field, make_type
from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import connections, mappings
from workspace.db import transaction
from workspace.jobs import queue
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.settings import Settings


@pytest.fixture
def disconnect_after(runtime: Runtime) -> Any:
    """After the test, its connections (to fakes that are gone) are disconnected and their
    jobs cancelled: the database is shared, and a later test's worker must not spend time
    pushing to addresses nobody listens on."""
    yield
    disconnect_loopback(runtime)


def disconnect_loopback(runtime: Runtime) -> None:
    cn, jobs = m.connections, m.jobs
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(cn)
            .where(cn.c.deleted_at.is_(None), cn.c.base_url.like("http://127.0.0.1:%"))
            .values(deleted_at=utcnow(), pull_every=None, next_pull_at=None)
        )
        conn.execute(
            update(jobs)
            .where(jobs.c.kind.like("connector.%"), jobs.c.state.in_(queue.UNFINISHED))
            .values(state="cancelled", live_key=None, lease_token=None)
        )


def loopback_settings(database_url: str, data_dir: Path, **extra: Any) -> Settings:
    """The fakes listen on 127.0.0.1: the operator allows private hosts, as in tests of
    storage backends; a short timeout keeps the timeout tests short."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "migrate_on_start": False,
        "db_timeout": 5,
        "allow_private_hosts": True,
        "connector_timeout": 2,
    }
    return Settings(**(values | extra))


CUSTOMER_FIELDS = (
    field("Name", "text"),
    field("Email", "email"),
    field("Phone", "phone"),
    field("Company", "text"),
    field("Marketing consent", "checkbox"),
    field("Email invalid", "checkbox"),
    field("Unsubscribed", "checkbox"),
    field("Legal name", "text"),
    field("Billing email", "email"),
    field("Billing city", "text"),
)


def customer_type(api: Api, ws: int, *, email_rule: str = "update") -> dict[str, Any]:
    """A Customer type with an email dedupe rule (``update``: a duplicate becomes the record
    on file)."""
    rt, _ = make_type(api, ws, "Customer", *CUSTOMER_FIELDS)
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": email_rule, "on_update": "warn"},
        expect=201,
    )
    return rt


def connect(runtime: Runtime, acc: Access, fake: Any, name: str | None = None) -> int:
    """A connection to a fake, as an admin saves it."""
    if isinstance(fake, HubSpotFake):
        body = {
            "kind": "hubspot",
            "base_url": fake.url,
            "config": {"access_token": fake.token, "client_secret": fake.client_secret},
        }
    elif isinstance(fake, MailchimpFake):
        body = {
            "kind": "mailchimp",
            "base_url": fake.base_url,
            "config": {"api_key": fake.api_key, "list_id": fake.list_id},
        }
    else:
        assert isinstance(fake, StripeFake)
        body = {
            "kind": "stripe",
            "base_url": fake.url,
            "config": {"secret_key": fake.secret_key, "webhook_secret": fake.webhook_secret},
        }
    if name:
        body["name"] = name
    return int(connections.create(runtime, acc, body)["id"])


#: The users' story: HubSpot is where sales keeps names and companies (fill empty), the
#: workspace owns Phone and pushes it; Mailchimp owns consent and the two flags; Stripe
#: owns the legal name and the billing contact.
STORY = {
    "hubspot": (
        "contacts",
        [
            {"property": "email", "field": "email", "direction": "pull"},
            {"property": "firstname", "field": "name", "direction": "pull"},
            {"property": "company", "field": "company", "direction": "pull"},
            {"property": "phone", "field": "phone", "direction": "push"},
        ],
    ),
    "mailchimp": (
        "members",
        [
            {"property": "email", "field": "email", "direction": "pull"},
            {"property": "marketing_consent", "field": "marketing_consent", "owner": "connection"},
            {"property": "email_invalid", "field": "email_invalid", "owner": "connection"},
            {"property": "unsubscribed", "field": "unsubscribed", "owner": "connection"},
        ],
    ),
    "stripe": (
        "customers",
        [
            {"property": "email", "field": "email", "direction": "pull"},
            {"property": "name", "field": "legal_name", "owner": "connection"},
            {"property": "email", "field": "billing_email", "owner": "connection"},
            {"property": "address_city", "field": "billing_city", "owner": "connection"},
        ],
    ),
}


def map_story(runtime: Runtime, acc: Access, connection_id: int, kind: str, type_id: int) -> Any:
    remote_object, properties = STORY[kind]
    body = {"object": remote_object, "type": type_id, "properties": properties}
    return mappings.save(runtime, acc, connection_id, body)


def count(runtime: Runtime, table: Any, *where: Any) -> int:
    with transaction(runtime.control) as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def outcomes(runtime: Runtime, connection_id: int) -> dict[str, int]:
    rows = m.sync_rows
    with transaction(runtime.control) as conn:
        found = conn.execute(
            select(rows.c.outcome, func.count())
            .where(rows.c.connection_id == connection_id)
            .group_by(rows.c.outcome)
        ).all()
    return {outcome: n for outcome, n in found}
