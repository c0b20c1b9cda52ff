"""The record page and the new record form without a browser: markup stays inert, posts
need the CSRF token, viewers cannot change anything, and everything works without
JavaScript (plain posts and redirects)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web import HX, csrf, log_in, page_user
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types

SCRIPT = '<script>alert("x")</script>'
IMG = "<img src=x onerror=alert(1)>"


class Setup:
    """An owner's workspace with Companies and Customers (Customer.Company -> Company)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.owner = page_user(runtime, "Olivia Owner")
        self.principal = Principal(self.owner["id"], self.owner["email"])
        self.ws = workspaces.create(runtime, self.principal, "Shop")["id"]
        self.acc = workspaces.access(runtime, self.principal, self.ws)
        self.company = self._type("Company", {"name": "Name", "type": "text"})
        self.customer = self._type(
            "Customer",
            {"name": "Name", "type": "text", "config": {"required": True}},
            {"name": "Notes", "type": "long_text"},
            {"name": "Age", "type": "number"},
            {"name": "Company", "type": "relation", "config": {"target": self.company}},
        )

    def _type(self, name: str, *fields: dict[str, Any]) -> int:
        spec = {"name": name, "fields": list(fields)}
        return int(record_types.create_type(self.runtime, self.acc, spec)["id"])

    def rt(self, type_id: int) -> Any:
        return open_type(self.runtime, self.principal, self.ws, type_id)[1]

    def add(self, type_id: int, **fields: Any) -> dict[str, Any]:
        return records.create(self.runtime, self.acc, self.rt(type_id), fields)

    def get(self, type_id: int, record_id: int) -> dict[str, Any]:
        return records.get(self.runtime, self.acc, self.rt(type_id), record_id)

    def count(self, type_id: int) -> int:
        page = records.list_records(self.runtime, self.acc, self.rt(type_id), with_total=True)
        return int(page["total"])

    def url(self, type_id: int, record_id: int | None = None) -> str:
        return f"/w/{self.ws}/t/{type_id}" + (f"/r/{record_id}" if record_id else "")


@pytest.fixture
def shop(runtime: Any) -> Setup:
    return Setup(runtime)


def test_markup_in_values_renders_inert_on_the_page_and_in_the_timeline(client, shop):
    acme = shop.add(shop.company, name=IMG)
    ada = shop.add(shop.customer, name=SCRIPT, notes=SCRIPT, company=[acme["id"]])
    records.update_record(
        shop.runtime, shop.acc, shop.rt(shop.customer), ada["id"], {"name": "Ada " + SCRIPT}
    )
    log_in(client, shop.owner)
    for url in (shop.url(shop.customer, ada["id"]), shop.url(shop.company, acme["id"])):
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
    page = client.get(shop.url(shop.customer, ada["id"]))
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    assert f'<h1 id="record-title">Ada {escaped}</h1>' in page.text
    timeline = page.text.split('data-testid="timeline"')[1]
    assert f'<span class="old">{escaped}</span>' in timeline
    assert f'<span class="new">Ada {escaped}</span>' in timeline
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text  # the linked company's title

    fragment = client.get(shop.url(shop.customer, ada["id"]) + "/fields/notes/edit", headers=HX)
    assert fragment.status_code == 200
    assert re.search(
        r'<textarea id="f-notes"[^>]*>' + re.escape(escaped) + "</textarea>", fragment.text
    )

    refused = client.post(
        shop.url(shop.customer) + "/new",
        data={"_fields": "name,age", "name": SCRIPT, "age": SCRIPT, "_csrf_token": csrf(client)},
    )
    assert refused.status_code == 422
    assert "<script>alert" not in refused.text
    assert f'value="{escaped}"' in refused.text


