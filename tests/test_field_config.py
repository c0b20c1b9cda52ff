"""Changing a field's options with records present: choice edits and uniqueness."""

from __future__ import annotations

from typing import Any

from tests.helpers import field, make_type, records_path
from tests.schema_checks import assert_agrees


def _field_path(ws: int, rt: dict[str, Any], key: str) -> str:
    fid = next(f["id"] for f in rt["fields"] if f["key"] == key)
    return f"/workspaces/{ws}/types/{rt['id']}/fields/{fid}"


def _values(api, ws, rt, key):
    items = api.get(records_path(ws, rt), expect=200, limit=200)["items"]
    return {r["id"]: r["fields"][key] for r in items}


def _activity(api, ws, rt, record_id):
    return api.get(f"{records_path(ws, rt)}/{record_id}/activity", expect=200)["items"]


# ---- choices --------------------------------------------------------------------------


def _choices(rt: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return next(f for f in rt["fields"] if f["key"] == key)["config"]["choices"]


def test_renamed_choices_carry_stored_values(api, ws, runtime):
    rt, _rows = make_type(
        api,
        ws,
        "T",
        field("Status", "single_choice", choices=["hot", "cold", "warm"]),
        field("Tags", "multiple_choice", choices=["hot", "cold", "warm"]),
        rows=[
            {"status": "hot", "tags": ["hot", "cold"]},
            {"status": "cold", "tags": ["warm"]},
            {"status": "warm", "tags": []},
        ],
    )
    for key in ("status", "tags"):
        hot, cold, warm = _choices(rt, key)
        # a swap and a plain rename at once: hot <-> cold, warm -> tepid
        new = [{**hot, "label": "cold"}, {**cold, "label": "hot"}, {**warm, "label": "tepid"}]
        api.patch(_field_path(ws, rt, key), {"config": {"choices": new}}, expect=200)
    assert list(_values(api, ws, rt, "status").values()) == ["cold", "hot", "tepid"]
    assert list(_values(api, ws, rt, "tags").values()) == [["cold", "hot"], ["tepid"], []]
    api.post(records_path(ws, rt), {"fields": {"status": "warm"}}, expect=422)
    assert_agrees(runtime, rt["id"])


def test_removing_a_used_choice_needs_force(api, ws, runtime):
    rt, rows = make_type(
        api,
        ws,
        "T",
        field("Status", "single_choice", choices=["a", "b"]),
        field("Tags", "multiple_choice", choices=["a", "b"]),
        rows=[{"status": "a", "tags": ["a", "b"]}, {"status": "b", "tags": ["b"]}],
    )
    for key in ("status", "tags"):
        kept = _choices(rt, key)[1:]
        body = api.patch(_field_path(ws, rt, key), {"config": {"choices": kept}}, expect=409)
        assert [e["record"] for e in body["error"]["examples"]] == [rows[0]["id"]]
        assert body["error"]["forceable"] is True
        assert [
            c["label"] for c in _choices(api.get(f"/workspaces/{ws}/types/{rt['id']}"), key)
        ] == ["a", "b"]
    assert list(_values(api, ws, rt, "status").values()) == ["a", "b"]
    assert list(_values(api, ws, rt, "tags").values()) == [["a", "b"], ["b"]]

    for key in ("status", "tags"):
        kept = _choices(rt, key)[1:]
        api.patch(_field_path(ws, rt, key), {"config": {"choices": kept}}, force="true", expect=200)
    assert list(_values(api, ws, rt, "status").values()) == [None, "b"]
    assert list(_values(api, ws, rt, "tags").values()) == [["b"], ["b"]]
    lost = [e["changes"] for e in _activity(api, ws, rt, rows[0]["id"]) if e["action"] == "convert"]
    assert sorted(c for changes in lost for c in [changes[0]["field"]]) == ["status", "tags"]
    assert {"field": "status", "old": "a", "new": None} in [c for ch in lost for c in ch]
    assert not [e for e in _activity(api, ws, rt, rows[1]["id"]) if e["action"] == "convert"]
    assert_agrees(runtime, rt["id"])


def test_removing_an_unused_choice_needs_no_force(api, ws, runtime):
    rt, _ = make_type(
        api, ws, "T", field("Status", "single_choice", choices=["a", "b"]), rows=[{"status": "b"}]
    )
    kept = _choices(rt, "status")[1:]
    api.patch(_field_path(ws, rt, "status"), {"config": {"choices": kept}}, expect=200)
    assert list(_values(api, ws, rt, "status").values()) == ["b"]


# ---- uniqueness -----------------------------------------------------------------------


def test_unique_on_with_duplicates_names_the_records(api, ws, runtime):
    rt, rows = make_type(
        api,
        ws,
        "T",
        field("Email", "email"),
        rows=[{"email": "a@x.org"}, {"email": "b@x.org"}, {"email": "a@x.org"}, {}, {}],
    )
    path = _field_path(ws, rt, "email")
    body = api.patch(path, {"config": {"unique": True}}, expect=409)
    (example,) = body["error"]["examples"]
    assert example["records"] == [rows[0]["id"], rows[2]["id"]]
    assert example["values"] == ["a@x.org"]
    assert_agrees(runtime, rt["id"])
    assert not api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"][0]["config"].get("unique")

    # a deleted duplicate does not count
    api.delete(f"{records_path(ws, rt)}/{rows[2]['id']}", expect=204)
    out = api.patch(path, {"config": {"unique": True}}, expect=200)
    assert out["config"]["unique"] is True
    assert_agrees(runtime, rt["id"])


def test_unique_on_and_off_is_enforced(api, ws, runtime):
    rt, rows = make_type(api, ws, "T", field("Code", "text"), rows=[{"code": "A"}])
    path = _field_path(ws, rt, "code")
    api.patch(path, {"config": {"unique": True}}, expect=200)
    assert_agrees(runtime, rt["id"])
    body = api.post(records_path(ws, rt), {"fields": {"code": "A"}}, expect=409)
    assert body["error"]["record"] == rows[0]["id"]
    assert "code" in body["error"]["fields"]

    api.patch(path, {"config": {"unique": False}}, expect=200)
    assert_agrees(runtime, rt["id"])
    api.post(records_path(ws, rt), {"fields": {"code": "A"}}, expect=201)
    api.patch(path, {"config": {"unique": True}}, expect=409)


def test_unique_combination_add_and_remove(api, ws, runtime):
    rt, rows = make_type(
        api,
        ws,
        "Person",
        field("First", "text"),
        field("Last", "text"),
        rows=[{"first": "Ada", "last": "L"}, {"first": "Ada", "last": "K"}],
    )
    unique = f"/workspaces/{ws}/types/{rt['id']}/unique"
    out = api.post(unique, {"fields": ["first", "last"]}, expect=201)
    (combo,) = out["unique_together"]
    assert combo["fields"] == ["first", "last"]
    assert_agrees(runtime, rt["id"])
    body = api.post(records_path(ws, rt), {"fields": {"first": "Ada", "last": "L"}}, expect=409)
    assert body["error"]["record"] == rows[0]["id"]
    api.post(records_path(ws, rt), {"fields": {"first": "Ada", "last": "M"}}, expect=201)
    api.post(unique, {"fields": ["first", "last"]}, expect=409)

    # a field in a combination keeps its type until the combination goes
    api.patch(_field_path(ws, rt, "last"), {"type": "number"}, expect=409)

    out = api.delete(f"{unique}/{combo['id']}", expect=200)
    assert out["unique_together"] == []
    assert_agrees(runtime, rt["id"])
    api.post(records_path(ws, rt), {"fields": {"first": "Ada", "last": "L"}}, expect=201)
    api.delete(f"{unique}/{combo['id']}", expect=404)

    body = api.post(unique, {"fields": ["first", "last"]}, expect=409)
    assert body["error"]["examples"][0]["records"][0] == rows[0]["id"]
    assert "forceable" not in body["error"]  # duplicates are resolved, not forced
    assert_agrees(runtime, rt["id"])
