"""File fields: a record's value of a file field is the files uploaded through it.

Through the API on SQLite and MySQL: the value in get, list and bulk answers, read-only in
writes, no filters or sorting, the designer's rules (not required, no type change), the
fate of the files when the field is deleted, merges, and the number of queries a page costs.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.helpers import Api, field, make_type
from tests.test_files import PNG, download, upload
from workspace.errors import ValidationFailed
from workspace.forms import config as form_config
from workspace.principal import Principal
from workspace.schema.definitions import open_type


@pytest.fixture
def rec(api: Api, ws: int) -> dict[str, Any]:
    rt, (a, b) = make_type(
        api,
        ws,
        "Contract",
        field("Name", "text"),
        field("Scan", "file"),
        field("Signed copy", "file"),
        rows=[{"name": "Ada"}, {"name": "Bob"}],
    )
    base = f"/workspaces/{ws}/types/{rt['id']}"
    return {
        "ws": ws,
        "rt": rt,
        "a": a["id"],
        "b": b["id"],
        "base": base,
        "records": f"{base}/records",
        "files_a": f"{base}/records/{a['id']}/files",
        "files_b": f"{base}/records/{b['id']}/files",
    }


def brief(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: f[k] for k in ("id", "name", "size", "content_type")} for f in files]


def test_the_field_shows_in_the_type_and_new_records_read_it_empty(api, rec):
    scan = next(f for f in rec["rt"]["fields"] if f["key"] == "scan")
    assert scan["type"] == "file"
    created = api.post(rec["records"], {"fields": {"name": "Cy"}}, expect=201)
    assert created["fields"]["scan"] == [] and created["fields"]["signed_copy"] == []


def test_the_value_is_the_files_uploaded_through_the_field_in_upload_order(api, rec):
    first = upload(api, rec["files_a"], ("scan.png", PNG), ("page 2.txt", b"two"), field="scan")
    later = upload(api, rec["files_a"], ("page 3.txt", b"three"), field="scan")
    signed = upload(api, rec["files_a"], ("signed.txt", b"ok"), field="signed_copy")
    general = upload(api, rec["files_a"], ("notes.txt", b"notes"))
    assert [f["field"] for f in first["items"]] == [first["items"][0]["field"]] * 2

    got = api.get(f"{rec['records']}/{rec['a']}", expect=200)["fields"]
    assert got["scan"] == brief(first["items"] + later["items"])
    assert got["scan"][0] == {
        "id": first["items"][0]["id"],
        "name": "scan.png",
        "size": len(PNG),
        "content_type": "image/png",
    }
    assert got["signed_copy"] == brief(signed["items"])
    # The history names the field (by id: keys can be renamed).
    entries = api.get(f"{rec['records']}/{rec['a']}/activity", expect=200)["items"]
    added = {
        e["changes"][0]["new"]["name"]: e["changes"][0]["new"]
        for e in entries
        if e["action"] == "file_added"
    }
    assert added["signed.txt"]["field"] == signed["items"][0]["field"]
    assert "field" not in added["notes.txt"]
    # A general attachment belongs to no field.
    assert general["items"][0]["field"] is None
    assert general["items"][0]["id"] not in [f["id"] for f in got["scan"] + got["signed_copy"]]

    listed = api.get(rec["records"], expect=200, sort="name")["items"]
    assert [r["fields"]["scan"] for r in listed] == [got["scan"], []]

    # A deleted file leaves the value; restored, it is back in its place.
    api.delete(f"/workspaces/{rec['ws']}/files/{first['items'][1]['id']}", expect=200)
    names = [f["name"] for f in api.get(f"{rec['records']}/{rec['a']}")["fields"]["scan"]]
    assert names == ["scan.png", "page 3.txt"]
    api.post(f"/workspaces/{rec['ws']}/files/{first['items'][1]['id']}/restore", expect=200)
    names = [f["name"] for f in api.get(f"{rec['records']}/{rec['a']}")["fields"]["scan"]]
    assert names == ["scan.png", "page 2.txt", "page 3.txt"]
    assert download(api, rec["ws"], got["scan"][0]["id"]).content == PNG


def test_write_answers_and_bulk_results_carry_the_files(api, rec):
    (scan,) = upload(api, rec["files_a"], ("a.txt", b"a"), field="scan")["items"]
    updated = api.patch(f"{rec['records']}/{rec['a']}", {"fields": {"name": "Ada L"}}, expect=200)
    assert updated["fields"]["scan"] == brief([scan])
    result = api.post(
        f"{rec['records']}/bulk",
        {"mode": "update", "items": [{"id": rec["a"], "fields": {"name": "Ada"}}]},
        expect=200,
    )
    assert result["results"][0]["record"]["fields"]["scan"] == brief([scan])


@pytest.mark.parametrize("value", [[], None, [{"id": 1}], "x.pdf"])
def test_the_value_is_read_only_in_record_writes(api, rec, value):
    for method, path in (("post", rec["records"]), ("patch", f"{rec['records']}/{rec['a']}")):
        body = api.call(method.upper(), path, {"fields": {"scan": value}}, expect=422)
        reason = body["error"]["fields"]["scan"]
        assert "read-only" in reason and "/files?field=scan" in reason
    bulk = api.post(f"{rec['records']}/bulk", {"items": [{"fields": {"scan": value}}]}, expect=422)
    assert "/files?field=scan" in bulk["results"][0]["error"]["fields"]["scan"]


def test_filters_and_sorting_on_a_file_field_are_refused_by_name(api, rec):
    for op in ("is_empty", "not_empty", "eq"):
        body = api.get(rec["records"], expect=422, filter=f'[{{"field": "scan", "op": "{op}"}}]')
        assert body["error"]["fields"] == {"filter.scan": "File fields cannot be filtered on"}
    body = api.get(rec["records"], expect=422, sort="-scan")
    assert body["error"]["fields"] == {"sort.scan": "records cannot be sorted by a File field"}


def test_a_file_field_cannot_be_required_unique_or_retyped(api, rec):
    fields = f"{rec['base']}/fields"
    body = api.post(fields, field("Photo", "file", required=True), expect=422)
    assert "uploaded after the record is saved" in body["error"]["fields"]["config.required"]
    body = api.post(fields, field("Photo", "file", unique=True), expect=422)
    assert "config.unique" in body["error"]["fields"]
    body = api.post(fields, field("Photo", "file", survivorship="most_recent"), expect=422)
    assert "config.survivorship" in body["error"]["fields"]

    scan = next(f for f in rec["rt"]["fields"] if f["key"] == "scan")
    name = next(f for f in rec["rt"]["fields"] if f["key"] == "name")
    body = api.patch(f"{fields}/{scan['id']}", {"type": "text"}, expect=422)
    assert "cannot change type" in body["error"]["fields"]["type"]
    body = api.patch(f"{fields}/{name['id']}", {"type": "file"}, expect=422)
    assert "cannot change type" in body["error"]["fields"]["type"]
    # Renaming it and giving it help text are fine.
    renamed = api.patch(
        f"{fields}/{scan['id']}", {"name": "Scans", "config": {"description": "PDF"}}, expect=200
    )
    assert (renamed["name"], renamed["config"]) == ("Scans", {"description": "PDF"})


def test_deleting_the_field_keeps_its_files_as_attachments_with_a_history_entry(api, rec):
    (scan,) = upload(api, rec["files_a"], ("scan.txt", b"s"), field="scan")["items"]
    (gone,) = upload(api, rec["files_a"], ("gone.txt", b"g"), field="scan")["items"]
    api.delete(f"/workspaces/{rec['ws']}/files/{gone['id']}", expect=200)
    (other,) = upload(api, rec["files_a"], ("signed.txt", b"x"), field="signed_copy")["items"]
    scan_field = next(f for f in rec["rt"]["fields"] if f["key"] == "scan")

    api.delete(f"{rec['base']}/fields/{scan_field['id']}", expect=204)

    record = api.get(f"{rec['records']}/{rec['a']}", expect=200)
    assert "scan" not in record["fields"]
    assert record["fields"]["signed_copy"] == brief([other])
    files = {f["id"]: f for f in api.get(rec["files_a"], expect=200)["items"]}
    assert files[scan["id"]]["field"] is None  # a general attachment now
    assert files[other["id"]]["field"] == other["field"]
    restored = api.post(f"/workspaces/{rec['ws']}/files/{gone['id']}/restore", expect=200)
    assert restored["field"] is None
    entries = api.get(f"{rec['records']}/{rec['a']}/activity", expect=200)["items"]
    moved = [e for e in entries if e["action"] == "files_detached"]
    assert len(moved) == 1
    assert moved[0]["changes"] == [
        {"field": "scan", "name": "Scan", "old": ["scan.txt"], "new": None}
    ]
    # Records without files in the field get no entry.
    entries_b = api.get(f"{rec['records']}/{rec['b']}/activity", expect=200)["items"]
    assert not [e for e in entries_b if e["action"] == "files_detached"]


def test_a_merge_keeps_files_on_their_field_and_undo_moves_them_back(api, rec):
    (fa,) = upload(api, rec["files_a"], ("a.txt", b"a"), field="scan")["items"]
    (fb,) = upload(api, rec["files_b"], ("b.txt", b"b"), field="scan")["items"]
    (gb,) = upload(api, rec["files_b"], ("general.txt", b"g"))["items"]
    done = api.post(f"{rec['base']}/merges", {"survivor": rec["a"], "loser": rec["b"]}, expect=201)
    survivor = api.get(f"{rec['records']}/{rec['a']}", expect=200)["fields"]
    assert survivor["scan"] == brief([fa, fb])
    assert gb["id"] not in [f["id"] for f in survivor["scan"]]

    api.post(f"{rec['base']}/merges/{done['id']}/undo", expect=200)
    assert api.get(f"{rec['records']}/{rec['a']}", expect=200)["fields"]["scan"] == brief([fa])
    assert api.get(f"{rec['records']}/{rec['b']}", expect=200)["fields"]["scan"] == brief([fb])


def test_uploading_to_a_field_that_is_not_a_file_field_is_refused(api, rec):
    body = upload(api, rec["files_a"], ("a.txt", b"a"), field="name", expect=422)
    assert body["error"]["fields"] == {"field": "'name' is not a file field of Contract"}


def test_a_page_of_records_reads_the_files_in_one_query(api, rec):
    """However many records a page holds, their files cost one query (every engine is
    watched: on MySQL reads go through a separate autocommit engine)."""
    rows = [{"name": f"R{i}"} for i in range(30)]
    created = api.post(
        f"{rec['records']}/bulk", {"items": [{"fields": r} for r in rows]}, expect=200
    )
    for item in created["results"][:5]:
        path = f"{rec['base']}/records/{item['id']}/files"
        upload(api, path, ("x.txt", item["record"]["fields"]["name"].encode()), field="scan")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM files" in statement:
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        page = api.get(rec["records"], expect=200, limit=40)["items"]
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert sum(1 for r in page if r["fields"]["scan"]) == 5
    assert len(statements) == 1


def test_types_without_file_fields_read_no_files(api, ws):
    rt, _ = make_type(api, ws, "Plain", field("Name", "text"), rows=[{"name": "A"}])
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM files" in statement:
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        api.get(f"/workspaces/{ws}/types/{rt['id']}/records", expect=200)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert statements == []


def test_an_import_neither_suggests_nor_takes_a_file_field(api, rec, client):
    response = client.post(
        f"/api/v1{rec['base']}/imports",
        content=b"Name,Scan\nEve,scan.pdf\n",
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["mapping"] == {"0": "name"}
    body = api.post(
        f"{rec['base']}/imports/{created['id']}/run",
        {"mapping": {"0": "name", "1": "scan"}, "policy": "create"},
        expect=422,
    )
    assert body["error"]["fields"] == {
        "mapping.1": "'scan' takes uploaded files, not a column's text"
    }


def test_a_public_form_takes_files_only_from_the_submitter(rec, runtime, owner):
    """Public forms ask for file fields (tests/test_forms_files.py) but never
    take their files from the link or a fixed value."""
    principal = Principal(owner[0]["id"], owner[0]["email"])
    rt = open_type(runtime, principal, rec["ws"], rec["rt"]["id"])[1]
    fields = form_config.default_config(rt)["fields"]
    assert [(f["key"], f.get("max_files")) for f in fields][:2] == [("name", None), ("scan", 1)]
    raw = {"fields": [{"key": "name"}, {"key": "scan", "hidden": True, "value": "x.pdf"}]}
    with pytest.raises(ValidationFailed) as refused:
        form_config.clean_config(rt, raw, frozenset())
    assert set(refused.value.fields) == {"fields.scan.hidden", "fields.scan.value"}
