"""The record type designer over HTTP (no browser): who may design, plain form posts and htmx
fragments, errors next to their input, inert markup in names, and CSRF."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.web import HX, csrf, sign_in
from workspace.access import workspaces
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.runtime import Runtime
from workspace.types import record_types


def access(runtime: Runtime, user: dict[str, Any], ws: int) -> Access:
    return workspaces.access(runtime, Principal(user["id"], user["email"]), ws)


def post(client: TestClient[Any], path: str, data: dict[str, Any], **kw: Any) -> Any:
    return client.post(path, data={**data, "_csrf_token": csrf(client)}, **kw)


def hx_post(client: TestClient[Any], path: str, data: dict[str, Any]) -> Any:
    """As htmx sends it: the token in a header."""
    return client.post(path, data=data, headers={**HX, "x-csrftoken": csrf(client)})


@pytest.fixture
def owner_ws(client: TestClient[Any], runtime: Runtime) -> tuple[dict[str, Any], int]:
    owner = sign_in(client, runtime, "Olivia Owner")
    ws = workspaces.create(runtime, Principal(owner["id"], owner["email"]), "Sales")["id"]
    return owner, int(ws)


def make_type(client: TestClient[Any], ws: int, name: str, rows: dict[str, str]) -> int:
    response = post(client, f"/w/{ws}/types", {"name": name, **rows}, follow_redirects=False)
    assert response.status_code == 303, response.text
    found = re.fullmatch(rf"/w/{ws}/t/(\d+)/design", response.headers["location"])
    assert found, response.headers["location"]
    return int(found[1])


def test_new_type_with_first_fields_then_the_designer(client, runtime, owner_ws):
    owner, ws = owner_ws
    page = client.get(f"/w/{ws}/types/new")
    assert page.status_code == 200
    assert "Name of the record type" in page.text
    rt_id = make_type(
        client,
        ws,
        "Customer",
        {
            "f0.name": "Name",
            "f0.type": "text",
            "f1.name": "Status",
            "f1.type": "single_choice",
            "f1.config.choices": "Lead\nActive\n",
            "f2.name": "",  # empty rows are skipped
            "f2.type": "number",
        },
    )
    rt = record_types.get_type(runtime, access(runtime, owner, ws), rt_id)
    assert [(f.name, f.type.name) for f in rt.fields] == [
        ("Name", "text"),
        ("Status", "single_choice"),
    ]
    assert [c["label"] for c in rt.fields[1].config["choices"]] == ["Lead", "Active"]
    page = client.get(f"/w/{ws}/t/{rt_id}/design")
    assert page.status_code == 200
    assert 'aria-label="Name of field Status"' in page.text
    assert 'data-testid="preview-status"' in page.text


def test_new_type_errors_stay_next_to_their_row(client, runtime, owner_ws):
    _, ws = owner_ws
    response = post(
        client,
        f"/w/{ws}/types",
        {"name": "Orders", "f0.name": "Amount", "f0.type": "number", "f1.name": "Amount"},
    )
    assert response.status_code == 422
    row = response.text.split('data-testid="new-row-1"')[1].split('data-testid="new-row-2"')[0]
    assert "Another field already has this name." in row
    assert 'value="Orders"' in response.text  # what was typed stays
    response = post(client, f"/w/{ws}/types", {"name": "  "})
    assert response.status_code == 422
    assert 'id="type-name-error">Must not be empty.' in response.text


def test_add_configure_and_error_next_to_the_option(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Lead", {"f0.name": "Name"})
    base = f"/w/{ws}/t/{rt_id}/design"
    added = hx_post(
        client, base + "/fields", {"name": "Budget", "type": "number", "config.decimals": "2"}
    )
    assert added.status_code == 200
    assert 'id="fields"' in added.text and 'id="preview" class="preview"' in added.text
    assert 'hx-swap-oob="true"' in added.text
    rt = record_types.get_type(runtime, access(runtime, owner, ws), rt_id)
    budget = rt.field_by_key("budget")
    assert budget is not None and budget.config["decimals"] == 2

    bad = hx_post(
        client,
        f"{base}/fields/{budget.id}/config",
        {"config.decimals": "2", "config.min": "10", "config.max": "5"},
    )
    assert bad.status_code == 422
    assert f'id="f{budget.id}-min-error">Must not be greater than the maximum.' in bad.text
    assert f'id="f{budget.id}-min" name="config.min" type="number"' in bad.text

    good = hx_post(
        client,
        f"{base}/fields/{budget.id}/config",
        {"config.decimals": "2", "config.min": "0", "config.required": "true"},
    )
    assert good.status_code == 200
    assert "Saved" in good.text
    budget = record_types.get_type(runtime, access(runtime, owner, ws), rt_id).field_by_key(
        "budget"
    )
    assert budget.config["required"] is True and budget.config["min"] == 0


def test_plain_form_posts_work_without_javascript(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(
        client, ws, "Ticket", {"f0.name": "Subject", "f1.name": "Due", "f1.type": "date"}
    )
    base = f"/w/{ws}/t/{rt_id}/design"
    rt = record_types.get_type(runtime, access(runtime, owner, ws), rt_id)
    due = rt.field_by_key("due")
    moved = post(
        client, f"{base}/fields/{due.id}/move", {"direction": "up"}, follow_redirects=False
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == f"{base}#field-{due.id}"
    rt = record_types.get_type(runtime, access(runtime, owner, ws), rt_id)
    assert [f.key for f in rt.fields] == ["due", "subject"]

    renamed = post(
        client,
        f"{base}/fields/{due.id}/name",
        {"name": "Due on", "open": "1"},
        follow_redirects=False,
    )
    assert renamed.headers["location"] == f"{base}?open={due.id}#field-{due.id}"
    page = client.get(renamed.headers["location"])
    assert f'id="settings-{due.id}"' in page.text  # the settings stay open

    wrong = post(client, f"{base}/fields/{due.id}/name", {"name": "Subject"})
    assert wrong.status_code == 422
    assert "<html" in wrong.text and "Another field already has this name." in wrong.text


def test_lossy_type_change_lists_records_and_converts_when_forced(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Deal", {"f0.name": "Title", "f1.name": "Size"})
    acc = access(runtime, owner, ws)
    rt = record_types.get_type(runtime, acc, rt_id)
    kept = records.create(runtime, acc, rt, {"title": "Big one", "size": "12"})
    lost = records.create(runtime, acc, rt, {"title": "Fuzzy", "size": "large-ish"})
    size = rt.field_by_key("size")
    url = f"/w/{ws}/t/{rt_id}/design/fields/{size.id}/type"

    refused = hx_post(client, url, {"type": "number"})
    assert refused.status_code == 409
    assert "1 record(s) hold values of &#39;Size&#39; that a number field cannot keep." in (
        refused.text
    )
    assert "force=true" not in refused.text
    assert f'/r/{lost["id"]}">Fuzzy</a>' in refused.text
    assert 'name="force" value="1"' in refused.text
    assert record_types.get_type(runtime, acc, rt_id).field_by_key("size").type.name == "text"

    forced = hx_post(client, url, {"type": "number", "force": "1"})
    assert forced.status_code == 200
    rt = record_types.get_type(runtime, acc, rt_id)
    assert rt.field_by_key("size").type.name == "number"
    assert records.get(runtime, acc, rt, kept["id"])["fields"]["size"] == 12
    assert records.get(runtime, acc, rt, lost["id"])["fields"]["size"] is None


def test_choices_are_added_recoloured_reordered_and_removed(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(
        client,
        ws,
        "Task",
        {
            "f0.name": "Name",
            "f1.name": "Stage",
            "f1.type": "single_choice",
            "f1.config.choices": "Todo\nDoing",
        },
    )
    acc = access(runtime, owner, ws)
    stage = record_types.get_type(runtime, acc, rt_id).field_by_key("stage")
    url = f"/w/{ws}/t/{rt_id}/design/fields/{stage.id}/config"
    rows = {
        f"choices.{i}.{k}": c[k]
        for i, c in enumerate(stage.config["choices"])
        for k in ("id", "label", "color")
    }

    def choices() -> list[tuple[str, str]]:
        f = record_types.get_type(runtime, acc, rt_id).field_by_key("stage")
        return [(c["label"], c["color"]) for c in f.config["choices"]]

    hx_post(client, url, {**rows, "choices.new.label": "Done", "choices.new.color": "green"})
    assert [label for label, _ in choices()] == ["Todo", "Doing", "Done"]
    stage = record_types.get_type(runtime, acc, rt_id).field_by_key("stage")
    rows = {
        f"choices.{i}.{k}": c[k]
        for i, c in enumerate(stage.config["choices"])
        for k in ("id", "label", "color")
    }
    hx_post(client, url, {**rows, "choices.1.color": "purple", "op": "up:1"})
    assert choices()[:2] == [("Doing", "purple"), ("Todo", stage.config["choices"][0]["color"])]

    bad = hx_post(client, url, {**rows, "choices.1.label": "Todo"})
    assert bad.status_code == 422
    assert "Choice &#39;Todo&#39; appears twice." in bad.text
    assert f'id="f{stage.id}-choices-error"' in bad.text


def test_members_may_not_design(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Account", {"f0.name": "Name"})
    member = sign_in(client, runtime, "Max Member")
    owner_acc = access(runtime, owner, ws)
    workspaces.add_member(runtime, owner_acc, member["email"], "member")
    home = client.get(f"/w/{ws}")
    assert home.status_code == 200
    assert "/types/new" not in home.text and "/design" not in home.text
    for path in (f"/w/{ws}/types/new", f"/w/{ws}/t/{rt_id}/design"):
        page = client.get(path)
        assert page.status_code == 403
        assert "this needs the admin role in the workspace" in page.text
    field_id = record_types.get_type(runtime, owner_acc, rt_id).fields[0].id
    refused = post(client, f"/w/{ws}/t/{rt_id}/design/fields/{field_id}/name", {"name": "X"})
    assert refused.status_code == 403
    assert post(client, f"/w/{ws}/types", {"name": "Sneaky"}).status_code == 403
    assert post(client, f"/w/{ws}/t/{rt_id}/design/delete", {}).status_code == 403
    assert [t["name"] for t in record_types.list_types(runtime, owner_acc)] == ["Account"]
    assert record_types.get_type(runtime, owner_acc, rt_id).fields[0].name == "Name"


def test_markup_in_names_renders_inert(client, runtime, owner_ws):
    owner, ws = owner_ws
    evil = "<script>alert(1)</script>"
    rt_id = make_type(
        client,
        ws,
        f"Evil {evil}",
        {
            "f0.name": evil,
            "f0.type": "single_choice",
            "f0.config.choices": '"><img src=x onerror=alert(2)>',
        },
    )
    field_id = record_types.get_type(runtime, access(runtime, owner, ws), rt_id).fields[0].id
    page = client.get(f"/w/{ws}/t/{rt_id}/design?open={field_id}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_posts_without_csrf_token_are_refused_and_change_nothing(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Vendor", {"f0.name": "Name"})
    acc = access(runtime, owner, ws)
    field_id = record_types.get_type(runtime, acc, rt_id).fields[0].id
    base = f"/w/{ws}/t/{rt_id}/design"
    attempts = [
        (f"/w/{ws}/types", {"name": "Forged"}),
        (f"{base}/name", {"name": "Forged"}),
        (f"{base}/fields", {"name": "Forged", "type": "text"}),
        (f"{base}/fields/{field_id}/name", {"name": "Forged"}),
        (f"{base}/fields/{field_id}/config", {"config.required": "true"}),
        (f"{base}/fields/{field_id}/delete", {}),
        (f"{base}/delete", {}),
    ]
    for path, data in attempts:
        response = client.post(path, data=data, headers=HX)
        assert response.status_code == 403, path
        assert "Forged" not in response.text
    rt = record_types.get_type(runtime, acc, rt_id)
    assert rt.name == "Vendor"
    assert [(f.name, dict(f.config)) for f in rt.fields] == [("Name", {})]
    assert [t["name"] for t in record_types.list_types(runtime, acc)] == ["Vendor"]


def test_delete_field_and_type(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(
        client, ws, "Temp", {"f0.name": "Name", "f1.name": "Notes", "f1.type": "long_text"}
    )
    acc = access(runtime, owner, ws)
    notes = record_types.get_type(runtime, acc, rt_id).field_by_key("notes")
    base = f"/w/{ws}/t/{rt_id}/design"
    gone = hx_post(client, f"{base}/fields/{notes.id}/delete", {})
    assert gone.status_code == 200
    assert "The field Notes was deleted." in gone.text
    assert [f.key for f in record_types.get_type(runtime, acc, rt_id).fields] == ["name"]
    deleted = post(client, f"{base}/delete", {}, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == f"/w/{ws}"
    assert record_types.list_types(runtime, acc) == []
    assert client.get(base).status_code == 404


def test_options_of_each_type_reach_the_service(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Company", {"f0.name": "Name"})
    base = f"/w/{ws}/t/{rt_id}/design"
    options = client.get(
        f"/w/{ws}/types/options", params={"type": "money", "idp": "add-", "mode": "new"}
    )
    assert 'name="config.currency"' in options.text and 'name="config.currencies"' in options.text
    sent = [
        {"name": "Revenue", "type": "money", "config.currency": "eur",
         "config.currencies": "EUR, usd", "config.decimals": "0"},
        {"name": "Parent", "type": "relation", "config.target": str(rt_id)},
        {"name": "Phone", "type": "phone", "config.region": "gb", "config.unique": "true"},
        {"name": "Notes", "type": "long_text", "config.max_length": "500"},
    ]  # fmt: skip
    for data in sent:
        assert hx_post(client, base + "/fields", data).status_code == 200, data
    rt = record_types.get_type(runtime, access(runtime, owner, ws), rt_id)
    config = {f.key: dict(f.config) for f in rt.fields}
    assert config["revenue"] == {"currency": "EUR", "currencies": ["EUR", "USD"], "decimals": 0}
    assert config["parent"] == {"target": rt_id}
    assert config["phone"] == {"region": "GB", "unique": True}
    assert config["notes"] == {"max_length": 500}

    bad = hx_post(client, base + "/fields", {"name": "Cost", "type": "money",
                                             "config.currency": "XYZ"})  # fmt: skip
    assert bad.status_code == 422
    assert 'id="add-currency-error">Must be an ISO 4217 currency code' in bad.text
    assert 'value="Cost"' in bad.text and 'value="XYZ"' in bad.text


def test_a_unique_clash_is_explained_without_a_way_to_force_it(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Person", {"f0.name": "Email", "f0.type": "email"})
    acc = access(runtime, owner, ws)
    rt = record_types.get_type(runtime, acc, rt_id)
    first = records.create(runtime, acc, rt, {"email": "a@example.com"})
    second = records.create(runtime, acc, rt, {"email": "a@example.com"})
    email = rt.field_by_key("email")
    refused = hx_post(
        client, f"/w/{ws}/t/{rt_id}/design/fields/{email.id}/config", {"config.unique": "true"}
    )
    assert refused.status_code == 409
    assert "Records already share values of Email; resolve the duplicates first." in refused.text
    assert f'/r/{first["id"]}">a@example.com</a>' in refused.text
    assert f'/r/{second["id"]}">a@example.com</a>' in refused.text
    assert 'name="force"' not in refused.text
    assert not record_types.get_type(runtime, acc, rt_id).field_by_key("email").unique


def test_removing_a_used_choice_asks_first(client, runtime, owner_ws):
    owner, ws = owner_ws
    rt_id = make_type(client, ws, "Ticket", {"f0.name": "Stage", "f0.type": "single_choice",
                                             "f0.config.choices": "Open\nClosed"})  # fmt: skip
    acc = access(runtime, owner, ws)
    rt = record_types.get_type(runtime, acc, rt_id)
    used = records.create(runtime, acc, rt, {"stage": "Closed"})
    stage = rt.field_by_key("stage")
    rows = {f"choices.{i}.{k}": c[k] for i, c in enumerate(stage.config["choices"])
            for k in ("id", "label", "color")}  # fmt: skip
    url = f"/w/{ws}/t/{rt_id}/design/fields/{stage.id}/config"
    refused = hx_post(client, url, {**rows, "op": "remove:1"})
    assert refused.status_code == 409
    assert "1 record(s) use the choices you removed." in refused.text
    assert 'name="op" value="remove:1"' in refused.text  # "apply anyway" repeats the same post
    assert f'id="f{stage.id}-c-c2-label" name="choices.1.label" value="Closed"' in (
        refused.text
    )  # the editor shows what is stored
    applied = hx_post(client, url, {**rows, "op": "remove:1", "force": "1"})
    assert applied.status_code == 200
    rt = record_types.get_type(runtime, acc, rt_id)
    assert [c["label"] for c in rt.field_by_key("stage").config["choices"]] == ["Open"]
    assert records.get(runtime, acc, rt, used["id"])["fields"]["stage"] is None
