"""Schema changes that fail half way, and processes that die mid-change.

MySQL commits every DDL statement on its own, so these are the tests that matter most there:
after a failure (undone at once) or a crash (finished or undone by ``recover_all`` once the
lease has run out) the real table and the metadata must agree.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from tests.helpers import field, make_type, records_path
from tests.schema_checks import (
    assert_agrees,
    assert_gone,
    columns,
    expire_lease,
    field_rows,
    link_tables,
    type_row,
)
from tests.schema_faults import Crash, die_mid_change, fail_after, fail_once, recover
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.db import make_engine
from workspace.schema import ddl, definitions
from workspace.types import choice_edits, conversion, record_types, schema_changes


def _values(api, ws, rt, key):
    return [r["fields"][key] for r in api.get(records_path(ws, rt), expect=200)["items"]]


def _fields_path(ws: int, rt: dict[str, Any]) -> str:
    return f"/workspaces/{ws}/types/{rt['id']}/fields"


# ---- failures: the change is undone at once, and can be repeated -----------------------


def test_add_field_failing_after_ddl_is_undone(api, ws, runtime, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Name", "text"), rows=[{"name": "Ada"}])
    before = columns(runtime, rt["id"])
    fail_after(monkeypatch, ddl, "add_field")
    body = api.post(_fields_path(ws, rt), field("Score", "number"), expect=500)
    assert body["error"]["code"] == "internal_error"
    assert columns(runtime, rt["id"]) == before
    assert len(field_rows(runtime, rt["id"])) == 1
    assert_agrees(runtime, rt["id"])
    assert [f["key"] for f in api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"]] == ["name"]

    monkeypatch.undo()
    added = api.post(_fields_path(ws, rt), field("Score", "number"), expect=201)
    assert f"f_{added['id']}" in columns(runtime, rt["id"])
    assert _values(api, ws, rt, "score") == [None]
    assert_agrees(runtime, rt["id"])


def test_add_link_field_failing_after_ddl_is_undone(api, ws, runtime, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Name", "text"))
    calls = fail_after(monkeypatch, ddl, "add_field")
    api.post(_fields_path(ws, rt), field("Tags", "multiple_choice", choices=["a"]), expect=500)
    ((_, _, tags),) = calls
    assert len(field_rows(runtime, rt["id"])) == 1
    assert_agrees(runtime, rt["id"], known={tags.id})
    monkeypatch.undo()
    api.post(_fields_path(ws, rt), field("Tags", "multiple_choice", choices=["a"]), expect=201)
    assert_agrees(runtime, rt["id"])


def test_conversion_failing_after_backfill_is_undone(api, ws, runtime, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "1"}, {"qty": "2"}])
    path = f"{_fields_path(ws, rt)}/{rt['fields'][0]['id']}"
    before = columns(runtime, rt["id"])
    fail_after(monkeypatch, conversion, "_backfill")
    api.patch(path, {"type": "number"}, expect=500)
    assert columns(runtime, rt["id"]) == before
    assert api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"][0]["type"] == "text"
    assert _values(api, ws, rt, "qty") == ["1", "2"]
    assert_agrees(runtime, rt["id"])
    api.post(records_path(ws, rt), {"fields": {"qty": "3"}}, expect=201)  # writes resumed

    monkeypatch.undo()
    api.patch(path, {"type": "number"}, expect=200)
    assert _values(api, ws, rt, "qty") == [1, 2, 3]
    assert_agrees(runtime, rt["id"])


def test_conversion_failing_in_the_metadata_switch_is_undone(api, ws, runtime, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "x"}, {"qty": "2"}])
    path = f"{_fields_path(ws, rt)}/{rt['fields'][0]['id']}"
    fail_once(monkeypatch, schema_changes, "publish")
    api.patch(path, {"type": "number"}, expect=500, force="true")
    assert _values(api, ws, rt, "qty") == ["x", "2"]
    assert_agrees(runtime, rt["id"])
    record_id = api.get(records_path(ws, rt))["items"][0]["id"]
    history = api.get(f"{records_path(ws, rt)}/{record_id}/activity")["items"]
    assert [e for e in history if e["action"] == "convert"] == []  # nothing claimed lost


def test_choice_edit_failing_is_finished(api, ws, runtime, monkeypatch):
    rt, _ = make_type(
        api,
        ws,
        "T",
        field("Tags", "multiple_choice", choices=["a", "b"]),
        rows=[{"tags": ["a", "b"]}, {"tags": ["b"]}],
    )
    a, b = rt["fields"][0]["config"]["choices"]
    fail_once(monkeypatch, choice_edits, "_relabel_and_publish")
    body = {"config": {"choices": [{**a, "label": "b"}, {**b, "label": "a"}]}}
    api.patch(f"{_fields_path(ws, rt)}/{rt['fields'][0]['id']}", body, expect=500)
    # a choice edit loses nothing, so a failure finishes it rather than undoing it
    assert _values(api, ws, rt, "tags") == [["b", "a"], ["a"]]
    assert_agrees(runtime, rt["id"])


def test_delete_field_failing_before_it_is_marked_keeps_the_field(api, ws, runtime, monkeypatch):
    rt, _ = make_type(
        api, ws, "T", field("A", "text"), field("B", "text"), rows=[{"a": "1", "b": "2"}]
    )
    api.post(f"/workspaces/{ws}/types/{rt['id']}/unique", {"fields": ["a", "b"]}, expect=201)
    fail_once(monkeypatch, schema_changes, "publish")
    api.delete(f"{_fields_path(ws, rt)}/{rt['fields'][1]['id']}", expect=500)
    assert_agrees(runtime, rt["id"])
    assert api.get(records_path(ws, rt))["items"][0]["fields"] == {"a": "1", "b": "2"}
    api.delete(f"{_fields_path(ws, rt)}/{rt['fields'][1]['id']}", expect=204)
    assert_agrees(runtime, rt["id"], known={rt["fields"][1]["id"]})


# ---- crashes: the next process finishes or undoes what was written down ----------------


def test_crash_while_adding_a_field(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Name", "text"), rows=[{"name": "Ada"}])
    die_mid_change(monkeypatch)
    fail_once(monkeypatch, schema_changes, "finish")  # the DDL has committed
    with pytest.raises(Crash):
        record_types.add_field(runtime, access, rt["id"], field("Score", "number"))
    (pending,) = [f for f in field_rows(runtime, rt["id"]) if f["state"] == "pending"]
    assert f"f_{pending['id']}" in columns(runtime, rt["id"])
    # meanwhile the type works without the half-added field
    assert [f["key"] for f in api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"]] == ["name"]
    api.post(records_path(ws, rt), {"fields": {"name": "Bob"}}, expect=201)
    body = api.post(_fields_path(ws, rt), field("Other", "text"), expect=409)
    assert "in progress" in body["error"]["message"]
    assert len(field_rows(runtime, rt["id"])) == 2  # the refused field left no row behind

    recover(runtime, monkeypatch, rt["id"])
    assert f"f_{pending['id']}" not in columns(runtime, rt["id"])
    assert_agrees(runtime, rt["id"], known={pending["id"]})
    api.post(_fields_path(ws, rt), field("Score", "number"), expect=201)
    assert _values(api, ws, rt, "score") == [None, None]


def test_a_new_change_recovers_an_abandoned_one_first(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Name", "text"))
    die_mid_change(monkeypatch)
    fail_once(monkeypatch, schema_changes, "finish")  # the DDL has committed
    with pytest.raises(Crash):
        record_types.add_field(runtime, access, rt["id"], field("Tags", "multiple_choice"))
    monkeypatch.undo()
    (pending,) = [f for f in field_rows(runtime, rt["id"]) if f["state"] == "pending"]
    assert link_tables(runtime, {pending["id"]}) == {f"lnk_{pending['id']}"}
    expire_lease(runtime, rt["id"])
    api.post(_fields_path(ws, rt), field("Score", "number"), expect=201)
    assert link_tables(runtime, {pending["id"]}) == set()
    assert_agrees(runtime, rt["id"], known={pending["id"]})


def test_crash_while_converting_before_the_switch(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "1"}, {"qty": "2"}])
    fid = rt["fields"][0]["id"]
    before = columns(runtime, rt["id"])
    die_mid_change(monkeypatch)
    fail_after(monkeypatch, conversion, "_backfill")
    with pytest.raises(Crash):
        record_types.change_field(runtime, access, rt["id"], fid, {"type": "number"})
    assert f"f_{fid}_1" in columns(runtime, rt["id"])
    # writes stay paused until the change is finished or undone
    body = api.post(records_path(ws, rt), {"fields": {"qty": "3"}}, expect=503)
    assert body["error"]["code"] == "unavailable"
    assert api.last.headers["Retry-After"] == "2"
    assert _values(api, ws, rt, "qty") == ["1", "2"]  # reads go on

    recover(runtime, monkeypatch, rt["id"])
    assert columns(runtime, rt["id"]) == before
    assert_agrees(runtime, rt["id"])
    assert _values(api, ws, rt, "qty") == ["1", "2"]
    api.post(records_path(ws, rt), {"fields": {"qty": "3"}}, expect=201)


def test_crash_while_converting_after_the_switch(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "1"}, {"qty": "2"}])
    fid = rt["fields"][0]["id"]
    die_mid_change(monkeypatch)
    record_types.change_field(runtime, access, rt["id"], fid, {"type": "number"})
    assert {f"f_{fid}", f"f_{fid}_1"} <= set(columns(runtime, rt["id"]))
    assert _values(api, ws, rt, "qty") == [1, 2]  # the switch is done: writes go on
    api.post(records_path(ws, rt), {"fields": {"qty": 3}}, expect=201)

    recover(runtime, monkeypatch, rt["id"])
    assert f"f_{fid}" not in columns(runtime, rt["id"])
    assert_agrees(runtime, rt["id"])
    assert _values(api, ws, rt, "qty") == [1, 2, 3]


def test_crash_while_deleting_a_field(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(
        api, ws, "T", field("A", "text"), field("B", "text", unique=True), rows=[{"a": "1"}]
    )
    fid = rt["fields"][1]["id"]
    die_mid_change(monkeypatch)
    record_types.delete_field(runtime, access, rt["id"], fid)
    assert f"f_{fid}" in columns(runtime, rt["id"])
    assert [f["key"] for f in api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"]] == ["a"]
    api.post(records_path(ws, rt), {"fields": {"a": "2"}}, expect=201)

    recover(runtime, monkeypatch, rt["id"])
    assert f"f_{fid}" not in columns(runtime, rt["id"])
    assert_agrees(runtime, rt["id"], known={fid})


def test_crash_while_making_a_field_unique(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Code", "text"), rows=[{"code": "A"}])
    fid = rt["fields"][0]["id"]
    die_mid_change(monkeypatch)
    fail_once(monkeypatch, schema_changes, "finish")
    with pytest.raises(Crash):
        record_types.change_field(runtime, access, rt["id"], fid, {"config": {"unique": True}})
    recover(runtime, monkeypatch, rt["id"])
    assert_agrees(runtime, rt["id"])  # the index nobody asked for is gone again
    api.post(records_path(ws, rt), {"fields": {"code": "A"}}, expect=201)


def test_crash_while_editing_choices(api, ws, runtime, access, monkeypatch):
    rt, _ = make_type(
        api,
        ws,
        "T",
        field("Status", "single_choice", choices=["a", "b", "c"]),
        rows=[{"status": "a"}, {"status": "b"}, {"status": "c"}],
    )
    fid = rt["fields"][0]["id"]
    a, b, _c = rt["fields"][0]["config"]["choices"]
    die_mid_change(monkeypatch)
    body = {"config": {"choices": [{**a, "label": "b"}, {**b, "label": "a"}]}}
    record_types.change_field(runtime, access, rt["id"], fid, body, force=True)
    api.post(records_path(ws, rt), {"fields": {"status": "a"}}, expect=503)

    recover(runtime, monkeypatch, rt["id"])
    assert_agrees(runtime, rt["id"])
    assert _values(api, ws, rt, "status") == ["b", "a", None]


@pytest.mark.mysql_only  # SQLite allows one writer at a time: no second database in a process
def test_crash_between_the_steps_of_a_choice_edit_on_two_databases(
    api, ws, runtime, access, settings, monkeypatch
):
    """With record data in a database of its own, the two steps commit apart; the progress
    written down in between keeps a swap from being applied twice."""
    rt, _ = make_type(
        api,
        ws,
        "T",
        field("Tags", "multiple_choice", choices=["a", "b"]),
        rows=[{"tags": ["a"]}, {"tags": ["a", "b"]}],
    )
    fid = rt["fields"][0]["id"]
    a, b = rt["fields"][0]["config"]["choices"]
    data = make_engine(settings.database_url)
    monkeypatch.setattr(runtime, "data_engine", lambda workspace_id: data)
    try:
        real_complete = schema_changes.complete
        calls: list[int] = []

        def dies_after_the_first_step(runtime: Any, record_type_id: int) -> None:
            calls.append(1)
            if len(calls) == 1:  # step one commits, step two fails, and nobody finishes
                real_complete(runtime, record_type_id)

        monkeypatch.setattr(schema_changes, "complete", dies_after_the_first_step)
        fail_once(monkeypatch, choice_edits, "_relabel_and_publish")
        body = {"config": {"choices": [{**a, "label": "b"}, {**b, "label": "a"}]}}
        with pytest.raises(Crash):
            record_types.change_field(runtime, access, rt["id"], fid, body)
        assert type_row(runtime, rt["id"])["pending_change"]["phase"] == "relabel"
        recover(runtime, monkeypatch, rt["id"])
    finally:
        data.dispose()
    assert_agrees(runtime, rt["id"])
    assert _values(api, ws, rt, "tags") == [["b"], ["b", "a"]]


def test_crash_while_creating_a_type(api, ws, runtime, access, monkeypatch):
    die_mid_change(monkeypatch)
    fail_once(monkeypatch, schema_changes, "finish")  # the DDL has committed
    spec = {"name": "T", "fields": [field("Name", "text"), field("Tags", "multiple_choice")]}
    with pytest.raises(Crash):
        record_types.create_type(runtime, access, spec)
    (rt_id,) = [t["id"] for t in _all_types(runtime, ws)]
    field_ids = {f["id"] for f in field_rows(runtime, rt_id)}
    assert f"rt_{rt_id}" in _tables(runtime)
    assert api.get(f"/workspaces/{ws}/types", expect=200) == []

    recover(runtime, monkeypatch, rt_id)
    assert_gone(runtime, rt_id, field_ids)
    api.post(f"/workspaces/{ws}/types", spec, expect=201)


def test_crash_while_deleting_a_type(api, ws, runtime, access, monkeypatch):
    target, _ = make_type(api, ws, "Company", field("Tags", "multiple_choice"), rows=[{"tags": []}])
    other, _ = make_type(
        api, ws, "Person", field("Name", "text"), field("Employer", "relation", target=target["id"])
    )
    die_mid_change(monkeypatch)
    record_types.delete_type(runtime, access, target["id"])
    assert f"rt_{target['id']}" in _tables(runtime)
    api.get(f"/workspaces/{ws}/types/{target['id']}", expect=404)
    left = api.get(f"/workspaces/{ws}/types/{other['id']}", expect=200)
    assert [f["key"] for f in left["fields"]] == ["name"]

    recover(runtime, monkeypatch, target["id"])
    assert_gone(runtime, target["id"], {f["id"] for f in target["fields"]})
    assert_agrees(runtime, other["id"], known={other["fields"][1]["id"]})


def test_crash_before_a_deleted_type_is_marked(api, ws, runtime, access, settings, monkeypatch):
    target, _ = make_type(api, ws, "Company", field("Name", "text"))
    other, _ = make_type(
        api, ws, "Person", field("Name", "text"), field("Employer", "relation", target=target["id"])
    )
    second = build_runtime(settings)  # another process, which has the old definitions cached
    try:
        assert len(_open(second, access, other["id"]).fields) == 2
        die_mid_change(monkeypatch)
        fail_once(monkeypatch, schema_changes, "publish")
        with pytest.raises(Crash):
            record_types.delete_type(runtime, access, target["id"])
        assert type_row(runtime, target["id"])["state"] == "changing"
        recover(runtime, monkeypatch, target["id"])
        assert_gone(runtime, target["id"], {f["id"] for f in target["fields"]})
        assert_agrees(runtime, other["id"], known={other["fields"][1]["id"]})
        assert [f.key for f in _open(second, access, other["id"]).fields] == ["name"]
    finally:
        second.close()


def test_failed_type_deletion_is_finished(api, ws, runtime, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Tags", "multiple_choice"), rows=[{"tags": []}])
    fail_once(monkeypatch, schema_changes, "publish")
    api.delete(f"/workspaces/{ws}/types/{rt['id']}", expect=500)
    assert_gone(runtime, rt["id"], {rt["fields"][0]["id"]})
    api.get(f"/workspaces/{ws}/types/{rt['id']}", expect=404)


def test_a_restarted_server_recovers_on_start(api, ws, runtime, access, settings, monkeypatch):
    rt, _ = make_type(api, ws, "T", field("Name", "text"))
    die_mid_change(monkeypatch)
    fail_once(monkeypatch, schema_changes, "finish")  # the DDL has committed
    with pytest.raises(Crash):
        record_types.add_field(runtime, access, rt["id"], field("Score", "number"))
    monkeypatch.undo()
    expire_lease(runtime, rt["id"])
    with TestClient(create_app(settings)) as restarted:
        assert restarted.get("/healthz").status_code == 200
    assert_agrees(runtime, rt["id"], known={f["id"] for f in field_rows(runtime, rt["id"])})


def _open(runtime: Any, access: Any, record_type_id: int) -> Any:
    return definitions.open_type(runtime, access.principal, access.workspace_id, record_type_id)[1]


def _all_types(runtime: Any, ws: int) -> list[Any]:
    RT = schema_changes.RT
    with runtime.control.connect() as conn:
        return list(conn.execute(select(RT).where(RT.c.workspace_id == ws)).mappings())


def _tables(runtime: Any) -> set[str]:
    with runtime.control.connect() as conn:
        return ddl.existing_tables(conn)
