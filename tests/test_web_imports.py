"""The CSV import pages: upload, choose columns and policy, run, see each row's outcome and
download the rejected rows, with plain form posts (no JavaScript) and CSRF."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from tests.web import csrf, log_in, page_user
from workspace.access import auth, workspaces
from workspace.principal import Principal

CSV = (
    "Name,Email,Notes\n"
    'Ada Lovelace,ada@example.org,=HYPERLINK("http://evil")\n'
    "<script>alert(1)</script>,not-an-email,\n"
    "Alan Turing,alan@example.org,\n"
)


@pytest.fixture
def crm(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Olga Owner")
    ws = workspaces.create(runtime, Principal(me["id"], me["email"]), "Shop")["id"]
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    rt, _ = make_type(api, ws, "Customer", field("Name", "text"), field("Email", "email"))
    log_in(client, me)
    return {"ws": ws, "rt": rt, "api": api, "base": f"/w/{ws}/t/{rt['id']}/imports"}


def upload(client: Any, crm: dict[str, Any], text: str, **kw: Any) -> Any:
    return client.post(
        crm["base"],
        data={"_csrf_token": csrf(client)},
        files={"file": ("people.csv", text.encode(), "text/csv")},
        follow_redirects=False,
        **kw,
    )


def test_upload_check_columns_run_and_fix_the_rejected_rows(client, crm):
    table = client.get(f"/w/{crm['ws']}/t/{crm['rt']['id']}")
    assert f'href="{crm["base"]}"' in table.text  # the table offers the import
    response = upload(client, crm, CSV)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'name="column.0"' in page.text and "Import 3 rows" in page.text
    assert '<option value="name" selected>' in page.text  # matched by name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # a sample cell, inert
    assert "<script>alert(1)</script>" not in page.text
    assert crm["api"].get(records_path(crm["ws"], crm["rt"]))["items"] == []

    run = client.post(
        response.headers["location"] + "/run",
        data={
            "_csrf_token": csrf(client),
            "column.0": "name",
            "column.1": "email",
            "column.2": "",
            "policy": "rules",
        },
        follow_redirects=True,
    )
    assert run.status_code == 200
    assert "Created" in run.text and "Rejected" in run.text
    assert "not-an-email" in run.text  # the rejected row is shown with its reason
    made = crm["api"].get(records_path(crm["ws"], crm["rt"]))["items"]
    names = {r["fields"]["name"] for r in made}
    assert names == {"Ada Lovelace", "Alan Turing"}

    rejected = client.get(response.headers["location"] + "/rejected.csv")
    assert rejected.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(rejected.text)))
    assert rows[0] == ["Name", "Email", "Notes", "Problem"]
    assert rows[1][:2] == ["<script>alert(1)</script>", "not-an-email"]
    assert rows[1][3].startswith("Email:")


def test_formula_cells_are_neutralised_in_the_rejected_rows(client, crm):
    text = "Name,Email\n=cmd|' /C calc'!A0,bad\n"
    location = upload(client, crm, text).headers["location"]
    client.post(
        location + "/run",
        data={"_csrf_token": csrf(client), "column.0": "name", "column.1": "email"},
    )
    rows = list(csv.reader(io.StringIO(client.get(location + "/rejected.csv").text)))
    assert not rows[1][0].startswith("=")


def test_a_bad_file_or_mapping_is_shown_on_the_page_and_changes_nothing(client, crm):
    refused = upload(client, crm, "")
    assert refused.status_code == 422
    assert "is empty" in refused.text and 'aria-invalid="true"' in refused.text
    location = upload(client, crm, CSV).headers["location"]
    again = client.post(
        location + "/run",
        data={"_csrf_token": csrf(client), "column.0": "name", "column.1": "name"},
    )
    assert again.status_code == 422
    assert "another column already goes to" in again.text
    assert crm["api"].get(records_path(crm["ws"], crm["rt"]))["items"] == []


def test_posts_without_the_csrf_token_are_refused(client, crm):
    response = client.post(crm["base"], files={"file": ("people.csv", CSV.encode(), "text/csv")})
    assert response.status_code == 403
    assert crm["api"].get(f"/workspaces/{crm['ws']}/types/{crm['rt']['id']}/imports") == []
