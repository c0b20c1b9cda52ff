"""Schema changes with records present: add, rename, reorder and delete fields and types.

The real table is inspected after every change: metadata and table must agree, on SQLite and
on MySQL. Type conversions and uniqueness are in test_schema_conversion.py, failures half way
and several processes in test_schema_recovery.py.
"""

from __future__ import annotations

from tests.helpers import field, make_type, records_path
from tests.schema_checks import assert_agrees, assert_gone, columns, link_tables


def _types(ws: int) -> str:
    return f"/workspaces/{ws}/types"


def _records(api, ws, rt):
    return {r["id"]: r["fields"] for r in api.get(records_path(ws, rt), expect=200)["items"]}


def test_add_field_reads_empty_on_existing_records(api, ws, runtime):
    rt, rows = make_type(
        api, ws, "Customer", field("Name", "text"), rows=[{"name": "Ada"}, {"name": "Bob"}]
    )
    added = api.post(
        f"{_types(ws)}/{rt['id']}/fields",
        field("Score", "number", required=True),
        expect=201,
    )
    assert added["key"] == "score"
    assert f"f_{added['id']}" in columns(runtime, rt["id"])
    assert_agrees(runtime, rt["id"])

    assert _records(api, ws, rt) == {
        r["id"]: {"name": r["fields"]["name"], "score": None} for r in rows
    }
    # required binds new writes only: a create without it is refused, naming the field ...
    refused = api.post(records_path(ws, rt), {"fields": {"name": "Cy"}}, expect=422)
    assert refused["error"]["fields"] == {"score": "is required"}
    # ... while a partial update of an existing record that leaves it out still works
    path = f"{records_path(ws, rt)}/{rows[0]['id']}"
    assert api.patch(path, {"fields": {"name": "Ada L."}}, expect=200)["fields"]["score"] is None
    made = api.post(records_path(ws, rt), {"fields": {"name": "Cy", "score": 3}}, expect=201)
    assert made["fields"] == {"name": "Cy", "score": 3}


def test_add_multi_valued_field_creates_link_table(api, ws, runtime):
    rt, rows = make_type(api, ws, "Deal", field("Title", "text"), rows=[{"title": "A"}])
    added = api.post(
        f"{_types(ws)}/{rt['id']}/fields",
        field("Tags", "multiple_choice", choices=["hot", "cold"]),
        expect=201,
    )
    assert link_tables(runtime, {added["id"]}) == {f"lnk_{added['id']}"}
    assert_agrees(runtime, rt["id"])
    assert _records(api, ws, rt)[rows[0]["id"]] == {"title": "A", "tags": []}
    path = f"{records_path(ws, rt)}/{rows[0]['id']}"
    got = api.patch(path, {"fields": {"tags": ["cold", "hot"]}}, expect=200)
    assert got["fields"]["tags"] == ["hot", "cold"]


def test_add_field_refuses_a_taken_key_and_changes_nothing(api, ws, runtime):
    rt, _ = make_type(api, ws, "Customer", field("Name", "text"))
    before = columns(runtime, rt["id"])
    body = api.post(
        f"{_types(ws)}/{rt['id']}/fields", {"name": "Other", "key": "name", "type": "text"}
    )
    assert api.last.status_code == 422, body
    assert "key" in body["error"]["fields"]
    assert columns(runtime, rt["id"]) == before
    assert_agrees(runtime, rt["id"])


