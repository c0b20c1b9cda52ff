"""The field ownership map (computed from definitions, mappings, the activity history and
each link's last synced values; CSV export), taking a field over from a tool, and retiring
a record type or a connection's object."""

from __future__ import annotations

import csv
import io

import pytest

from tests.connectors import (
    connect,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
)
from tests.fake_saas import MailchimpFake, StripeFake
from tests.helpers import PREFIX, field, make_type, records_path
from tests.web import sign_in
from workspace.access import workspaces
from workspace.connectors import engine

ONE = "/workspaces/{ws}/types/{type}"


pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def test_the_map_shows_owners_copies_changes_and_differences(runtime, api, ws, access):
    rt = customer_type(api, ws)
    base = ONE.format(ws=ws, type=rt["id"])
    with StripeFake() as stripe, MailchimpFake() as mailchimp:
        stripe.seed_customers(4)
        mailchimp.seed_members(6)
        billing = connect(runtime, access, stripe)
        map_story(runtime, access, billing, "stripe", rt["id"])
        marketing = connect(runtime, access, mailchimp)
        map_story(runtime, access, marketing, "mailchimp", rt["id"])
        engine.run_sync(runtime, billing)
        engine.run_sync(runtime, marketing)
    record = api.get(records_path(ws, rt), limit=1, sort="id")["items"][0]
    api.patch(f"{records_path(ws, rt)}/{record['id']}", {"fields": {"email": "new@x.example"}})
    api.patch(f"{records_path(ws, rt)}/{record['id']}", {"fields": {"company": "Acme"}})
    found = {f["key"]: f for f in api.get(base + "/ownership")["fields"]}
    assert found["legal_name"]["owner"]["name"] == "Stripe"
    assert found["marketing_consent"]["owner"]["name"] == "Mailchimp"
    assert found["email"]["owner"] == {"type": "workspace"}
    copies = {(c["tool"], c["property"], c["direction"]) for c in found["email"]["copies"]}
    assert copies == {("Stripe", "email", "pull"), ("Mailchimp", "email", "pull")}
    # Changes by source: created by Stripe (4) and Mailchimp (2 new), edited through the API.
    assert found["email"]["changes"] == {
        "Stripe": {"30": 4, "90": 4},
        "Mailchimp": {"30": 2, "90": 2},
        "API": {"30": 1, "90": 1},
    }
    assert found["company"]["last_change"]["source"] == "API"
    # The email edited here differs from both tools' copies as of the last sync.
    assert found["email"]["differs"] == {"Stripe": 1, "Mailchimp": 1}
    assert found["legal_name"]["differs"] == {"Stripe": 0}
    text = api.client.get(
        PREFIX + base + "/ownership.csv", headers={"Authorization": f"Bearer {api.token}"}
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    email = next(r for r in rows if r["key"] == "email")
    assert (email["owner"], email["changes_90d"], email["records_differing"]) == (
        "Workspace",
        "7",
        "Mailchimp: 1; Stripe: 1",
    )


def test_taking_a_field_over_from_its_tool(runtime, api, ws, access, client):
    rt = customer_type(api, ws)
    base = ONE.format(ws=ws, type=rt["id"])
    with StripeFake() as stripe:
        ids = stripe.seed_customers(3)
        billing = connect(runtime, access, stripe)
        map_story(runtime, access, billing, "stripe", rt["id"])
        engine.run_sync(runtime, billing)
        stripe.update_customer(ids[0], name="Renamed In Stripe")  # not pulled yet
        preview = api.get(base + "/fields/legal_name/take-over")
        assert preview["owner"] == "Stripe" and preview["differing"] == 0
        engine.run_sync(runtime, billing)
        me = sign_in(client, runtime)
        workspaces.add_member(runtime, access, me["email"], "admin")
        page = client.get(f"/w/{ws}/t/{rt['id']}/ownership/legal_name/take-over")
        assert page.status_code == 200 and "Take Legal name over from Stripe" in page.text
        taken = api.post(base + "/fields/legal_name/take-over", {"winner": "workspace"})
        assert taken == {
            "field": "legal_name",
            "owner": "workspace",
            "differing": 0,
            "winner": "workspace",
        }
        fields = {f["key"]: f for f in api.get(base)["fields"]}
        assert fields["legal_name"]["owner"] == {"type": "workspace"}
        mapping = api.get(f"/workspaces/{ws}/connections/{billing}")["mappings"][0]
        directions = {p["field"]: p["direction"] for p in mapping["properties"]}
        assert directions["legal_name"] == "push"  # the workspace pushes it from now on
        # Now it is edited here, and goes to Stripe.
        record = next(
            r
            for r in api.get(records_path(ws, rt))["items"]
            if r["fields"]["legal_name"] == "Renamed In Stripe"
        )
        api.patch(
            f"{records_path(ws, rt)}/{record['id']}",
            {"fields": {"legal_name": "Ours Now Ltd"}},
            expect=200,
        )
        api.post(f"/workspaces/{ws}/connections/{billing}/push", {"type": rt["id"]}, expect=200)
        assert stripe.customer(ids[0])["name"] == "Ours Now Ltd"
        api.post(base + "/fields/legal_name/take-over", {"winner": "workspace"}, expect=409)


def test_the_tool_s_values_can_win_a_take_over(runtime, api, ws, access):
    """A value the workspace changed while it owned the field for a while differs from the
    tool's as last synced: the preview lists it, and with the tool as the winner the record
    gets the tool's value back before the workspace takes the field over."""
    rt = customer_type(api, ws)
    base = ONE.format(ws=ws, type=rt["id"])
    with MailchimpFake() as mailchimp:
        mailchimp.seed_members(3)
        marketing = connect(runtime, access, mailchimp)
        map_story(runtime, access, marketing, "mailchimp", rt["id"])
        engine.run_sync(runtime, marketing)
    record = api.get(records_path(ws, rt), sort="id", limit=1)["items"][0]
    was = record["fields"]["marketing_consent"]
    api.put(base + "/fields/marketing_consent/owner", {"connection": None}, expect=200)
    api.patch(
        f"{records_path(ws, rt)}/{record['id']}",
        {"fields": {"marketing_consent": not was}},
        expect=200,
    )
    api.put(base + "/fields/marketing_consent/owner", {"connection": marketing}, expect=200)
    preview = api.get(base + "/fields/marketing_consent/take-over")
    assert preview["differing"] == 1
    assert preview["records"] == [
        {"record": record["id"], "workspace": str(not was).lower(), "tool": was}
    ]
    api.post(base + "/fields/marketing_consent/take-over", {"winner": "tool"}, expect=200)
    after = api.get(f"{records_path(ws, rt)}/{record['id']}")["fields"]["marketing_consent"]
    assert after is was
    fields = {f["key"]: f["owner"] for f in api.get(base)["fields"]}
    assert fields["marketing_consent"] == {"type": "workspace"}
    bad = api.post(base + "/fields/email/take-over", {"winner": "tool"}, expect=409)
    assert bad["error"]["message"] == "Email is owned by the workspace already"


def test_a_retired_type_is_read_only_everywhere_and_can_be_restored(
    runtime, api, ws, access, client
):
    old, made = make_type(api, ws, "Old spreadsheet", field("Name", "text"), rows=[{"name": "Ada"}])
    live, _ = make_type(api, ws, "Customers", field("Name", "text"))
    base = ONE.format(ws=ws, type=old["id"])
    retired = api.post(base + "/retire", {"note": "Kept for reference.", "successor": live["id"]})
    assert retired["retired"] == {"note": "Kept for reference.", "successor": live["id"]}
    path = records_path(ws, old)
    refused = api.post(path, {"fields": {"name": "Bo"}}, expect=409)
    assert refused["error"] == {
        "code": "type_retired",
        "message": "Old spreadsheet is retired and read-only. Kept for reference.",
        "retired": True,
        "successor": live["id"],
    }
    api.patch(f"{path}/{made[0]['id']}", {"fields": {"name": "X"}}, expect=409)
    api.delete(f"{path}/{made[0]['id']}", expect=409)
    bulk = api.post(f"{path}/bulk", {"items": [{"fields": {"name": "C"}}], "atomic": False})
    assert bulk["results"][0]["error"]["code"] == "type_retired"
    # Still readable, searchable and exportable.
    assert api.get(path, search="Ada")["items"][0]["fields"]["name"] == "Ada"
    me = sign_in(client, runtime)
    workspaces.add_member(runtime, access, me["email"], "admin")
    page = client.get(f"/w/{ws}/t/{old['id']}")
    assert 'data-testid="retired-banner"' in page.text
    assert f'href="/w/{ws}/t/{live["id"]}">Customers</a>' in page.text
    exported = client.get(f"/w/{ws}/t/{old['id']}/table/export.csv")
    assert exported.status_code == 200 and "Ada" in exported.text
    record_page = client.get(f"/w/{ws}/t/{old['id']}/r/{made[0]['id']}")
    assert "/fields/name/edit" not in record_page.text
    api.post(base + "/retire", {"note": ""}, expect=409)
    api.post(base + "/restore", expect=200)
    api.post(path, {"fields": {"name": "Bo"}}, expect=201)


def test_a_retired_object_is_no_longer_synced_and_gives_its_fields_back(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe:
        ids = stripe.seed_customers(2)
        billing = connect(runtime, access, stripe)
        mapping = map_story(runtime, access, billing, "stripe", rt["id"])
        engine.run_sync(runtime, billing)
        url = f"/workspaces/{ws}/connections/{billing}/mappings/{mapping['id']}"
        assert api.post(url + "/retire", expect=200)["state"] == "retired"
        fields = {f["key"]: f for f in api.get(ONE.format(ws=ws, type=rt["id"]))["fields"]}
        assert fields["legal_name"]["owner"] == {"type": "workspace"}
        stripe.clock.advance(5)
        stripe.update_customer(ids[0], name="Ignored Now")
        assert engine.run_sync(runtime, billing)["rows"] == 0
        api.post(url + "/retire", expect=409)
        api.post(url + "/restore", expect=200)
        assert engine.run_sync(runtime, billing)["rows"] == 1