def test_markup_in_names_renders_inert(client, shop):
    rt = record_types.create_type(
        shop.runtime,
        shop.acc,
        {"name": "Type " + SCRIPT, "fields": [{"name": "Field " + SCRIPT, "type": "text"}]},
    )
    record = records.create(
        shop.runtime, shop.acc, shop.rt(rt["id"]), {rt["fields"][0]["key"]: "x"}
    )
    log_in(client, shop.owner)
    for url in (shop.url(rt["id"], record["id"]), shop.url(rt["id"]) + "/new"):
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "Field &lt;script&gt;" in page.text


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(client, shop):
    ada = shop.add(shop.customer, name="Ada")
    log_in(client, shop.owner)
    url = shop.url(shop.customer, ada["id"])
    saved = client.post(url + "/fields", data={"_fields": "name", "name": "Eve"}, headers=HX)
    assert saved.status_code == 403
    created = client.post(shop.url(shop.customer) + "/new", data={"_fields": "name", "name": "Eve"})
    assert created.status_code == 403
    deleted = client.post(url + "/delete")
    assert deleted.status_code == 403
    forged = client.post(url + "/delete", data={"_csrf_token": "forged"})
    assert forged.status_code == 403
    assert "Traceback" not in forged.text
    assert shop.get(shop.customer, ada["id"])["fields"]["name"] == "Ada"
    assert shop.count(shop.customer) == 1


def test_a_viewer_reads_but_cannot_change(client, shop):
    viewer = page_user(shop.runtime, "Vera Viewer")
    workspaces.add_member(shop.runtime, shop.acc, viewer["email"], "viewer")
    ada = shop.add(shop.customer, name="Ada")
    log_in(client, viewer)
    url = shop.url(shop.customer, ada["id"])
    page = client.get(url)
    assert page.status_code == 200
    assert "Ada" in page.text
    assert "editable" not in page.text
    assert "/delete" not in page.text
    assert "your role does not allow changes" in page.text
    token = {"_csrf_token": csrf(client)}
    assert client.get(url + "/fields/name/edit", headers=HX).status_code == 403
    saved = client.post(url + "/fields", data={"_fields": "name", "name": "Eve", **token})
    assert saved.status_code == 403
    assert "this needs the member role" in saved.text
    assert client.get(shop.url(shop.customer) + "/new").status_code == 403
    created = client.post(
        shop.url(shop.customer) + "/new", data={"_fields": "name", "name": "Eve", **token}
    )
    assert created.status_code == 403
    assert client.post(url + "/delete", data=token).status_code == 403
    assert shop.get(shop.customer, ada["id"])["fields"]["name"] == "Ada"
    assert shop.count(shop.customer) == 1


