"""The table view over HTTP (no browser): the view in the URL, CSV export, inline edits with
their conflicts and refusals, inert markup, CSRF, bulk delete and saved views."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.web import HX, csrf, sign_in
from workspace.access import workspaces
from workspace.imports import imports
from workspace.principal import Access, Principal
from workspace.records import records, views
from workspace.records.pages.table_state import ViewState, table_fields
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types


def hx_post(client: TestClient[Any], path: str, data: dict[str, Any]) -> Any:
    """As htmx sends it: the token in a header."""
    return client.post(path, data=data, headers={**HX, "x-csrftoken": csrf(client)})


def access(runtime: Runtime, user: dict[str, Any], ws: int) -> Access:
    return workspaces.access(runtime, Principal(user["id"], user["email"]), ws)


class Setup:
    def __init__(self, runtime: Runtime, acc: Access, rt: RecordTypeDef) -> None:
        self.runtime, self.acc, self.rt = runtime, acc, rt
        self.base = f"/w/{acc.workspace_id}/t/{rt.id}"

    def add(self, *rows: dict[str, Any]) -> list[dict[str, Any]]:
        result = records.bulk(self.runtime, self.acc, self.rt, [{"fields": r} for r in rows])
        return [item["record"] for item in result["results"]]

    def get(self, record_id: int) -> dict[str, Any]:
        return records.get(self.runtime, self.acc, self.rt, record_id)


@pytest.fixture
def deals(client: TestClient[Any], runtime: Runtime) -> Setup:
    """A logged-in owner with a Deal type: name, amount, stage."""
    owner = sign_in(client, runtime, "Olivia Owner")
    ws = workspaces.create(runtime, Principal(owner["id"], owner["email"]), "Sales")["id"]
    acc = access(runtime, owner, ws)
    spec = {
        "name": "Deal",
        "fields": [
            {"name": "Name", "type": "text"},
            {"name": "Amount", "type": "number"},
            {
                "name": "Stage",
                "type": "single_choice",
                "config": {"choices": [{"label": "New"}, {"label": "Won"}]},
            },
        ],
    }
    made = record_types.create_type(runtime, acc, spec)
    return Setup(runtime, acc, record_types.get_type(runtime, acc, made["id"]))


def names_in(html: str) -> list[str]:
    """The Name cells of the table, in order."""
    return re.findall(r'id="c-\d+-name"[^>]*>([^<]*)</td>', html)


def test_the_view_lives_in_the_url(client, deals):
    deals.add(
        {"name": "Acme", "amount": 50, "stage": "Won"},
        {"name": "Birch", "amount": 10, "stage": "New"},
        {"name": "Cedar", "amount": 30, "stage": "Won"},
    )
    page = client.get(deals.base)
    assert page.status_code == 200
    assert names_in(page.text) == ["Acme", "Birch", "Cedar"]
    assert "3 records" in page.text
    page = client.get(
        deals.base, params={"sort": "-amount", "f0": "stage", "o0": "eq", "v0": "Won"}
    )
    assert names_in(page.text) == ["Acme", "Cedar"]
    assert "2 records match" in page.text
    page = client.get(deals.base, params={"q": "bir", "cols": "name,stage"})
    assert names_in(page.text) == ["Birch"]
    assert 'id="c-' in page.text and "-amount" not in re.sub(r'href="[^"]*"', "", page.text)
    page = client.get(
        deals.base, params={"f0": "amount", "o0": "between", "v0": "20", "w0": "60", "sort": "name"}
    )
    assert names_in(page.text) == ["Acme", "Cedar"]


def test_htmx_search_answers_only_the_view(client, deals):
    deals.add({"name": "Acme"}, {"name": "Birch"})
    part = client.get(deals.base, params={"q": "acm"}, headers={**HX, "HX-Target": "view"})
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<div id="view"')
    assert names_in(part.text) == ["Acme"]
    assert "HX-Request" in part.headers["vary"]


def test_a_filter_the_list_refuses_is_explained_not_a_500(client, deals):
    deals.add({"name": "Acme", "amount": 5})
    page = client.get(deals.base, params={"f0": "amount", "o0": "gt", "v0": "lots"})
    assert page.status_code == 200
    assert "These records cannot be shown" in page.text
    assert 'class="field-error"' in page.text
    gone = client.get(deals.base, params={"f0": "deleted_field", "o0": "eq", "v0": "x"})
    assert "that field no longer exists" in gone.text
    assert names_in(gone.text) == ["Acme"]


def test_load_more_pages_with_the_cursor(client, deals):
    deals.add(*({"name": f"Deal {i:03}", "amount": i} for i in range(60)))
    page = client.get(deals.base, params={"sort": "-amount"})
    assert len(names_in(page.text)) == 50
    found = re.search(r'hx-get="([^"]*/table/rows\?[^"]*)"', page.text)
    assert found
    more = client.get(found[1].replace("&amp;", "&"), headers=HX)
    assert more.status_code == 200
    assert names_in(more.text) == [f"Deal {i:03}" for i in range(9, -1, -1)]
    assert "Load more" not in more.text


def test_csv_export_neutralises_formulas_and_escapes_quotes(client, deals):
    nasty = ["=1+2", "+SUM(A1:A2)", "-2+3", "@cmd", 'Say "hi", then go', "plain"]
    deals.add(*({"name": n, "amount": -5 if n == "plain" else 1} for n in nasty))
    deals.add(*({"name": f"Filler {i:03}", "amount": 7, "stage": "Won"} for i in range(230)))
    response = client.get(f"{deals.base}/table/export.csv", params={"cols": "name,amount"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="Deal.csv"' in response.headers["content-disposition"]
    assert '"Say ""hi"", then go"' in response.text
    rows = list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert rows[0] == ["id", "Name", "Amount"]
    assert len(rows) == 1 + len(nasty) + 230  # every page, not only the first
    cells = {r[1]: r[2] for r in rows[1:]}
    for text in ["=1+2", "+SUM(A1:A2)", "-2+3", "@cmd"]:
        assert "'" + text in cells, cells.keys()
    assert cells['Say "hi", then go'] == "1"
    assert cells["plain"] == "-5"  # a plain negative number is not a formula

    filtered = client.get(
        f"{deals.base}/table/export.csv",
        params={"f0": "stage", "o0": "eq", "v0": "Won", "sort": "-name", "cols": "name"},
    )
    rows = list(csv.reader(io.StringIO(filtered.text.removeprefix("\ufeff"))))
    assert rows[0] == ["id", "Name"]
    assert [r[1] for r in rows[1:4]] == ["Filler 229", "Filler 228", "Filler 227"]
    assert len(rows) == 1 + 230


def test_markup_in_values_and_names_renders_inert(client, deals, runtime):
    record_types.add_field(
        runtime, deals.acc, deals.rt.id, {"name": "<b>Notes</b>", "type": "text"}
    )
    rt = record_types.get_type(runtime, deals.acc, deals.rt.id)
    deals.rt = rt
    key = next(f.key for f in rt.fields if f.name == "<b>Notes</b>")
    deals.add({"name": "<script>alert(1)</script>", key: "<img src=x onerror=alert(2)>"})
    views.create_view(runtime, deals.acc, rt, "<i>mine</i>", {"search": "<script>"})
    page = client.get(deals.base)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text
    assert "<b>Notes</b>" not in page.text and "&lt;b&gt;Notes&lt;/b&gt;" in page.text
    assert "<i>mine</i>" not in page.text
    found = client.get(deals.base, params={"q": "<script>"})
    assert 'value="&lt;script&gt;"' in found.text
    assert "<script>alert" not in found.text


def test_inline_edit_saves_one_field_with_the_version(client, deals):
    (deal,) = deals.add({"name": "Acme", "amount": 5, "stage": "New"})
    editor = client.get(f"{deals.base}/table/cell/{deal['id']}/amount/edit", headers=HX)
    assert editor.status_code == 200
    assert f'name="version" value="{deal["version"]}"' in editor.text
    assert 'name="_fields" value="amount"' in editor.text
    saved = hx_post(
        client,
        f"{deals.base}/table/cell/{deal['id']}/amount",
        {"_fields": "amount", "version": str(deal["version"]), "amount": "12"},
    )
    assert saved.status_code == 200, saved.text
    assert f'id="c-{deal["id"]}-amount"' in saved.text
    after = deals.get(deal["id"])
    assert after["fields"]["amount"] == 12
    assert after["fields"]["name"] == "Acme"  # only the edited field changes

    bad = hx_post(
        client,
        f"{deals.base}/table/cell/{deal['id']}/amount",
        {"_fields": "amount", "version": str(after["version"]), "amount": "lots"},
    )
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.text and "cell editing" in bad.text


def test_a_version_conflict_is_shown_in_the_cell_and_changes_nothing(client, deals):
    (deal,) = deals.add({"name": "Acme", "amount": 5})
    records.update_record(deals.runtime, deals.acc, deals.rt, deal["id"], {"name": "Acme Ltd"})
    stale = hx_post(
        client,
        f"{deals.base}/table/cell/{deal['id']}/name",
        {"_fields": "name", "version": str(deal["version"]), "name": "Mine"},
    )
    assert stale.status_code == 409
    assert "someone else changed this record" in stale.text
    assert "Reload the row" in stale.text and "Mine" in stale.text
    assert deals.get(deal["id"])["fields"]["name"] == "Acme Ltd"
    row = client.get(f"{deals.base}/table/row/{deal['id']}", params={"cols": "name"}, headers=HX)
    assert row.status_code == 200
    assert names_in(row.text) == ["Acme Ltd"]


def test_posts_without_a_csrf_token_are_refused(client, deals):
    (deal,) = deals.add({"name": "Acme"})
    path = f"{deals.base}/table/cell/{deal['id']}/name"
    body = {"_fields": "name", "version": str(deal["version"]), "name": "Forged"}
    refused = client.post(path, data=body, headers=HX)
    assert refused.status_code == 403
    refused = client.post(f"{deals.base}/table/delete", data={"ids": str(deal["id"])})
    assert refused.status_code == 403
    refused = client.post(f"{deals.base}/table/views", data={"name": "x", "state": ""})
    assert refused.status_code == 403
    assert deals.get(deal["id"])["fields"]["name"] == "Acme"
    assert views.list_views(deals.runtime, deals.acc, deals.rt) == []


def test_a_viewer_reads_but_cannot_edit_inline(client, deals, runtime):
    (deal,) = deals.add({"name": "Acme"})
    viewer = sign_in(client, runtime, "Vera Viewer")
    workspaces.add_member(runtime, deals.acc, viewer["email"], "viewer")
    page = client.get(deals.base)
    assert page.status_code == 200
    assert names_in(page.text) == ["Acme"]
    assert "/edit" not in page.text and 'name="ids"' not in page.text
    assert "New record" not in page.text and "Save view" not in page.text
    editor = client.get(f"{deals.base}/table/cell/{deal['id']}/name/edit", headers=HX)
    assert editor.status_code == 403
    refused = hx_post(
        client,
        f"{deals.base}/table/cell/{deal['id']}/name",
        {"_fields": "name", "version": str(deal["version"]), "name": "Changed"},
    )
    assert refused.status_code == 403
    refused = hx_post(client, f"{deals.base}/table/delete", {"ids": str(deal["id"])})
    assert refused.status_code == 403
    after = deals.get(deal["id"])
    assert after["fields"]["name"] == "Acme" and after["version"] == deal["version"]


def test_bulk_delete_then_undo(client, deals):
    a, b, c = deals.add({"name": "Acme"}, {"name": "Birch"}, {"name": "Cedar"})
    done = hx_post(
        client,
        f"{deals.base}/table/delete",
        {"ids": [str(a["id"]), str(c["id"])], "back": "sort=name"},
    )
    assert done.status_code == 200
    assert "Deleted 2 records." in done.text
    assert names_in(done.text) == ["Birch"]
    undone = hx_post(
        client, f"{deals.base}/table/restore", {"ids": [str(a["id"]), str(c["id"])], "back": ""}
    )
    assert "Restored 2 records." in undone.text
    assert names_in(undone.text) == ["Acme", "Birch", "Cedar"]
    plain = client.post(
        f"{deals.base}/table/delete",
        data={"ids": str(b["id"]), "back": "q=bir", "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == f"{deals.base}?q=bir"


def test_save_and_open_a_view(client, deals):
    deals.add({"name": "Acme", "amount": 50, "stage": "Won"}, {"name": "Birch", "stage": "New"})
    state = "cols=name,amount&sort=-amount&f0=stage&o0=eq&v0=Won"
    saved = client.post(
        f"{deals.base}/table/views",
        data={"name": "Won deals", "state": state, "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    (view,) = views.list_views(deals.runtime, deals.acc, deals.rt)
    assert view["config"] == {
        "columns": ["name", "amount"],
        "sort": "-amount",
        "filter": [{"field": "stage", "op": "eq", "value": "Won"}],
    }
    opened = client.get(saved.headers["location"])
    assert names_in(opened.text) == ["Acme"]
    assert "Won deals" in opened.text and "(changed)" not in opened.text
    changed = client.get(saved.headers["location"] + "&sort=name")
    assert "(changed)" in changed.text

    again = client.post(
        f"{deals.base}/table/views",
        data={"name": "Won deals", "state": "", "_csrf_token": csrf(client)},
    )
    assert again.status_code == 422
    assert "another view of this record type has it" in again.text

    gone = client.post(
        f"{deals.base}/table/views/{view['id']}/delete",
        data={"back": f"view={view['id']}&sort=name", "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert gone.status_code == 303 and gone.headers["location"] == f"{deals.base}?sort=name"
    assert views.list_views(deals.runtime, deals.acc, deals.rt) == []


def test_empty_states(client, deals):
    page = client.get(deals.base)
    assert 'data-testid="empty-type"' in page.text
    assert "Type into the first row" in page.text and 'id="add-row"' in page.text
    deals.add({"name": "Acme"})
    page = client.get(deals.base, params={"q": "zzz"})
    assert 'data-testid="no-match"' in page.text and "Clear search and filters" in page.text


def test_quick_add_creates_a_record_or_says_what_is_missing(client, deals, runtime):
    added = hx_post(
        client,
        f"{deals.base}/table/add",
        {
            "_fields": "name,amount,stage",
            "cols": "name,amount,stage",
            "name": "Acme",
            "amount": "7",
        },
    )
    assert added.status_code == 200, added.text
    assert 'id="add-row"' in added.text and names_in(added.text) == ["Acme"]
    found = records.list_records(runtime, deals.acc, deals.rt)["items"]
    assert [(r["fields"]["name"], r["fields"]["amount"]) for r in found] == [("Acme", 7)]

    record_types.add_field(
        runtime,
        deals.acc,
        deals.rt.id,
        {"name": "Email", "type": "email", "config": {"required": True}},
    )
    refused = hx_post(
        client,
        f"{deals.base}/table/add",
        {"_fields": "name", "cols": "name", "name": "Birch"},
    )
    assert refused.status_code == 422
    assert "Not added:" in refused.text and "Email is required" in refused.text
    assert 'value="Birch"' in refused.text  # what was typed stays
    assert len(records.list_records(runtime, deals.acc, deals.rt)["items"]) == 1


def test_the_raw_column_and_filter_forms_redirect_to_the_canonical_address(client, deals):
    page = client.get(
        deals.base,
        params=[("col", ""), ("col", "stage"), ("col", "name"), ("add", "amount"), ("q", "a")],
        follow_redirects=False,
    )
    assert page.status_code == 303
    assert page.headers["location"] == f"{deals.base}?cols=stage%2Cname&q=a&f0=amount&o0=eq"


def test_view_state_reads_leniently_and_round_trips_through_a_saved_config(deals, runtime):
    fields = table_fields(deals.rt, runtime.field_types)
    params = {
        "cols": ["name,nope,stage,name"],
        "sort": ["-amount,amount,nope,name"],
        "q": ["  ada "],
        "match": ["any"],
        "f0": ["name"],
        "o0": ["in"],
        "v0": ["Acme, Birch", "Cedar"],
        "f1": ["amount"],
        "o1": ["between"],
        "v1": ["10"],
        "w1": ["20"],
        "f2": ["gone"],
        "o2": ["eq"],
        "f3": ["stage"],
        "o3": ["contains"],  # not an operator of a single choice: reset, left to fill in
        "v3": ["Won"],
    }
    state, notes = ViewState.from_query(fields, params)
    assert state.columns == ("name", "stage")
    assert state.sort == "-amount,name"
    assert state.search == "ada" and state.any
    assert [(c.field, c.op, c.values, c.high) for c in state.conditions] == [
        ("name", "in", ("Acme", "Birch", "Cedar"), ""),
        ("amount", "between", ("10",), "20"),
        ("stage", "eq", (), ""),
    ]
    assert len(notes) == 1 and "gone" in notes[0]
    config = state.to_config(fields)
    assert config["filter"] == {
        "or": [
            {"field": "name", "op": "in", "value": ["Acme", "Birch", "Cedar"]},
            {"field": "amount", "op": "between", "value": ["10", "20"]},
        ]
    }
    views.create_view(runtime, deals.acc, deals.rt, "Round trip", config)  # the service agrees
    again = ViewState.from_config(fields, config)
    assert again == state.as_view()
    assert ViewState.from_qs(fields, again.qs()) == again


def test_a_csv_export_imports_back_as_it_was(client, deals):
    """Export guards formula-looking free text with a quote; the import removes exactly that
    quote, so the values come back unchanged. Typed values (phones, numbers, dates) are
    written without the quote."""
    spec = {
        "name": "Contact",
        "fields": [
            {"name": "Name", "type": "text"},
            {"name": "Phone", "type": "phone"},
            {"name": "Score", "type": "number"},
            {"name": "Since", "type": "date"},
        ],
    }
    source = Setup(deals.runtime, deals.acc, _make(deals, spec))
    texts = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "'=quoted", "''", "'plain", "-5", "plain"]
    rows = [
        {"name": t, "phone": "+49 30 1234567", "score": -5, "since": "2024-02-29"} for t in texts
    ]
    source.add(*rows)
    exported = client.get(
        f"{source.base}/table/export.csv", params={"cols": "name,phone,score,since"}
    )
    assert exported.status_code == 200
    lines = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff"))))
    assert {line[2] for line in lines[1:]} == {"+49301234567"}  # E.164, no quote
    assert {line[3] for line in lines[1:]} == {"-5"}

    target = _make(deals, {**spec, "name": "Contact copy"})
    made = imports.create_import(
        deals.runtime, deals.acc, target, "export.csv", exported.text.encode()
    )
    imports.run_import(deals.runtime, deals.acc, target, made["id"], made["mapping"])
    back = records.list_records(deals.runtime, deals.acc, target, limit=100)["items"]
    assert sorted(r["fields"]["name"] for r in back) == sorted(texts)
    assert {(r["fields"]["phone"], r["fields"]["score"], r["fields"]["since"]) for r in back} == {
        ("+49301234567", -5, dt.date(2024, 2, 29))
    }


def _make(deals: Setup, spec: dict[str, Any]) -> RecordTypeDef:
    made = record_types.create_type(deals.runtime, deals.acc, spec)
    return record_types.get_type(deals.runtime, deals.acc, made["id"])
