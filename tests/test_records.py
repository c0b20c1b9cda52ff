"""Records through the API: create, read, partial update, soft delete and restore,
optimistic concurrency, unique constraints and the activity history."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path


@pytest.fixture
def customers(api: Api, ws: int) -> tuple[str, dict[str, Any]]:
    rt, _ = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text", required=True),
        field("Email", "email", unique=True),
        field("Status", "single_choice", choices=["Lead", "Won", "Lost"]),
        field("Tags", "multiple_choice", choices=["vip", "newsletter"]),
    )
    return records_path(ws, rt), rt


def test_create_read_update_keeps_unsent_fields(api, customers):
    path, _ = customers
    made = api.post(
        path, {"fields": {"name": "Ada", "email": "ada@x.org", "status": "Lead"}}, expect=201
    )
    assert made["version"] == 1
    changed = api.patch(f"{path}/{made['id']}", {"fields": {"status": "won"}}, expect=200)
    assert changed["fields"] == {"name": "Ada", "email": "ada@x.org", "status": "Won", "tags": []}
    assert changed["version"] == 2
    assert api.get(f"{path}/{made['id']}", expect=200) == changed


def test_an_update_that_changes_nothing_keeps_the_version(api, customers):
    path, _ = customers
    made = api.post(path, {"fields": {"name": "Ada", "tags": ["vip", "newsletter"]}}, expect=201)
    same = api.patch(
        f"{path}/{made['id']}", {"fields": {"tags": ["newsletter", "vip"]}}, expect=200
    )
    assert same["version"] == 1
    history = api.get(f"{path}/{made['id']}/activity", expect=200)["items"]
    assert [entry["action"] for entry in history] == ["create"]


def test_system_columns_cannot_be_set(api, customers):
    path, _ = customers
    body = api.post(path, {"fields": {"name": "Ada", "id": 99, "created_by": 5}}, expect=422)
    assert body["error"]["fields"] == {
        "id": "is set by the server",
        "created_by": "is set by the server",
    }
    assert api.get(path, expect=200)["items"] == []


def test_required_field_missing_on_create_and_emptied_on_update(api, customers):
    path, _ = customers
    assert api.post(path, {"fields": {}}, expect=422)["error"]["fields"] == {"name": "is required"}
    made = api.post(path, {"fields": {"name": "Ada"}}, expect=201)
    body = api.patch(f"{path}/{made['id']}", {"fields": {"name": "  "}}, expect=422)
    assert body["error"]["fields"] == {"name": "is required"}
    assert api.get(f"{path}/{made['id']}")["fields"]["name"] == "Ada"


def test_unique_clash_names_field_and_record(api, customers):
    path, _ = customers
    first = api.post(path, {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    body = api.post(path, {"fields": {"name": "Other", "email": " ADA@x.org "}}, expect=409)
    assert body["error"]["code"] == "unique_violation"
    assert body["error"]["fields"] == {"email": f"is already used by record {first['id']}"}
    assert body["error"]["record"] == first["id"]
    assert len(api.get(path)["items"]) == 1


def test_unique_combination(api, ws):
    rt, _ = make_type(api, ws, "Person", field("First", "text"), field("Last", "text"))
    path = records_path(ws, rt)
    api.post(f"/workspaces/{ws}/types/{rt['id']}/unique", {"fields": ["first", "last"]}, expect=201)
    api.post(path, {"fields": {"first": "Ada", "last": "Lovelace"}}, expect=201)
    api.post(path, {"fields": {"first": "Ada", "last": "Byron"}}, expect=201)
    body = api.post(path, {"fields": {"first": "Ada", "last": "Lovelace"}}, expect=409)
    assert set(body["error"]["fields"]) == {"first", "last"}


def test_soft_delete_hides_and_restore_brings_back(api, customers):
    path, _ = customers
    made = api.post(path, {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    api.delete(f"{path}/{made['id']}", expect=204)
    assert api.get(f"{path}/{made['id']}", expect=404)["error"]["deleted"] is True
    assert api.get(path)["items"] == []
    assert [r["id"] for r in api.get(path, deleted="only")["items"]] == [made["id"]]
    # A deleted record's unique value is free for a new record...
    newcomer = api.post(path, {"fields": {"name": "Ada 2", "email": "ada@x.org"}}, expect=201)
    # ...so restoring the old one now clashes and says so.
    assert api.post(f"{path}/{made['id']}/restore", expect=409)["error"]["code"] == "conflict"
    api.delete(f"{path}/{newcomer['id']}", expect=204)
    restored = api.post(f"{path}/{made['id']}/restore", expect=200)
    assert restored["fields"]["name"] == "Ada"
    actions = [e["action"] for e in api.get(f"{path}/{made['id']}/activity")["items"]]
    assert actions == ["restore", "delete", "create"]


def test_stale_version_is_refused_and_changes_nothing(api, customers):
    path, _ = customers
    made = api.post(path, {"fields": {"name": "Ada"}}, expect=201)
    api.patch(f"{path}/{made['id']}", {"fields": {"name": "Ada L."}, "version": 1}, expect=200)
    body = api.patch(f"{path}/{made['id']}", {"fields": {"name": "Late"}, "version": 1}, expect=409)
    assert body["error"]["code"] == "version_conflict"
    assert body["error"]["current_version"] == 2
    assert api.get(f"{path}/{made['id']}")["fields"]["name"] == "Ada L."
    api.patch(
        f"{path}/{made['id']}",
        {"fields": {"name": "Late"}},
        headers={"If-Match": '"1"'},
        expect=409,
    )
    api.delete(f"{path}/{made['id']}", headers={"If-Match": "1"}, expect=409)


def test_two_concurrent_stale_updates_one_wins_one_conflicts(api, customers):
    path, _ = customers
    made = api.post(path, {"fields": {"name": "Ada"}}, expect=201)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def update(name: str) -> None:
        barrier.wait()
        api.patch(f"{path}/{made['id']}", {"fields": {"name": name}, "version": 1})
        statuses.append(api.last.status_code)

    threads = [threading.Thread(target=update, args=(n,)) for n in ("One", "Two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    final = api.get(f"{path}/{made['id']}")
    assert final["version"] == 2 and final["fields"]["name"] in {"One", "Two"}


def test_activity_records_who_what_old_and_new(api, customers, owner):
    path, rt = customers
    made = api.post(path, {"fields": {"name": "Ada", "status": "Lead"}}, expect=201)
    api.patch(f"{path}/{made['id']}", {"fields": {"status": "Won", "name": "Ada"}}, expect=200)
    newest = api.get(f"{path}/{made['id']}/activity")["items"][0]
    assert newest["action"] == "update"
    assert newest["actor"] == owner[0]["id"] and newest["source"] == "api"
    assert newest["changes"] == [{"field": "status", "old": "Lead", "new": "Won"}]
    feed = api.get(f"/workspaces/{rt['workspace']}/activity")["items"]
    assert [(e["record"], e["action"]) for e in feed[:2]] == [
        (made["id"], "update"),
        (made["id"], "create"),
    ]


def test_activity_pages_newest_first(api, customers):
    path, _ = customers
    made = api.post(path, {"fields": {"name": "v0"}}, expect=201)
    for n in range(1, 5):
        api.patch(f"{path}/{made['id']}", {"fields": {"name": f"v{n}"}}, expect=200)
    first = api.get(f"{path}/{made['id']}/activity", limit=3)
    rest = api.get(f"{path}/{made['id']}/activity", limit=3, before=first["next_before"])
    names = [e["changes"][0]["new"] for e in first["items"] + rest["items"]]
    assert names == ["v4", "v3", "v2", "v1", "v0"]
    assert rest["next_before"] is None


def test_unknown_record_and_type_are_404(api, customers, ws):
    path, _ = customers
    assert api.get(f"{path}/999999", expect=404)["error"]["code"] == "not_found"
    api.patch(f"{path}/999999", {"fields": {"name": "x"}}, expect=404)
    api.get(f"/workspaces/{ws}/types/999999/records", expect=404)
