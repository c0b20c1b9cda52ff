"""File fields on the pages, without a browser: the record page shows each file
field's files with its own upload form, the attachments section keeps only the files of no
field, the table shows names linking to the record and never edits or sorts the field, the
new-record form says to add files after saving, the designer offers the type."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from tests.test_files import PNG
from tests.web import csrf, log_in, page_user
from workspace import models as m
from workspace.access import workspaces
from workspace.db import transaction
from workspace.files import files
from workspace.forms import forms
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


class Deals:
    """An owner (signed in on ``client``) with a Deal type (Name, Contract: file) and a record."""

    def __init__(self, client: TestClient[Any], runtime: Any) -> None:
        self.client, self.runtime = client, runtime
        self.owner = page_user(runtime, "Olivia Owner")
        principal = Principal(self.owner["id"], self.owner["email"])
        self.ws = workspaces.create(runtime, principal, "Shop")["id"]
        self.acc = workspaces.access(runtime, principal, self.ws)
        spec = {
            "name": "Deal",
            "fields": [{"name": "Name", "type": "text"}, {"name": "Contract", "type": "file"}],
        }
        self.type_id = record_types.create_type(runtime, self.acc, spec)["id"]
        self.rt = open_type(runtime, principal, self.ws, self.type_id)[1]
        self.record = records.create(runtime, self.acc, self.rt, {"name": "Big deal"})["id"]
        self.base = f"/w/{self.ws}/t/{self.type_id}"
        self.page = f"{self.base}/r/{self.record}"
        log_in(client, self.owner)

    def upload(self, *parts: tuple[str, bytes], field: str | None = None) -> Any:
        data = {"_csrf_token": csrf(self.client), **({"field": field} if field else {})}
        return self.client.post(
            self.page + "/files",
            data=data,
            files=[("files", (name, content, "text/plain")) for name, content in parts],
            follow_redirects=False,
        )


@pytest.fixture
def deals(client: TestClient[Any], runtime: Any) -> Deals:
    return Deals(client, runtime)


def section(page: str, start: str, end: str) -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def test_upload_into_the_field_and_see_it_there_not_among_the_attachments(deals):
    response = deals.upload(("contract.png", PNG), ("terms.txt", b"terms"), field="contract")
    assert response.status_code == 303
    assert response.headers["location"] == deals.page + "#field-contract"
    assert deals.upload(("notes.txt", b"notes")).headers["location"] == deals.page + "#files"

    page = deals.client.get(deals.page).text
    field_row = section(page, 'data-testid="field-contract"', 'id="files"')
    attachments = section(page, 'id="files"', 'id="activity"')
    png, terms, _notes = files.list_files(deals.runtime, deals.acc, deals.rt, deals.record)
    assert f'<img src="/w/{deals.ws}/files/{png["id"]}"' in field_row
    assert f'href="/w/{deals.ws}/files/{terms["id"]}" download="terms.txt">' in field_row
    assert "notes.txt" not in field_row
    assert 'name="field" value="contract"' in field_row
    assert 'enctype="multipart/form-data"' in field_row
    assert "notes.txt" in attachments
    assert "terms.txt" not in attachments and "contract.png" not in attachments
    timeline = section(page, 'id="activity"', "</section>")
    assert '<span class="file-field-ref">in Contract</span>' in timeline
    # The field's row is not an inline editor.
    assert "/fields/contract/edit" not in page


def test_delete_and_restore_a_file_of_the_field_from_its_row(deals):
    deals.upload(("terms.txt", b"terms"), field="contract")
    (terms,) = files.list_files(deals.runtime, deals.acc, deals.rt, deals.record)
    token = {"_csrf_token": csrf(deals.client)}
    gone = deals.client.post(
        f"/w/{deals.ws}/files/{terms['id']}/delete", data=token, follow_redirects=False
    )
    assert gone.headers["location"] == f"{deals.page}#file-field-{terms['field']}"
    page = deals.client.get(deals.page).text
    field_row = section(page, 'data-testid="field-contract"', 'id="files"')
    assert 'data-testid="deleted-file"' in field_row and "Restore terms.txt" in field_row
    assert 'data-testid="deleted-file"' not in section(page, 'id="files"', 'id="activity"')
    deals.client.post(f"/w/{deals.ws}/files/{terms['id']}/restore", data=token)
    record = records.get(deals.runtime, deals.acc, deals.rt, deals.record)
    assert [f["name"] for f in record["fields"]["contract"]] == ["terms.txt"]


def test_the_table_shows_the_names_linking_to_the_record_and_does_not_edit_or_sort(deals):
    deals.upload(("terms.txt", b"terms"), ("annex.txt", b"annex"), field="contract")
    table = deals.client.get(deals.base).text
    cell = re.search(r'<td id="c-\d+-contract"[^>]*>(.*?)</td>', table, re.S)
    assert cell is not None
    assert "editable" not in cell.group(0)
    assert f'href="{deals.base}/r/{deals.record}#field-contract"' in cell.group(1)
    assert "terms.txt, annex.txt" in cell.group(1)
    assert "?sort=contract" not in table and "sort=contract" not in table
    # Not offered as a filter either; a hand-made one is left out with a note, not a 500.
    assert '<option value="contract">' not in table
    hand_made = {"f0": "contract", "o0": "is_empty"}
    assert deals.client.get(deals.base, params=hand_made).status_code == 200
    assert deals.client.get(deals.base, params={"sort": "contract"}).status_code == 200
    edit = deals.client.get(
        f"{deals.base}/table/cell/{deals.record}/contract/edit", headers={"HX-Request": "true"}
    )
    assert edit.status_code == 400
    csv = deals.client.get(f"{deals.base}/table/export.csv").text
    assert "terms.txt, annex.txt" in csv


def test_the_new_record_form_says_files_come_after_saving(deals):
    form = deals.client.get(f"{deals.base}/new").text
    assert "Add files after saving" in form
    assert 'name="contract"' not in form
    response = deals.client.post(
        f"{deals.base}/new",
        data={"_csrf_token": csrf(deals.client), "_fields": "name,contract", "name": "Next"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_the_designer_offers_the_file_type_without_a_required_box(deals):
    design = deals.client.get(f"{deals.base}/design").text
    assert '<option value="file"' in design and ">File</option>" in design
    options = deals.client.get(
        f"/w/{deals.ws}/types/options", params={"type": "file", "mode": "new"}
    ).text
    assert "uploaded on the record page once the record is saved" in options
    assert "config.required" not in options and "config.unique" not in options


def test_the_form_builder_offers_file_fields_without_hidden_values(deals):
    form = forms.create_form(deals.runtime, deals.acc, deals.type_id, "Deal form")
    builder = deals.client.get(f"/w/{deals.ws}/forms/{form['id']}").text
    assert "f.name.label" in builder and 'name="f.contract.max_files"' in builder
    assert 'name="f.contract.hidden"' not in builder and 'name="f.contract.value"' not in builder


def test_viewers_see_the_files_of_the_field_without_an_upload_form(deals, runtime):
    deals.upload(("terms.txt", b"terms"), field="contract")
    viewer = page_user(runtime, "Vic Viewer")
    workspaces.add_member(runtime, deals.acc, viewer["email"], "viewer")
    log_in(deals.client, viewer)
    field_row = section(
        deals.client.get(deals.page).text, 'data-testid="field-contract"', 'id="files"'
    )
    assert "terms.txt" in field_row
    assert "<form" not in field_row


def test_a_file_whose_field_is_gone_shows_among_the_attachments(deals, runtime):
    """Uploaded while its field was being deleted (after the field's files were made
    attachments): it must not vanish from the page."""
    deals.upload(("late.txt", b"late"), field="contract")
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(m.files).values(field_id=999_999))
    page = deals.client.get(deals.page).text
    assert "late.txt" in section(page, 'id="files"', 'id="activity"')
    assert "late.txt" not in section(page, 'data-testid="field-contract"', 'id="files"')


def test_a_file_field_first_does_not_title_the_record(client, runtime):
    owner = page_user(runtime, "Tess Title")
    principal = Principal(owner["id"], owner["email"])
    ws = workspaces.create(runtime, principal, "Titles")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {"name": "Scan", "fields": [{"name": "Image", "type": "file"}]}
    type_id = record_types.create_type(runtime, acc, spec)["id"]
    rt = open_type(runtime, principal, ws, type_id)[1]
    record = records.create(runtime, acc, rt, {})
    files.upload(
        runtime,
        acc,
        rt,
        record["id"],
        [files.Incoming("x.png", io.BytesIO(PNG))],
        field_key="image",
    )
    log_in(client, owner)
    page = client.get(f"/w/{ws}/t/{type_id}/r/{record['id']}").text
    assert f'<h1 id="record-title">#{record["id"]}</h1>' in page
