"""Changing the type of fields that hold data: values convert, or the change is refused.

Every change runs with records present, and the real table is inspected afterwards. Choice
edits and uniqueness are in test_field_config.py.
"""

from __future__ import annotations

from typing import Any

from tests.helpers import field, make_type, records_path
from tests.schema_checks import assert_agrees, columns, link_tables


def _field_path(ws: int, rt: dict[str, Any], key: str) -> str:
    fid = next(f["id"] for f in rt["fields"] if f["key"] == key)
    return f"/workspaces/{ws}/types/{rt['id']}/fields/{fid}"


def _values(api, ws, rt, key):
    items = api.get(records_path(ws, rt), expect=200, limit=200)["items"]
    return {r["id"]: r["fields"][key] for r in items}


def _activity(api, ws, rt, record_id):
    return api.get(f"{records_path(ws, rt)}/{record_id}/activity", expect=200)["items"]


# ---- type conversions -----------------------------------------------------------------


def test_text_to_number_converts_values(api, ws, runtime):
    rt, rows = make_type(
        api, ws, "T", field("Qty", "text"), rows=[{"qty": "12"}, {"qty": " -3 "}, {"qty": None}]
    )
    out = api.patch(_field_path(ws, rt, "qty"), {"type": "number"}, expect=200)
    assert (out["type"], out["key"], out["id"]) == ("number", "qty", rt["fields"][0]["id"])
    assert list(_values(api, ws, rt, "qty").values()) == [12, -3, None]
    assert_agrees(runtime, rt["id"])
    assert api.get(records_path(ws, rt), filter='[{"field":"qty","op":"gt","value":0}]')[
        "items"
    ] == [api.get(f"{records_path(ws, rt)}/{rows[0]['id']}")]
    api.post(records_path(ws, rt), {"fields": {"qty": "x"}}, expect=422)


def test_lossy_conversion_is_refused_with_the_records_it_would_hit(api, ws, runtime):
    rt, rows = make_type(
        api, ws, "T", field("Qty", "text"), rows=[{"qty": "12"}, {"qty": "abc"}, {"qty": "7"}]
    )
    before_columns = columns(runtime, rt["id"])
    before_type = api.get(f"/workspaces/{ws}/types/{rt['id']}")
    body = api.patch(_field_path(ws, rt, "qty"), {"type": "number"}, expect=409)
    assert body["error"]["lossy_records"] == 1
    assert body["error"]["forceable"] is True  # repeating with force gets past it
    (example,) = body["error"]["examples"]
    assert (example["record"], example["value"]) == (rows[1]["id"], "abc")
    assert "number" in example["reason"]
    # nothing changed: definition, table and values
    assert api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"] == before_type["fields"]
    assert columns(runtime, rt["id"]) == before_columns
    assert _values(api, ws, rt, "qty") == {r["id"]: r["fields"]["qty"] for r in rows}
    assert_agrees(runtime, rt["id"])
    api.post(records_path(ws, rt), {"fields": {"qty": "still text"}}, expect=201)


def test_forced_lossy_conversion_clears_values_and_records_them(api, ws, runtime):
    rt, rows = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "12"}, {"qty": "abc"}])
    api.patch(_field_path(ws, rt, "qty"), {"type": "number"}, expect=200, force="true")
    assert _values(api, ws, rt, "qty") == {rows[0]["id"]: 12, rows[1]["id"]: None}
    lost = [e for e in _activity(api, ws, rt, rows[1]["id"]) if e["action"] == "convert"]
    assert [e["changes"] for e in lost] == [[{"field": "qty", "old": "abc", "new": None}]]
    assert not [e for e in _activity(api, ws, rt, rows[0]["id"]) if e["action"] == "convert"]
    assert_agrees(runtime, rt["id"])


def test_number_to_text(api, ws, runtime):
    rt, rows = make_type(
        api,
        ws,
        "T",
        field("Amount", "number", decimals=2),
        rows=[{"amount": "12.5"}, {"amount": -3}, {}],
    )
    api.patch(_field_path(ws, rt, "amount"), {"type": "text"}, expect=200)
    assert _values(api, ws, rt, "amount") == dict(
        zip([r["id"] for r in rows], ["12.50", "-3.00", None], strict=True)
    )
    assert_agrees(runtime, rt["id"])


def test_text_to_single_choice_adds_the_values_as_choices(api, ws, runtime):
    rt, _rows = make_type(
        api,
        ws,
        "T",
        field("Status", "text"),
        rows=[{"status": "Won"}, {"status": "Lost"}, {"status": "Won"}, {}],
    )
    out = api.patch(
        _field_path(ws, rt, "status"),
        {"type": "single_choice", "config": {"choices": ["Open"]}},
        expect=200,
    )
    assert [c["label"] for c in out["config"]["choices"]] == ["Open", "Lost", "Won"]
    assert list(_values(api, ws, rt, "status").values()) == ["Won", "Lost", "Won", None]
    api.post(records_path(ws, rt), {"fields": {"status": "Pending"}}, expect=422)
    assert_agrees(runtime, rt["id"])


