"""A sync meets a vendor having a bad day: 429 (waits as long as Retry-After says), 5xx and
timeouts (retried with backoff, then given up with the reason), 401 (stops at once:
"credentials rejected", on the connection's page, until working ones are saved), and bad
payloads (kept as rejected with the reason, nothing else affected)."""

from __future__ import annotations

import time

import pytest

from tests.connectors import (
    connect,
    count,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
    outcomes,
)
from tests.fake_saas import HubSpotFake, StripeFake
from tests.helpers import records_path
from tests.web import sign_in
from workspace import models as m
from workspace.access import workspaces
from workspace.connectors import engine
from workspace.errors import Conflict

LIST = "GET /crm/v3/objects/contacts"


pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path, connector_timeout=1)


@pytest.fixture
def crm(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with HubSpotFake() as hubspot:
        hubspot.seed_contacts(150)
        connection = connect(runtime, access, hubspot)
        map_story(runtime, access, connection, "hubspot", rt["id"])
        yield hubspot, connection, rt


def test_a_rate_limit_is_waited_out_as_long_as_retry_after_says(runtime, crm):
    hubspot, connection, _ = crm
    hubspot.rate_limit(LIST, times=1, retry_after=1.5)
    started = time.monotonic()
    run = engine.run_sync(runtime, connection)
    assert time.monotonic() - started >= 1.5
    assert run["state"] == "done" and run["counts"]["created"] == 150
    assert run["progress"]["rate_limited"] == 1
    assert [r.status for r in hubspot.requests_to(LIST)][:2] == [429, 200]


def test_server_errors_and_timeouts_are_retried_with_backoff(runtime, crm):
    hubspot, connection, _ = crm
    hubspot.fail(LIST, status=502, times=1)
    hubspot.fail(LIST, status=500, times=1)
    hubspot.hang(LIST, seconds=2, times=1)  # longer than the 1 s timeout
    run = engine.run_sync(runtime, connection)
    assert run["state"] == "done" and run["counts"]["created"] == 150
    assert run["progress"]["retried"] == 3


def test_a_tool_that_stays_down_fails_the_run_and_keeps_the_cursor(runtime, api, ws, crm):
    hubspot, connection, _ = crm
    hubspot.fail(LIST, status=503, times=None)
    run = engine.run_sync(runtime, connection)
    assert run["state"] == "failed"
    assert run["error"].startswith("listing contacts: HTTP 503")
    assert "(5 attempts)" in run["error"]
    found = api.get(f"/workspaces/{ws}/connections/{connection}")
    assert found["problem"] == run["error"]
    hubspot.clear_faults()
    again = engine.run_sync(runtime, connection)
    assert again["state"] == "done" and again["counts"]["created"] == 150
    assert api.get(f"/workspaces/{ws}/connections/{connection}")["problem"] is None


def test_rejected_credentials_stop_the_connection_until_new_ones_are_saved(
    runtime, api, ws, access, client, crm
):
    hubspot, connection, _ = crm
    hubspot.reject_credentials()
    run = engine.run_sync(runtime, connection)
    assert run["state"] == "stopped"
    assert ": credentials rejected: Authentication credentials not found" in run["error"]
    assert len(hubspot.requests) == 1  # no retry of a refused key
    found = api.get(f"/workspaces/{ws}/connections/{connection}")
    assert found["state"] == "stopped" and found["problem"] == run["error"]
    me = sign_in(client, runtime)
    workspaces.add_member(runtime, access, me["email"], "admin")
    page = client.get(f"/w/{ws}/settings/connections/{connection}")
    assert 'data-testid="connection-problem"' in page.text
    assert "credentials rejected" in page.text
    with pytest.raises(Conflict, match="stopped"):
        engine.run_sync(runtime, connection)
    hubspot.clear_faults()
    body = {"config": {"access_token": hubspot.token}}
    api.patch(f"/workspaces/{ws}/connections/{connection}", body, expect=200)
    assert engine.run_sync(runtime, connection)["state"] == "done"


def test_bad_payloads_are_kept_as_rejected_and_nothing_else_is_affected(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe:
        ids = stripe.seed_customers(10)
        stripe.customers[ids[0]]["id"] = None  # no id
        stripe.customers[ids[1]]["name"] = {"first": "Ann"}  # not text
        stripe.customers[ids[2]]["name"] = "x" * 1_000_000  # a broken export
        stripe.customers[ids[3]]["name"] = "<script>alert(1)</script>"
        stripe.customers[ids[4]]["email"] = "not an address"
        connection = connect(runtime, access, stripe)
        map_story(runtime, access, connection, "stripe", rt["id"])
        run = engine.run_sync(runtime, connection)
    assert run["state"] == "done"
    assert outcomes(runtime, connection) == {"created": 5, "rejected": 5}
    rows = api.get(
        f"/workspaces/{ws}/connections/{connection}/runs/{run['id']}/rows", outcome="rejected"
    )["items"]
    reasons = {r["remote_id"]: r["detail"]["message"] for r in rows}
    assert reasons[None] == "the customer has no id"
    assert reasons[ids[1]] == "name: a dict, not text"
    assert reasons[ids[2]] == (
        "legal_name: is 1,000,000 characters long; at most 10,000 are taken from a tool (from name)"
    )
    assert reasons[ids[3]] == (
        "legal_name: contains HTML markup, which is not taken from a tool (from name)"
    )
    assert reasons[ids[4]].startswith("email: ") and "(from email)" in reasons[ids[4]]
    big = next(r for r in rows if r["remote_id"] == ids[2])
    assert big["payload"]["truncated"] is True and big["payload"]["bytes"] > 1_000_000
    assert len(api.get(records_path(ws, rt), limit=50)["items"]) == 5
    assert count(runtime, m.external_ids, m.external_ids.c.connection_id == connection) == 5