def test_editing_a_field_works_without_javascript(client, shop):
    ada = shop.add(shop.customer, name="Ada")
    log_in(client, shop.owner)
    url = shop.url(shop.customer, ada["id"])
    token = {"_csrf_token": csrf(client)}
    # the edit link (in <noscript>) opens the field's form on the page itself
    assert client.get(url + "/fields/age/edit", follow_redirects=False).headers["location"] == (
        f"{url}?edit=age#field-age"
    )
    form = client.get(url + "?edit=age")
    assert 'name="_fields" value="age"' in form.text
    assert 'name="_version" value="1"' in form.text

    refused = client.post(
        url + "/fields", data={"_fields": "age", "_version": "1", "age": "lots", **token}
    )
    assert refused.status_code == 422
    assert "<h1" in refused.text  # the whole page, with the form open
    assert re.search(r'id="f-age-error">must be a number', refused.text)
    assert 'value="lots"' in refused.text

    saved = client.post(
        url + "/fields",
        data={"_fields": "age", "_version": "1", "age": "36", **token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{url}#field-age"
    assert shop.get(shop.customer, ada["id"])["fields"]["age"] == 36

    stale = client.post(
        url + "/fields", data={"_fields": "age", "_version": "1", "age": "40", **token}
    )
    assert stale.status_code == 409
    assert "Someone else changed this record" in stale.text
    assert shop.get(shop.customer, ada["id"])["fields"]["age"] == 36


def test_htmx_saves_answer_with_the_row_and_refresh_title_and_timeline(client, shop):
    ada = shop.add(shop.customer, name="Ada")
    log_in(client, shop.owner)
    url = shop.url(shop.customer, ada["id"])
    saved = client.post(
        url + "/fields",
        data={"_fields": "name", "_version": "1", "name": "Ada L", "_csrf_token": csrf(client)},
        headers=HX,
    )
    assert saved.status_code == 200
    assert saved.text.lstrip().startswith('<div class="field-row" id="field-name"')
    assert 'id="record-head" hx-swap-oob="true"' in saved.text
    assert re.search(r'<div id="timeline" hx-swap-oob="true">', saved.text)
    assert "Olivia Owner" in saved.text
    missing = client.post(
        url + "/fields", data={"_fields": "nope", "_csrf_token": csrf(client)}, headers=HX
    )
    assert missing.status_code == 400


def test_saving_a_field_of_a_record_deleted_meanwhile_says_so(client, shop):
    ada = shop.add(shop.customer, name="Ada")
    log_in(client, shop.owner)
    url = shop.url(shop.customer, ada["id"])
    records.delete(shop.runtime, shop.acc, shop.rt(shop.customer), ada["id"])
    data = {"_fields": "name", "_version": "1", "name": "Eve", "_csrf_token": csrf(client)}
    refused = client.post(url + "/fields", data=data, headers=HX)
    assert refused.status_code == 404
    assert "Someone deleted this record" in refused.text
    assert 'value="Eve"' in refused.text
    page = client.post(url + "/fields", data=data)
    assert page.status_code == 404
    assert "This record was deleted" in page.text


def test_a_unique_clash_links_to_the_record_holding_the_value(client, shop):
    rt = record_types.create_type(
        shop.runtime,
        shop.acc,
        {
            "name": "Member",
            "fields": [{"name": "Email", "type": "email", "config": {"unique": True}}],
        },
    )
    first = records.create(shop.runtime, shop.acc, shop.rt(rt["id"]), {"email": "a@example.com"})
    log_in(client, shop.owner)
    refused = client.post(
        shop.url(rt["id"]) + "/new",
        data={"_fields": "email", "email": "a@example.com", "_csrf_token": csrf(client)},
    )
    assert refused.status_code == 409
    link = f'<a href="{shop.url(rt["id"], first["id"])}" data-testid="clash-link">a@example.com</a>'
    assert f"is already used by {link}" in refused.text


def test_a_deleted_record_page_offers_restore_and_an_unknown_one_is_not_found(client, shop):
    ada = shop.add(shop.customer, name="Ada")
    records.delete(shop.runtime, shop.acc, shop.rt(shop.customer), ada["id"])
    log_in(client, shop.owner)
    page = client.get(shop.url(shop.customer, ada["id"]))
    assert page.status_code == 200
    assert "This record was deleted" in page.text
    assert "/restore" in page.text
    assert "editable" not in page.text
    restored = client.post(
        shop.url(shop.customer, ada["id"]) + "/restore",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert restored.status_code == 303
    assert shop.get(shop.customer, ada["id"])["fields"]["name"] == "Ada"
    missing = client.get(shop.url(shop.customer, ada["id"] + 1000))
    assert missing.status_code == 404
    assert "Traceback" not in missing.text


def test_the_relation_picker_searches_and_keeps_what_is_ticked(client, shop):
    acme = shop.add(shop.company, name="Acme")
    globex = shop.add(shop.company, name="Globex")
    log_in(client, shop.owner)
    url = shop.url(shop.company) + "/pick"
    found = client.get(
        url, params={"_pick_name": "company", "_pick_q": "glo", "company": acme["id"]}, headers=HX
    )
    assert found.status_code == 200
    boxes = re.findall(
        r'<input type="checkbox" name="company" value="(\d+)"( checked)?>', found.text
    )
    assert boxes == [(str(acme["id"]), " checked"), (str(globex["id"]), "")]
    bad = client.get(url, params={"_pick_name": "<x>"}, headers=HX)
    assert bad.status_code == 400
