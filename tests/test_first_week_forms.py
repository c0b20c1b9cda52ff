"""A new form publishes only the fields a stranger should fill, and the builder says which
fields are public."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, field, make_type
from tests.web import log_in, page_user
from workspace.access import auth, workspaces
from workspace.forms import forms
from workspace.principal import Principal


@pytest.fixture
def shop(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Fay Forms")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Shop")["id"]
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    company, _ = make_type(api, ws, "Company", field("Name", "text"))
    rt, _ = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text", required=True),
        field("Email", "email"),
        field("Status", "single_choice", choices=["Lead", "Customer", "Lost"]),
        field("Tags", "multiple_choice", choices=["VIP", "Late payer"]),
        field("Topic", "single_choice", choices=["Sales", "Support"], required=True),
        field("Owner", "user"),
        field("Company", "relation", target=company["id"]),
        field("Message", "long_text"),
    )
    log_in(client, me)
    acc = workspaces.access(runtime, principal, ws)
    return {"ws": ws, "rt": rt, "acc": acc}


def test_a_new_form_leaves_the_teams_own_fields_out(runtime, shop):
    form = forms.create_form(runtime, shop["acc"], shop["rt"]["id"], "Contact")
    shown = [f["key"] for f in form["config"]["fields"]]
    # Status and Tags describe the team's view; a required choice must be asked for.
    assert shown == ["name", "email", "topic", "message"]


def test_the_builder_says_which_fields_are_public(client, runtime, shop):
    form = forms.create_form(runtime, shop["acc"], shop["rt"]["id"], "Contact")
    page = client.get(f"/w/{shop['ws']}/forms/{form['id']}")
    assert page.status_code == 200
    summary = page.text.split('data-testid="public-fields"', 1)[1].split("</p>", 1)[0]
    assert "Name, Email, Topic, Message." in summary
    assert "Not shown to them: Status, Tags, Owner, Company." in summary
    assert page.text.count('<span class="badge public">public</span>') == 4
