"""The form builder's pages and the forms API: who may do what, a save round trip, a refused
save that keeps what was typed, the submissions list and the team's copy of an edit link."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.helpers import Api, field, make_type
from tests.web import HX, csrf, log_in, page_user
from workspace import models as m
from workspace.access import auth, workspaces
from workspace.forms import forms, intake, tokens
from workspace.forms import submissions as form_submissions
from workspace.principal import Principal
from workspace.web.fields import field_value


@pytest.fixture
def setup(client: Any, runtime: Any, make_user: Any) -> dict[str, Any]:
    """An owner signed in on the pages, with a Customer type and one form."""
    me = page_user(runtime, "Olga Owner")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Shop")["id"]
    acc = workspaces.access(runtime, principal, ws)
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    rt, _ = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text", required=True),
        field("Email", "email"),
        field("Owner", "user"),
        field("Plan", "single_choice", choices=["Free", "Pro"]),
    )
    form = forms.create_form(runtime, acc, rt["id"], "Contact")
    log_in(client, me)
    return {"me": me, "ws": ws, "acc": acc, "rt": rt, "form": form, "api": api}


def builder_post(setup: dict[str, Any], client: Any, **extra: Any) -> dict[str, Any]:
    """What the builder page posts, with every field of the type listed."""
    data = {
        "_csrf_token": csrf(client),
        "_keys": "name,email,owner,plan",
        "name": "Contact us",
        "is_open": "1",
        "policy": "fill_empty",
        "success_message": "Thanks!",
        "f.name.on": "on",
        "f.name.label": "Your name",
        "f.name.order": "2",
        "f.name.required": "on",
        "f.email.on": "on",
        "f.email.label": "Email",
        "f.email.order": "1",
        "f.email.protect": "on",
        "f.owner.on": "on",
        "f.owner.hidden": "on",
        "f.owner.value": str(setup["me"]["id"]),
        "f.owner.order": "3",
        "f.plan.order": "4",
        "f.plan.label": "Plan",
    }
    data.update(extra)
    return data


def test_the_list_offers_a_first_form_and_creates_one(client, runtime, setup):
    page = client.get(f"/w/{setup['ws']}/forms")
    assert page.status_code == 200
    assert "Contact" in page.text and f"/f/{setup['form']['slug']}" in page.text
    made = client.post(
        f"/w/{setup['ws']}/forms",
        data={"_csrf_token": csrf(client), "record_type": str(setup["rt"]["id"]), "name": ""},
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"].endswith("?created=1")
    page = client.get(made.headers["location"])
    assert "Customer form" in page.text and "Your form is ready and open" in page.text
    bad = client.post(
        f"/w/{setup['ws']}/forms", data={"_csrf_token": csrf(client), "record_type": "x"}
    )
    assert bad.status_code == 404 and "choose the record type" in bad.text


def test_saving_the_builder_stores_order_labels_hidden_values_and_policy(client, runtime, setup):
    url = f"/w/{setup['ws']}/forms/{setup['form']['id']}"
    saved = client.post(url, data=builder_post(setup, client), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    form = forms.get_form(runtime, setup["acc"], setup["form"]["id"])
    assert form["name"] == "Contact us"
    assert [(f["key"], f["label"]) for f in form["config"]["fields"]] == [
        ("email", "Email"),
        ("name", "Your name"),
        ("owner", "Owner"),
    ]
    owner = form["config"]["fields"][2]
    assert owner["hidden"] and owner["value"] == setup["me"]["id"]
    assert form["config"]["fields"][0]["protect"] is True
    assert form["config"]["policy"] == "fill_empty"
    page = client.get(url + "?saved=1")
    assert "Saved." in page.text
    assert re.search(r'name="f.email.protect"[^>]*checked', page.text)
    assert f'<option value="{setup["me"]["id"]}" selected>' in page.text


def test_a_refused_save_shows_why_keeps_what_was_typed_and_changes_nothing(client, runtime, setup):
    url = f"/w/{setup['ws']}/forms/{setup['form']['id']}"
    data = builder_post(
        setup,
        client,
        **{"f.owner.value": "", "redirect_url": "https://evil.example/", "f.name.label": "Naam"},
    )
    refused = client.post(url, data=data)
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text
    assert "Owner: A hidden field needs a prefill parameter or a fixed value" in refused.text
    assert "Redirects are off on this server" in refused.text
    assert 'value="Naam"' in refused.text and 'value="https://evil.example/"' in refused.text
    assert forms.get_form(runtime, setup["acc"], setup["form"]["id"])["name"] == "Contact"


def test_members_see_forms_but_only_admins_change_them_and_strangers_see_nothing(
    client, runtime, setup
):
    member = page_user(runtime, "Mo Member")
    setup["api"].post(
        f"/workspaces/{setup['ws']}/members", {"email": member["email"], "role": "member"}
    )
    log_in(client, member)
    url = f"/w/{setup['ws']}/forms/{setup['form']['id']}"
    page = client.get(url)
    assert page.status_code == 200 and "Only admins can change forms." in page.text
    assert "<fieldset disabled>" in page.text
    assert client.post(url, data=builder_post(setup, client)).status_code == 403
    stranger = page_user(runtime, "Sam Stranger")
    log_in(client, stranger)
    assert client.get(url).status_code == 404
    assert client.get(f"/w/{setup['ws']}/forms").status_code == 404


def test_the_submissions_list_shows_each_outcome_and_filters(client, runtime, setup):
    slug = setup["form"]["slug"]
    form_id = setup["form"]["id"]

    def send(values: dict[str, Any]) -> None:
        raw = {"_form_token": tokens.issue(runtime, form_id), **values}
        intake.submit(runtime, slug, raw, "192.0.2.1", field_value)

    send({"name": "Ada <script>", "email": "ada@example.org"})
    send({"name": "", "email": "nope"})
    send({"name": "Bot", intake.HONEYPOT: "x"})
    url = f"/w/{setup['ws']}/forms/{form_id}/submissions"
    page = client.get(url)
    assert page.status_code == 200
    assert "Ada &lt;script&gt;" in page.text and "<script>" not in page.text.split("<main")[1]
    for label in ("Created", "Rejected", "Spam"):
        assert f">{label}</span>" in page.text
    assert "Open record" in page.text
    only = client.get(url + "?outcome=spam")
    assert "Bot" in only.text and "Ada" not in only.text
    assert client.get(url + "?outcome=bogus").status_code == 200

    [created] = form_submissions.list_submissions(
        runtime, setup["acc"], form_id, outcome="created"
    )["items"]
    link_url = f"{url}/{created['id']}/edit-link"
    fragment = client.get(link_url, headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    link = re.search(r'value="(http[^"]+/edit/[^"]+)"', fragment.text).group(1)  # type: ignore[union-attr]
    assert client.get(urlsplit(link).path).status_code == 200
    full = client.get(link_url)
    assert "<html" in full.text and "Send this private link" in full.text
    [rejected] = form_submissions.list_submissions(
        runtime, setup["acc"], form_id, outcome="rejected"
    )["items"]
    assert client.get(f"{url}/{rejected['id']}/edit-link").status_code == 404


def test_deleting_a_form_keeps_its_submissions(client, runtime, setup):
    form_id = setup["form"]["id"]
    raw = {"_form_token": tokens.issue(runtime, form_id), "name": "Ada"}
    intake.submit(runtime, setup["form"]["slug"], raw, "192.0.2.1", field_value)
    deleted = client.post(
        f"/w/{setup['ws']}/forms/{form_id}/delete",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    assert "No forms yet." in client.get(f"/w/{setup['ws']}/forms").text
    assert client.get(f"/f/{setup['form']['slug']}").status_code == 404
    with runtime.control.connect() as conn:
        kept = conn.execute(
            select(m.form_submissions.c.outcome).where(m.form_submissions.c.form_id == form_id)
        ).all()
    assert [k.outcome for k in kept] == ["created"]


def test_public_posts_need_the_csrf_token(client, runtime, setup):
    client.cookies.clear()
    client.get(f"/f/{setup['form']['slug']}")
    response = client.post(f"/f/{setup['form']['slug']}", data={"name": "Ada"})
    assert response.status_code == 403


def test_the_api_lists_forms_and_their_submissions(client, runtime, setup):
    api = setup["api"]
    form_id = setup["form"]["id"]
    raw = {"_form_token": tokens.issue(runtime, form_id), "name": "Ada"}
    intake.submit(runtime, setup["form"]["slug"], raw, "192.0.2.1", field_value)
    listed = api.get(f"/workspaces/{setup['ws']}/forms", expect=200)
    assert [(f["id"], f["submissions"]) for f in listed] == [(form_id, 1)]
    page = api.get(f"/workspaces/{setup['ws']}/forms/{form_id}/submissions", expect=200)
    assert page["items"][0]["outcome"] == "created"
    assert "ip_hash" not in page["items"][0]
    api.get(f"/workspaces/{setup['ws']}/forms/999999/submissions", expect=404)
