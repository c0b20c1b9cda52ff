"""The record page has one upload box for attachments, and a File field's input stays in
the field's row, named after the field: a newcomer sees which files go where."""

from __future__ import annotations

import re

from tests.web import log_in, page_user
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


def record_page(client, runtime, *fields: tuple[str, str]) -> str:
    owner = page_user(runtime, "Olivia Owner")
    principal = Principal(owner["id"], owner["email"])
    ws = workspaces.create(runtime, principal, "Shop")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {"name": "Deal", "fields": [{"name": n, "type": t} for n, t in fields]}
    type_id = record_types.create_type(runtime, acc, spec)["id"]
    rt = open_type(runtime, principal, ws, type_id)[1]
    record = records.create(runtime, acc, rt, {"name": "Big deal"})["id"]
    log_in(client, owner)
    return client.get(f"/w/{ws}/t/{type_id}/r/{record}").text


def between(page: str, start: str, end: str) -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def test_one_attachments_box_and_file_fields_labelled_in_their_rows(client, runtime):
    page = record_page(client, runtime, ("Name", "text"), ("Contract", "file"), ("Photos", "file"))
    attachments = between(page, 'id="files"', 'id="comments"')
    assert ">Attachments" in attachments
    assert "Files for Contract, Photos go in those fields, under Fields above." in attachments
    assert attachments.count('type="file"') == 1
    assert 'name="field"' not in attachments  # the box attaches to the record, not a field
    assert "Attach files" in attachments

    contract = between(page, 'data-testid="field-contract"', 'data-testid="field-photos"')
    assert contract.count('type="file"') == 1
    assert 'name="field" value="contract"' in contract
    assert "they go in Contract, not in Attachments" in contract
    assert 'aria-label="Files for Contract"' in contract
    assert re.search(r"Upload<span class=\"sr-only\"> to Contract</span>", contract)
    assert page.count('type="file"') == 3  # the box and one per File field, no other


def test_without_file_fields_the_box_says_nothing_of_them(client, runtime):
    page = record_page(client, runtime, ("Name", "text"))
    attachments = between(page, 'id="files"', 'id="comments"')
    assert "Files about the whole record.</p>" in attachments
    assert page.count('type="file"') == 1
