"""A "new record" that an ``update`` dedupe rule merged into a record on file says so, on the
page and in the API answer, instead of landing on someone else's record without a word."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from tests.web import csrf, log_in, page_user
from workspace.access import auth, workspaces
from workspace.principal import Principal


@pytest.fixture
def crm(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Nina New")
    ws = workspaces.create(runtime, Principal(me["id"], me["email"]), "Shop")["id"]
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    rt, _ = make_type(api, ws, "Customer", field("Name", "text"), field("Email", "email"))
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "block"},
        expect=201,
    )
    bob = api.post(
        records_path(ws, rt), {"fields": {"name": "Bob Stone", "email": "bob@x.org"}}, expect=201
    )
    log_in(client, me)
    return {"ws": ws, "rt": rt, "api": api, "bob": bob, "base": f"/w/{ws}/t/{rt['id']}"}


def test_the_api_answer_says_the_new_record_was_merged_into_the_one_on_file(crm):
    bob = crm["bob"]
    answer = crm["api"].post(
        records_path(crm["ws"], crm["rt"]),
        {"fields": {"name": "Robert Stone", "email": "BOB@x.org"}},
        expect=200,
    )
    assert answer["merged_into"] == bob["id"] == answer["id"]
    assert answer["message"] == f"Merged into Bob Stone #{bob['id']}, which was on file"
    fresh = crm["api"].post(
        records_path(crm["ws"], crm["rt"]), {"fields": {"name": "Cy", "email": "cy@x.org"}}
    )
    assert "message" not in fresh and "merged_into" not in fresh


def test_the_new_record_form_says_where_the_values_went(client, crm):
    bob = crm["bob"]
    posted = client.post(
        crm["base"] + "/new",
        data={
            "_csrf_token": csrf(client),
            "_fields": "name,email",
            "name": "Rob",
            "email": "bob@x.org",
        },
        follow_redirects=True,
    )
    assert posted.status_code == 200
    assert str(posted.url).endswith(f"/r/{bob['id']}?merged=1")
    assert f"Merged into Bob Stone #{bob['id']}, which was on file" in posted.text

    another = client.post(
        crm["base"] + "/new",
        data={
            "_csrf_token": csrf(client),
            "_fields": "name,email",
            "name": "Rob",
            "email": "bob@x.org",
            "_another": "1",
        },
        follow_redirects=True,
    )
    assert f'Merged into <a href="{crm["base"]}/r/{bob["id"]}">Bob Stone #{bob["id"]}</a>' in (
        another.text
    )

    created = client.post(
        crm["base"] + "/new",
        data={
            "_csrf_token": csrf(client),
            "_fields": "name,email",
            "name": "Cy",
            "email": "cy@x.org",
        },
        follow_redirects=True,
    )
    assert "Merged into" not in created.text and "merged-notice" not in created.text