def test_multiple_choice_to_text(api, ws, runtime):
    rt, _rows = make_type(
        api,
        ws,
        "T",
        field("Tags", "multiple_choice", choices=["red", "green", "blue"]),
        rows=[{"tags": ["blue", "red"]}, {"tags": []}],
    )
    tags_id = rt["fields"][0]["id"]
    api.patch(_field_path(ws, rt, "tags"), {"type": "text"}, expect=200)
    assert list(_values(api, ws, rt, "tags").values()) == ["red, blue", None]
    assert link_tables(runtime, {tags_id}) == set()
    assert_agrees(runtime, rt["id"], known={tags_id})


def test_text_to_multiple_choice_splits_values_into_choices(api, ws, runtime):
    rt, _ = make_type(
        api, ws, "T", field("Tags", "text"), rows=[{"tags": "red, blue"}, {"tags": "blue"}, {}]
    )
    tags_id = rt["fields"][0]["id"]
    out = api.patch(_field_path(ws, rt, "tags"), {"type": "multiple_choice"}, expect=200)
    assert [c["label"] for c in out["config"]["choices"]] == ["blue", "red"]
    assert list(_values(api, ws, rt, "tags").values()) == [["blue", "red"], ["blue"], []]
    assert link_tables(runtime, {tags_id}) == {f"lnk_{tags_id}_1"}
    assert_agrees(runtime, rt["id"], known={tags_id})


def test_integer_to_decimal_and_back(api, ws, runtime):
    rt, rows = make_type(
        api, ws, "T", field("Amount", "number"), rows=[{"amount": 12}, {"amount": -3}]
    )
    ids = [r["id"] for r in rows]
    api.patch(_field_path(ws, rt, "amount"), {"config": {"decimals": 2}}, expect=200)
    assert list(_values(api, ws, rt, "amount").values()) == ["12.00", "-3.00"]
    assert_agrees(runtime, rt["id"])
    api.patch(f"{records_path(ws, rt)}/{ids[0]}", {"fields": {"amount": "1.25"}}, expect=200)

    body = api.patch(_field_path(ws, rt, "amount"), {"config": {"decimals": 1}}, expect=409)
    assert [e["record"] for e in body["error"]["examples"]] == [ids[0]]
    assert list(_values(api, ws, rt, "amount").values()) == ["1.25", "-3.00"]
    assert_agrees(runtime, rt["id"])

    api.patch(f"{records_path(ws, rt)}/{ids[0]}", {"fields": {"amount": "1.5"}}, expect=200)
    api.patch(_field_path(ws, rt, "amount"), {"config": {"decimals": 0}}, expect=409)
    api.patch(_field_path(ws, rt, "amount"), {"config": {"decimals": 1}}, expect=200)
    assert list(_values(api, ws, rt, "amount").values()) == ["1.5", "-3.0"]
    assert_agrees(runtime, rt["id"])


def test_rename_and_retype_in_one_change(api, ws, runtime):
    rt, rows = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "4"}])
    out = api.patch(
        _field_path(ws, rt, "qty"), {"type": "number", "name": "Count", "key": "count"}, expect=200
    )
    assert (out["name"], out["key"], out["type"]) == ("Count", "count", "number")
    assert _values(api, ws, rt, "count") == {rows[0]["id"]: 4}
    assert_agrees(runtime, rt["id"])


def test_conversion_clashing_with_unique_is_refused_and_undone(api, ws, runtime):
    rt, _rows = make_type(
        api, ws, "T", field("Code", "text", unique=True), rows=[{"code": "1"}, {"code": "01"}]
    )
    before = columns(runtime, rt["id"])
    body = api.patch(_field_path(ws, rt, "code"), {"type": "number"}, expect=409)
    assert "unique" in body["error"]["message"]
    assert "forceable" not in body["error"]  # force would not get past a clash
    assert columns(runtime, rt["id"]) == before
    assert list(_values(api, ws, rt, "code").values()) == ["1", "01"]
    assert_agrees(runtime, rt["id"])


