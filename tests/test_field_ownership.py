"""Field ownership on the records write path: a field a connection owns is changed by that
connection only, whichever way a change comes in (UI, API single/bulk/upsert, forms, imports),
with an answer naming the owner; the designer and the record page show the owner."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import insert

from tests.helpers import PREFIX, Api, field, make_type, records_path
from tests.web import HX, csrf, sign_in
from workspace import models as m
from workspace.access import workspaces
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.connectors import ownership
from workspace.db import inserted_id, transaction
from workspace.dedupe import merges
from workspace.errors import Conflict
from workspace.forms import forms, intake, tokens
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.schema.definitions import get_type
from workspace.web.fields import field_value

OWNED = "Marketing consent is owned by Mailchimp: change it there"


def add_connection(runtime: Any, ws: int, name: str, kind: str = "mailchimp") -> int:
    """A connection row as the connections service stores one (no credentials needed here)."""
    now = utcnow()
    with transaction(runtime.control, write=True) as conn:
        return inserted_id(
            conn.execute(
                insert(m.connections).values(
                    workspace_id=ws,
                    kind=kind,
                    name=name,
                    base_url="https://example.invalid",
                    config={},
                    webhook_token=f"t{now.timestamp()}{name}",
                    state="active",
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        )


@pytest.fixture
def crm(api: Api, ws: int, runtime: Any, access: Access) -> dict[str, Any]:
    rt, made = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text", required=True),
        field("Email", "email"),
        field("Phone", "phone"),
        field("Marketing consent", "checkbox"),
        rows=[{"name": "Ada", "email": "ada@example.org", "marketing_consent": True}],
    )
    mailchimp = add_connection(runtime, ws, "Mailchimp")
    hubspot = add_connection(runtime, ws, "HubSpot", "hubspot")
    definition = get_type(runtime, access, rt["id"])
    ownership.set_owner(runtime, access, definition, "marketing_consent", mailchimp)
    return {
        "rt": rt,
        "path": records_path(ws, rt),
        "ada": made[0],
        "mailchimp": mailchimp,
        "hubspot": hubspot,
    }


def as_connection(access: Access, connection_id: int) -> Access:
    principal = dataclasses.replace(
        access.principal, source="connector", source_ref=f"connection:{connection_id}"
    )
    return dataclasses.replace(access, principal=principal)


def test_the_api_refuses_a_change_of_an_owned_field_naming_the_owner(api, crm):
    ada = crm["ada"]
    body = api.patch(
        f"{crm['path']}/{ada['id']}", {"fields": {"marketing_consent": False}}, expect=409
    )
    assert body["error"]["code"] == "field_owned"
    assert body["error"]["message"] == OWNED
    assert body["error"]["fields"] == {
        "marketing_consent": "is owned by Mailchimp: change it there"
    }
    assert body["error"]["owners"]["marketing_consent"]["name"] == "Mailchimp"
    # Nothing was written, other fields still can be, and sending the value on file is no
    # change of it.
    assert api.get(f"{crm['path']}/{ada['id']}")["fields"]["marketing_consent"] is True
    same = {"name": "Ada L.", "marketing_consent": True}
    saved = api.patch(f"{crm['path']}/{ada['id']}", {"fields": same}, expect=200)
    assert saved["fields"]["name"] == "Ada L."


def test_creates_bulk_and_upsert_are_refused_per_item(api, crm, ws):
    refused = api.post(
        crm["path"], {"fields": {"name": "Bo", "marketing_consent": True}}, expect=409
    )
    assert refused["error"]["message"] == OWNED
    api.post(crm["path"], {"fields": {"name": "Bo", "marketing_consent": False}}, expect=201)
    items = [
        {"fields": {"name": "Cy"}},
        {"fields": {"name": "Di", "marketing_consent": True}},
    ]
    result = api.post(f"{crm['path']}/bulk", {"items": items, "atomic": False}, expect=200)
    assert [r["status"] for r in result["results"]] == ["created", "error"]
    assert result["results"][1]["error"]["code"] == "field_owned"
    assert result["results"][1]["error"]["message"] == OWNED
    api.post(
        f"/workspaces/{ws}/types/{crm['rt']['id']}/fields",
        {"name": "Code", "type": "text", "config": {"unique": True}},
        expect=201,
    )
    upsert = {"fields": {"code": "C1", "name": "Ed", "marketing_consent": True}, "match_on": "code"}
    assert api.post(f"{crm['path']}/upsert", upsert, expect=409)["error"]["code"] == "field_owned"


def test_only_the_owning_connection_writes_the_field(runtime, access, crm):
    definition = get_type(runtime, access, crm["rt"]["id"])
    ada = crm["ada"]["id"]
    change = {"marketing_consent": False}
    with pytest.raises(Conflict, match=OWNED):
        records.update_record(
            runtime, as_connection(access, crm["hubspot"]), definition, ada, change
        )
    done = records.update_record(
        runtime, as_connection(access, crm["mailchimp"]), definition, ada, change
    )
    assert done["fields"]["marketing_consent"] is False


def test_a_change_of_owner_holds_in_every_process_at_once(runtime, settings, access, api, crm):
    """Another server process gives the field back to the workspace: this one's cached
    definition is stale and the next write follows the new owner."""
    ada = crm["ada"]
    api.patch(f"{crm['path']}/{ada['id']}", {"fields": {"marketing_consent": False}}, expect=409)
    other = build_runtime(settings)
    try:
        acc = workspaces.access(other, access.principal, access.workspace_id)
        ownership.set_owner(
            other, acc, get_type(other, acc, crm["rt"]["id"]), "marketing_consent", None
        )
    finally:
        other.close()
    api.patch(f"{crm['path']}/{ada['id']}", {"fields": {"marketing_consent": False}}, expect=200)
    fields = api.get(f"/workspaces/{access.workspace_id}/types/{crm['rt']['id']}")["fields"]
    assert {f["key"]: f["owner"]["type"] for f in fields}["marketing_consent"] == "workspace"


def test_the_types_api_names_each_owner(api, ws, crm):
    fields = api.get(f"/workspaces/{ws}/types/{crm['rt']['id']}")["fields"]
    owners = {f["key"]: f["owner"] for f in fields}
    assert owners["name"] == {"type": "workspace"}
    assert owners["marketing_consent"] == {
        "type": "connection",
        "connection": crm["mailchimp"],
        "name": "Mailchimp",
    }


def test_only_admins_assign_owners_and_only_to_connections_of_the_workspace(
    runtime, access, crm, make_user, api
):
    definition = get_type(runtime, access, crm["rt"]["id"])
    with pytest.raises(Exception, match="not a field"):
        ownership.set_owner(runtime, access, definition, "nope", crm["mailchimp"])
    other_ws = workspaces.create(runtime, access.principal, "Elsewhere")["id"]
    stranger = add_connection(runtime, other_ws, "Their Mailchimp")
    with pytest.raises(Exception, match="connection not found"):
        ownership.set_owner(runtime, access, definition, "phone", stranger)
    member, _ = make_user()
    workspaces.add_member(runtime, access, member["email"], "member")
    acc = workspaces.access(runtime, Principal(member["id"], member["email"]), access.workspace_id)
    with pytest.raises(Exception, match="admin role"):
        ownership.set_owner(runtime, acc, definition, "phone", crm["mailchimp"])


def test_imports_and_forms_are_refused_too(runtime, access, api, ws, crm):
    csv = "Name,Marketing consent\r\nFay,yes\r\nGus,no\r\n"
    made = api.client.post(
        f"{PREFIX}/workspaces/{ws}/types/{crm['rt']['id']}/imports",
        content=csv.encode(),
        params={"name": "list.csv"},
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    ).json()
    ran = api.post(
        f"/workspaces/{ws}/types/{crm['rt']['id']}/imports/{made['id']}/run",
        {"mapping": made["mapping"]},
        expect=200,
    )
    assert ran["counts"]["rejected"] == 1 and ran["counts"]["created"] == 1
    rows = api.get(
        f"/workspaces/{ws}/types/{crm['rt']['id']}/imports/{made['id']}/rows", outcome="rejected"
    )["items"]
    assert rows[0]["detail"]["message"] == OWNED

    form = forms.create_form(runtime, access, crm["rt"]["id"], "Newsletter")
    config = forms.get_form(runtime, access, form["id"])["config"]
    config["fields"] = [{"key": "name"}, {"key": "marketing_consent"}]
    forms.update_form(runtime, access, form["id"], {"config": config})
    raw = {"_form_token": tokens.issue(runtime, form["id"]), "name": "Hal"}
    raw["marketing_consent"] = ["false", "true"]
    answer = intake.submit(runtime, form["slug"], raw, "198.51.100.9", field_value)
    assert answer.outcome == "refused" and OWNED in (answer.reason or "")


def test_a_merge_chooses_between_values_on_file_whoever_owns_them(runtime, access, api, crm):
    definition = get_type(runtime, access, crm["rt"]["id"])
    twin = records.create(
        runtime, as_connection(access, crm["mailchimp"]), definition, {"name": "Ada"}
    )
    merged = merges.merge(runtime, access, definition, twin["id"], crm["ada"]["id"])
    assert merged["survivor"]["fields"]["name"] == "Ada"


def test_the_record_page_and_the_designer_show_the_owner(client, runtime, access, ws, crm):
    me = sign_in(client, runtime)
    workspaces.add_member(runtime, access, me["email"], "admin")
    ada = crm["ada"]
    url = f"/w/{ws}/t/{crm['rt']['id']}/r/{ada['id']}"
    page = client.get(url)
    assert page.status_code == 200
    assert 'data-testid="owner-marketing_consent"' in page.text
    assert "owned by Mailchimp" in page.text
    # The owned field's row offers no editor; the others do.
    assert "/fields/marketing_consent/edit" not in page.text
    assert "/fields/name/edit" in page.text
    data = {"_csrf_token": csrf(client), "_fields": "marketing_consent", "_version": "1"}
    refused = client.post(f"{url}/fields", data=data, headers=HX)
    assert refused.status_code == 409
    assert "is owned by Mailchimp: change it there" in refused.text
    designer = client.get(f"/w/{ws}/t/{crm['rt']['id']}/design")
    assert designer.status_code == 200
    assert 'data-testid="owner-marketing_consent"' in designer.text
    assert "Owned by Mailchimp" in designer.text