def test_rename_field_keeps_data_and_key(api, ws, runtime):
    rt, rows = make_type(
        api, ws, "Customer", field("Name", "text"), rows=[{"name": "Ada"}, {"name": "Bob"}]
    )
    fid = rt["fields"][0]["id"]
    before = columns(runtime, rt["id"])
    renamed = api.patch(f"{_types(ws)}/{rt['id']}/fields/{fid}", {"name": "Full name"}, expect=200)
    assert (renamed["name"], renamed["key"]) == ("Full name", "name")
    assert _records(api, ws, rt) == {r["id"]: r["fields"] for r in rows}
    assert columns(runtime, rt["id"]) == before  # a rename is metadata only

    rekeyed = api.patch(f"{_types(ws)}/{rt['id']}/fields/{fid}", {"key": "full_name"}, expect=200)
    assert (rekeyed["name"], rekeyed["key"]) == ("Full name", "full_name")
    assert _records(api, ws, rt) == {r["id"]: {"full_name": r["fields"]["name"]} for r in rows}
    assert columns(runtime, rt["id"]) == before
    made = api.post(records_path(ws, rt), {"fields": {"full_name": "Cy"}}, expect=201)
    assert made["fields"] == {"full_name": "Cy"}
    api.post(records_path(ws, rt), {"fields": {"name": "Old key"}}, expect=422)
    assert_agrees(runtime, rt["id"])


def test_rename_field_to_a_taken_name_is_refused(api, ws, runtime):
    rt, _ = make_type(api, ws, "Customer", field("Name", "text"), field("Email", "email"))
    fid = rt["fields"][1]["id"]
    body = api.patch(f"{_types(ws)}/{rt['id']}/fields/{fid}", {"name": "name"}, expect=422)
    assert "name" in body["error"]["fields"]
    body = api.patch(f"{_types(ws)}/{rt['id']}/fields/{fid}", {"key": "created_at"}, expect=422)
    assert "key" in body["error"]["fields"]
    assert [f["name"] for f in api.get(f"{_types(ws)}/{rt['id']}")["fields"]] == ["Name", "Email"]


def test_rename_type_keeps_records_and_table(api, ws, runtime):
    rt, rows = make_type(api, ws, "Customer", field("Name", "text"), rows=[{"name": "Ada"}])
    make_type(api, ws, "Order", field("Ref", "text"))
    before = columns(runtime, rt["id"])
    renamed = api.patch(f"{_types(ws)}/{rt['id']}", {"name": "Client"}, expect=200)
    assert renamed["name"] == "Client"
    assert renamed["schema_version"] > rt["schema_version"]
    assert _records(api, ws, rt) == {rows[0]["id"]: {"name": "Ada"}}
    assert columns(runtime, rt["id"]) == before
    assert api.patch(f"{_types(ws)}/{rt['id']}", {"name": "order"}, expect=409)
    assert api.get(f"{_types(ws)}/{rt['id']}", expect=200)["name"] == "Client"
    assert_agrees(runtime, rt["id"])


def test_reorder_fields(api, ws, runtime):
    rt, rows = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text"),
        field("Email", "email"),
        field("Age", "number"),
        rows=[{"name": "Ada", "email": "ada@example.org", "age": 36}],
    )
    order = ["age", "name", "email"]
    out = api.put(f"{_types(ws)}/{rt['id']}/field-order", {"order": order}, expect=200)
    assert [f["key"] for f in out["fields"]] == order
    assert [f["key"] for f in api.get(f"{_types(ws)}/{rt['id']}")["fields"]] == order
    assert list(_records(api, ws, rt)[rows[0]["id"]]) == order
    assert _records(api, ws, rt)[rows[0]["id"]] == rows[0]["fields"]

    for bad in (["age", "name"], ["age", "name", "email", "email"], ["age", "name", "nope"]):
        body = api.put(f"{_types(ws)}/{rt['id']}/field-order", {"order": bad}, expect=422)
        assert "order" in body["error"]["fields"]
    assert [f["key"] for f in api.get(f"{_types(ws)}/{rt['id']}")["fields"]] == order
    assert_agrees(runtime, rt["id"])


