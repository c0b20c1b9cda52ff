"""Connections through the API and the pages: credentials sealed and never shown back, the
vendor's address by default and any other checked like every host an admin names, the test
naming the step that failed, mappings refused naming each bad property, admins only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connectors import (
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
)
from tests.fake_saas import HubSpotFake, MailchimpFake
from tests.helpers import Api
from tests.web import csrf, sign_in
from workspace.access import workspaces
from workspace.settings import Settings

pytest_plugins = ["tests.fake_saas.fixtures"]
CONNECTIONS = "/workspaces/{ws}/connections"


pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def path(ws: int, tail: str = "") -> str:
    return CONNECTIONS.format(ws=ws) + tail


def hubspot_body(fake: HubSpotFake, **extra: Any) -> dict[str, Any]:
    body = {"kind": "hubspot", "base_url": fake.url, "config": {"access_token": fake.token}}
    return body | extra


def test_credentials_are_sealed_and_never_shown_back(api, ws, runtime, hubspot_fake):
    made = api.post(path(ws), hubspot_body(hubspot_fake, name="Sales CRM"), expect=201)
    assert made["name"] == "Sales CRM" and made["secrets_saved"] == ["access_token"]
    assert hubspot_fake.token not in str(made)
    listed = api.get(path(ws))
    assert hubspot_fake.token not in str(listed) and listed[0]["id"] == made["id"]
    tested = api.post(path(ws, f"/{made['id']}/test"), expect=200)
    assert tested["message"].startswith("Connected to HubSpot at http://127.0.0.1")
    # A blank secret keeps the saved one; a wrong one is named with the failing step.
    api.patch(path(ws, f"/{made['id']}"), {"config": {"access_token": ""}}, expect=200)
    api.post(path(ws, f"/{made['id']}/test"), expect=200)
    api.patch(path(ws, f"/{made['id']}"), {"config": {"access_token": "pat-wrong"}}, expect=200)
    failed = api.post(path(ws, f"/{made['id']}/test"), expect=422)
    assert failed["error"]["code"] == "connection_failed"
    assert failed["error"]["message"].startswith(
        "Test failed while reading contacts: credentials rejected: Authentication credentials"
    )


def test_bad_settings_are_refused_naming_the_setting(api, ws):
    refused = api.post(path(ws), {"kind": "nope", "config": {}}, expect=422)
    assert "kind" in refused["error"]["fields"]
    refused = api.post(path(ws), {"kind": "mailchimp", "config": {"api_key": "k-us6"}}, expect=422)
    assert refused["error"]["fields"] == {"config.list_id": "Audience ID is required"}
    refused = api.post(
        path(ws),
        {"kind": "stripe", "config": {"secret_key": "sk", "extra": "x"}, "name": " "},
        expect=422,
    )
    assert refused["error"]["fields"] == {
        "config.extra": "is not a setting of this connector",
        "name": "must be 1 to 200 characters",
    }
    for url in ("ftp://example.com", "https://user:pw@example.com", "not a url"):
        body = {"kind": "stripe", "config": {"secret_key": "sk"}, "base_url": url}
        assert "base_url" in api.post(path(ws), body, expect=422)["error"]["fields"]
    body = {"kind": "stripe", "config": {"secret_key": "sk"}, "pull_every": 10**6}
    assert "pull_every" in api.post(path(ws), body, expect=422)["error"]["fields"]


def test_a_private_address_needs_the_operator_s_consent(database_url, tmp_path, make_user):
    """Without WORKSPACE_ALLOW_PRIVATE_HOSTS the API address may not be on the server's own
    network: the admin gets the reason, naming the setting."""
    from litestar.testing import TestClient

    from workspace.app import create_app
    from workspace.boot import build_runtime

    settings = Settings(database_url=database_url, data_dir=tmp_path, migrate_on_start=False)
    runtime = build_runtime(settings)
    try:
        user = make_user()
        with TestClient(create_app(settings, runtime)) as client:
            api = Api(client, user[1])
            ws = api.post("/workspaces", {"name": "W"}, expect=201)["id"]
            body = {"kind": "stripe", "config": {"secret_key": "sk"}}
            body["base_url"] = "http://127.0.0.1:9/"
            refused = api.post(path(ws), body, expect=422)
            assert "WORKSPACE_ALLOW_PRIVATE_HOSTS" in refused["error"]["fields"]["base_url"]
            made = api.post(
                path(ws), {"kind": "stripe", "config": {"secret_key": "sk"}}, expect=201
            )
            assert made["effective_base_url"] == "https://api.stripe.com"
    finally:
        runtime.close()


def test_mappings_follow_the_owner_rules(api, ws, runtime, hubspot_fake, mailchimp_fake):
    rt = customer_type(api, ws)
    hubspot = api.post(path(ws), hubspot_body(hubspot_fake), expect=201)["id"]
    body = {"kind": "mailchimp", "base_url": mailchimp_fake.base_url}
    body["config"] = {"api_key": mailchimp_fake.api_key, "list_id": mailchimp_fake.list_id}
    mailchimp = api.post(path(ws), body, expect=201)["id"]
    owned = {"property": "marketing_consent", "field": "marketing_consent", "owner": "connection"}
    saved = api.put(
        path(ws, f"/{mailchimp}/mappings"),
        {"object": "members", "type": rt["id"], "properties": [owned]},
        expect=200,
    )
    assert saved["properties"][0]["owner"] == "connection"
    fields = api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"]
    assert {f["key"]: f["owner"].get("name") for f in fields}["marketing_consent"] == "Mailchimp"
    bad = [
        {"property": "nope", "field": "name"},
        {"property": "email", "field": "nope"},
        {"property": "phone", "field": "phone", "direction": "sideways"},
        {"property": "company", "field": "marketing_consent", "direction": "pull"},
        {"property": "firstname", "field": "name", "owner": "connection", "direction": "push"},
    ]
    refused = api.put(
        path(ws, f"/{hubspot}/mappings"),
        {"object": "contacts", "type": rt["id"], "properties": bad},
        expect=422,
    )
    assert refused["error"]["fields"] == {
        "properties.0": "'nope' is not a property of Contacts",
        "properties.1": "'nope' is not a field of Customer that takes values",
        "properties.2": "direction must be pull, push or both",
        "properties.3": "Marketing consent is owned by Mailchimp: this connection can only push it",
        "properties.4": "Name is owned by this connection: it is only pulled",
    }
    # The owner's copy can be pushed on to another tool.
    pushed = {"property": "company", "field": "marketing_consent", "direction": "push"}
    api.put(
        path(ws, f"/{hubspot}/mappings"),
        {"object": "contacts", "type": rt["id"], "properties": [pushed]},
        expect=200,
    )
    # Disconnecting Mailchimp gives consent back to the workspace.
    api.delete(path(ws, f"/{mailchimp}"), expect=204)
    fields = api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"]
    assert {f["key"]: f["owner"]["type"] for f in fields}["marketing_consent"] == "workspace"


def test_only_admins_manage_connections(api, ws, runtime, access, make_user, as_user):
    member, token = make_user()
    workspaces.add_member(runtime, access, member["email"], "member")
    them = as_user(token)
    them.get(path(ws), expect=403)
    them.post(path(ws), {"kind": "stripe", "config": {"secret_key": "sk"}}, expect=403)
    stranger = as_user(make_user()[1])
    stranger.get(path(ws), expect=404)


def test_the_api_is_in_the_openapi_document(client):
    schema = client.get("/api/v1/schema/openapi.json").json()
    assert "/api/v1/workspaces/{workspace_id}/connections" in schema["paths"]
    assert "/api/v1/workspaces/{workspace_id}/types/{record_type_id}/ownership" in schema["paths"]
    assert not any(p.startswith("/api/v1/hooks/connections") for p in schema["paths"])


def test_an_admin_connects_a_tool_in_the_pages(client, runtime, access, ws):
    me = sign_in(client, runtime)
    workspaces.add_member(runtime, access, me["email"], "admin")
    with HubSpotFake() as hubspot, MailchimpFake():
        page = client.get(f"/w/{ws}/settings/connections?kind=hubspot")
        assert page.status_code == 200 and "Connect HubSpot" in page.text
        form = {"_csrf_token": csrf(client), "kind": "hubspot", "name": "CRM"}
        form |= {"base_url": hubspot.url, "config.access_token": hubspot.token}
        made = client.post(f"/w/{ws}/settings/connections", data=form, follow_redirects=False)
        assert made.status_code == 303
        shown = client.get(made.headers["location"])
        assert "Saved. Test the connection" in shown.text
        assert 'data-testid="secret-saved-access_token"' in shown.text
        assert hubspot.token not in shown.text
        hubspot.reject_credentials()
        url = made.headers["location"].split("?")[0]
        tested = client.post(f"{url}/test", data={"_csrf_token": csrf(client)})
        assert tested.status_code == 422
        assert "reading contacts: credentials rejected" in tested.text
        form["config.access_token"] = ""
        form["base_url"] = "gopher://x"
        again = client.post(f"/w/{ws}/settings/connections", data=form)
        assert again.status_code == 422 and "must be an http or https address" in again.text
        assert "Private app access token is required" in again.text
