"""Bulk create/update/upsert: one transaction, a result per item, upserts matching on unique
fields instead of ids."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path


@pytest.fixture
def contacts(api: Api, ws: int) -> tuple[str, dict[str, Any]]:
    rt, _ = make_type(
        api,
        ws,
        "Contact",
        field("Name", "text", required=True),
        field("Email", "email", unique=True),
        field("Region", "text"),
        field("Amount", "number"),
    )
    return records_path(ws, rt), rt


def test_bulk_create_returns_each_record_in_order(api, contacts):
    path, _ = contacts
    items = [{"fields": {"name": f"n{i}", "email": f"n{i}@x.org"}} for i in range(250)]
    result = api.post(f"{path}/bulk", {"items": items}, expect=200)
    assert result["created"] == 250 and result["written"] is True
    assert [r["record"]["fields"]["name"] for r in result["results"]] == [
        f"n{i}" for i in range(250)
    ]
    ids = [r["id"] for r in result["results"]]
    assert ids == sorted(ids)
    assert api.get(path, total=True, limit=1)["total"] == 250
    assert (
        len(api.get(f"/workspaces/{contacts[1]['workspace']}/activity", limit=200)["items"]) == 200
    )


def test_atomic_bulk_with_one_bad_item_writes_nothing(api, contacts):
    path, _ = contacts
    items = [
        {"fields": {"name": "ok", "email": "ok@x.org"}},
        {"fields": {"email": "not-an-email"}},
        {"fields": {"name": "dup", "email": "ok@x.org"}},
    ]
    result = api.post(f"{path}/bulk", {"items": items}, expect=422)
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["skipped", "error", "error"]
    assert set(result["results"][1]["error"]["fields"]) == {"name", "email"}
    assert result["results"][2]["error"]["fields"] == {
        "email": "is already used by item 0 of this batch"
    }
    assert api.get(path)["items"] == []


def test_non_atomic_bulk_writes_the_good_items(api, contacts):
    path, _ = contacts
    items = [{"fields": {"name": "ok"}}, {"fields": {"amount": "x"}}, {"fields": {"name": "ok2"}}]
    result = api.post(f"{path}/bulk", {"items": items, "atomic": False}, expect=200)
    assert [r["status"] for r in result["results"]] == ["created", "error", "created"]
    assert sorted(r["fields"]["name"] for r in api.get(path)["items"]) == ["ok", "ok2"]


def test_bulk_update_with_versions(api, contacts):
    path, _ = contacts
    made = bulk_rows(api, path, 3)
    items = [
        {"id": made[0]["id"], "version": 1, "fields": {"amount": 10}},
        {"id": made[1]["id"], "version": 7, "fields": {"amount": 20}},
        {"id": made[2]["id"], "fields": {"amount": 30}},
    ]
    result = api.post(
        f"{path}/bulk", {"mode": "update", "items": items, "atomic": False}, expect=200
    )
    assert [r["status"] for r in result["results"]] == ["updated", "error", "updated"]
    assert result["results"][1]["error"]["code"] == "version_conflict"
    amounts = {r["id"]: r["fields"]["amount"] for r in api.get(path)["items"]}
    assert amounts == {made[0]["id"]: 10, made[1]["id"]: None, made[2]["id"]: 30}


def test_bulk_update_refuses_the_same_record_twice(api, contacts):
    path, _ = contacts
    made = bulk_rows(api, path, 1)
    rid = made[0]["id"]
    items = [{"id": rid, "fields": {"amount": 1}}, {"id": rid, "fields": {"amount": 2}}]
    result = api.post(f"{path}/bulk", {"mode": "update", "items": items}, expect=422)
    assert result["results"][1]["error"]["fields"]["id"].endswith("appears twice in this batch")


def test_upsert_matches_on_unique_field(api, contacts):
    path, _ = contacts
    first = api.post(
        f"{path}/upsert",
        {"match_on": "email", "fields": {"name": "Ada", "email": "ada@x.org"}},
        expect=201,
    )
    again = api.post(
        f"{path}/upsert",
        {"match_on": ["email"], "fields": {"email": "ADA@x.org", "region": "EU"}},
        expect=200,
    )
    assert again["id"] == first["id"]
    assert again["fields"] == {"name": "Ada", "email": "ada@x.org", "region": "EU", "amount": None}
    assert len(api.get(path)["items"]) == 1


def test_bulk_upsert_mixes_creates_and_updates(api, contacts):
    path, _ = contacts
    api.post(path, {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    items = [
        {"fields": {"email": "ada@x.org", "amount": 5}},
        {"fields": {"name": "Bob", "email": "bob@x.org"}},
        {"fields": {"email": "eve@x.org"}},  # new, but lacks the required name
    ]
    result = api.post(
        f"{path}/bulk",
        {"mode": "upsert", "match_on": "email", "items": items, "atomic": False},
        expect=200,
    )
    assert [r["status"] for r in result["results"]] == ["updated", "created", "error"]
    assert result["results"][2]["error"]["fields"] == {"name": "is required"}


@pytest.mark.parametrize(
    "match_on, reason",
    [
        ("region", "must be a unique field or the fields of a unique combination"),
        ("nope", "'nope' is not a field of this record type"),
        ([], "must name a unique field or a unique combination"),
    ],
)
def test_upsert_needs_a_unique_match(api, contacts, match_on, reason):
    path, _ = contacts
    body = api.post(f"{path}/upsert", {"match_on": match_on, "fields": {"name": "x"}}, expect=422)
    assert body["error"]["fields"] == {"match_on": reason}


def test_upsert_without_the_match_value_is_refused(api, contacts):
    path, _ = contacts
    body = api.post(f"{path}/upsert", {"match_on": "email", "fields": {"name": "x"}}, expect=422)
    assert "email" in body["error"]["fields"]
    assert api.get(path)["items"] == []


def bulk_rows(api: Api, path: str, n: int) -> list[dict[str, Any]]:
    items = [{"fields": {"name": f"r{i}"}} for i in range(n)]
    result = api.post(f"{path}/bulk", {"items": items}, expect=200)
    return [r["record"] for r in result["results"]]