def test_text_to_user_resolves_members_by_email(api, ws, runtime, owner):
    user = owner[0]
    rt, rows = make_type(
        api,
        ws,
        "T",
        field("Owner", "text"),
        rows=[{"owner": user["email"]}, {"owner": "stranger@example.org"}, {}],
    )
    body = api.patch(_field_path(ws, rt, "owner"), {"type": "user"}, expect=409)
    assert [e["record"] for e in body["error"]["examples"]] == [rows[1]["id"]]
    api.patch(_field_path(ws, rt, "owner"), {"type": "user"}, expect=200, force="true")
    assert list(_values(api, ws, rt, "owner").values()) == [user["id"], None, None]
    assert_agrees(runtime, rt["id"])


def test_number_to_user_keeps_only_members(api, ws, runtime, owner):
    user = owner[0]
    rt, rows = make_type(
        api, ws, "T", field("Owner", "number"), rows=[{"owner": user["id"]}, {"owner": 987654}]
    )
    body = api.patch(_field_path(ws, rt, "owner"), {"type": "user"}, expect=409)
    assert [e["record"] for e in body["error"]["examples"]] == [rows[1]["id"]]


def test_relation_to_another_target_keeps_no_links(api, ws, runtime):
    a, a_rows = make_type(api, ws, "A", field("Name", "text"), rows=[{"name": "a"}] * 2)
    b, b_rows = make_type(api, ws, "B", field("Name", "text"), rows=[{"name": "b"}] * 2)
    rt, rows = make_type(
        api,
        ws,
        "T",
        field("Link", "relation", target=a["id"]),
        rows=[{"link": [a_rows[1]["id"]]}, {"link": []}],
    )
    path = _field_path(ws, rt, "link")
    # record ids count per table: a link to A's record 2 is no link to B's record 2
    assert a_rows[1]["id"] == b_rows[1]["id"]
    body = api.patch(path, {"config": {"target": b["id"]}}, expect=409)
    assert [e["record"] for e in body["error"]["examples"]] == [rows[0]["id"]]
    api.patch(path, {"config": {"target": b["id"]}}, expect=200, force="true")
    assert list(_values(api, ws, rt, "link").values()) == [[], []]
    assert_agrees(runtime, rt["id"], known={rt["fields"][0]["id"]})
    linked = api.patch(
        f"{records_path(ws, rt)}/{rows[1]['id']}", {"fields": {"link": [b_rows[0]["id"]]}}
    )
    assert linked["fields"]["link"] == [b_rows[0]["id"]]


def test_text_to_relation_checks_the_records_exist(api, ws, runtime):
    target, targets = make_type(api, ws, "A", field("Name", "text"), rows=[{"name": "a"}] * 2)
    rt, rows = make_type(
        api,
        ws,
        "T",
        field("Refs", "text"),
        rows=[{"refs": f"{targets[0]['id']}, {targets[1]['id']}"}, {"refs": "999999"}],
    )
    path = _field_path(ws, rt, "refs")
    change = {"type": "relation", "config": {"target": target["id"]}}
    body = api.patch(path, change, expect=409)
    assert [e["record"] for e in body["error"]["examples"]] == [rows[1]["id"]]
    api.patch(path, change, expect=200, force="true")
    assert list(_values(api, ws, rt, "refs").values()) == [[r["id"] for r in targets], []]
    assert_agrees(runtime, rt["id"])


def test_number_to_money_uses_two_columns(api, ws, runtime):
    rt, _ = make_type(api, ws, "T", field("Price", "number"), rows=[{"price": 12}, {}])
    fid = rt["fields"][0]["id"]
    api.patch(
        _field_path(ws, rt, "price"), {"type": "money", "config": {"currency": "EUR"}}, expect=200
    )
    assert list(_values(api, ws, rt, "price").values()) == [
        {"amount": "12.00", "currency": "EUR"},
        None,
    ]
    assert {f"f_{fid}_1", f"f_{fid}_1_cur"} <= set(columns(runtime, rt["id"]))
    assert_agrees(runtime, rt["id"])
    api.patch(_field_path(ws, rt, "price"), {"type": "text"}, expect=200)
    assert list(_values(api, ws, rt, "price").values()) == ["12.00 EUR", None]
    assert_agrees(runtime, rt["id"])


def test_text_to_checkbox_and_unique_carried_over(api, ws, runtime):
    rt, _ = make_type(
        api,
        ws,
        "T",
        field("Done", "text"),
        field("Code", "text", unique=True),
        rows=[{"done": "yes", "code": "1"}, {"done": "no", "code": "2"}, {}],
    )
    api.patch(_field_path(ws, rt, "done"), {"type": "checkbox"}, expect=200)
    assert list(_values(api, ws, rt, "done").values()) == [True, False, False]
    out = api.patch(_field_path(ws, rt, "code"), {"type": "number"}, expect=200)
    assert out["config"]["unique"] is True
    assert_agrees(runtime, rt["id"])
    api.post(records_path(ws, rt), {"fields": {"code": 1}}, expect=409)