def test_delete_field_drops_column_and_data(api, ws, runtime):
    rt, rows = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text"),
        field("Email", "email", unique=True),
        field("Tags", "multiple_choice", choices=["a", "b"]),
        rows=[{"name": "Ada", "email": "ada@example.org", "tags": ["a"]}],
    )
    name_id, email_id, tags_id = (f["id"] for f in rt["fields"])
    assert f"f_{email_id}" in columns(runtime, rt["id"])
    api.delete(f"{_types(ws)}/{rt['id']}/fields/{email_id}", expect=204)
    api.delete(f"{_types(ws)}/{rt['id']}/fields/{tags_id}", expect=204)

    assert f"f_{email_id}" not in columns(runtime, rt["id"])
    assert link_tables(runtime, {tags_id}) == set()
    assert _records(api, ws, rt) == {rows[0]["id"]: {"name": "Ada"}}
    assert [f["id"] for f in api.get(f"{_types(ws)}/{rt['id']}")["fields"]] == [name_id]
    assert_agrees(runtime, rt["id"], known={email_id, tags_id})
    api.delete(f"{_types(ws)}/{rt['id']}/fields/{email_id}", expect=404)
    # the key is free again, and a new field with it starts empty
    api.post(f"{_types(ws)}/{rt['id']}/fields", field("Email", "email"), expect=201)
    assert _records(api, ws, rt) == {rows[0]["id"]: {"name": "Ada", "email": None}}


def test_delete_field_removes_unique_combinations_it_was_part_of(api, ws, runtime):
    rt, _ = make_type(api, ws, "Person", field("First", "text"), field("Last", "text"))
    api.post(f"{_types(ws)}/{rt['id']}/unique", {"fields": ["first", "last"]}, expect=201)
    api.delete(f"{_types(ws)}/{rt['id']}/fields/{rt['fields'][1]['id']}", expect=204)
    assert api.get(f"{_types(ws)}/{rt['id']}")["unique_together"] == []
    assert_agrees(runtime, rt["id"])
    for _ in range(2):  # the combination's index is gone too
        api.post(records_path(ws, rt), {"fields": {"first": "Ada"}}, expect=201)


def test_delete_type_drops_tables_and_relations_pointing_at_it(api, ws, runtime):
    company, companies = make_type(
        api,
        ws,
        "Company",
        field("Name", "text"),
        field("Sector", "multiple_choice", choices=["it", "retail"]),
        rows=[{"name": "Acme", "sector": ["it"]}],
    )
    person, people = make_type(
        api,
        ws,
        "Person",
        field("Name", "text"),
        field("Employer", "relation", target=company["id"]),
        rows=[{"name": "Ada"}],
    )
    path = f"{records_path(ws, person)}/{people[0]['id']}"
    api.patch(path, {"fields": {"employer": [companies[0]["id"]]}}, expect=200)
    relation_id = person["fields"][1]["id"]
    assert link_tables(runtime, {relation_id}) == {f"lnk_{relation_id}"}

    api.delete(f"{_types(ws)}/{company['id']}", expect=204)

    assert_gone(runtime, company["id"], {f["id"] for f in company["fields"]})
    api.get(f"{_types(ws)}/{company['id']}", expect=404)
    api.get(records_path(ws, company), expect=404)
    assert [t["id"] for t in api.get(_types(ws), expect=200)] == [person["id"]]
    left = api.get(f"{_types(ws)}/{person['id']}", expect=200)
    assert [f["key"] for f in left["fields"]] == ["name"]
    assert_agrees(runtime, person["id"], known={relation_id})
    assert _records(api, ws, person) == {people[0]["id"]: {"name": "Ada"}}
    api.post(records_path(ws, person), {"fields": {"name": "Bob"}}, expect=201)


def test_a_type_created_after_a_deletion_starts_afresh(api, ws):
    old, _ = make_type(api, ws, "Old", field("Name", "text"), rows=[{"name": "secret"}])
    api.delete(f"{_types(ws)}/{old['id']}", expect=204)
    new, rows = make_type(api, ws, "New", field("Title", "text"), rows=[{"title": "x"}])
    assert rows[0]["fields"] == {"title": "x"}
    history = api.get(f"{records_path(ws, new)}/{rows[0]['id']}/activity")["items"]
    assert [e["changes"] for e in history] == [[{"field": "title", "old": None, "new": "x"}]]
