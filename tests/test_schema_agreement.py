"""Several processes and in-flight writes around a schema change.

Each process caches table objects per (record type, schema version); after a change made
through one process, the others serve the new definition on their next request, and a write
holding an old definition is redone with the new one. Writes to a type whose data is being
rewritten get 503 with Retry-After.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import field, make_type, records_path
from tests.schema_checks import assert_agrees
from workspace.boot import build_runtime
from workspace.errors import Conflict, Unavailable
from workspace.records import records
from workspace.schema import definitions
from workspace.types import conversion, record_types, schema_changes


def _values(api, ws, rt, key):
    return [r["fields"][key] for r in api.get(records_path(ws, rt), expect=200)["items"]]


def _fields_path(ws: int, rt: dict[str, Any]) -> str:
    return f"/workspaces/{ws}/types/{rt['id']}/fields"


def test_writes_during_a_conversion_get_503(api, ws, runtime, access, monkeypatch):
    rt, rows = make_type(api, ws, "T", field("Qty", "text"), rows=[{"qty": "1"}])
    fid = rt["fields"][0]["id"]
    seen: list[Exception] = []
    real = conversion._backfill

    def backfill_with_a_write(*args: Any, **kwargs: Any) -> Any:
        stale = definitions.open_type(runtime, access.principal, ws, rt["id"])[1]
        for attempt in (
            lambda: records.create(runtime, access, stale, {"qty": "2"}),
            lambda: records.update_record(runtime, access, stale, rows[0]["id"], {"qty": "9"}),
        ):
            with pytest.raises(Unavailable) as caught:
                attempt()
            seen.append(caught.value)
        return real(*args, **kwargs)

    monkeypatch.setattr(conversion, "_backfill", backfill_with_a_write)
    record_types.change_field(runtime, access, rt["id"], fid, {"type": "number"})
    assert [e.retry_after for e in seen] == [2, 2]
    assert _values(api, ws, rt, "qty") == [1]
    api.post(records_path(ws, rt), {"fields": {"qty": 2}}, expect=201)


def test_paused_type_answers_503_with_retry_after(api, ws, runtime):
    rt, rows = make_type(api, ws, "T", field("Name", "text"), rows=[{"name": "Ada"}])
    schema_changes.begin(runtime, rt["id"], {"op": "indexes"}, pause=True)
    path = records_path(ws, rt)
    api.post(path, {"fields": {"name": "Bob"}}, expect=503)
    assert api.last.headers["Retry-After"] == "2"
    api.patch(f"{path}/{rows[0]['id']}", {"fields": {"name": "Eve"}}, expect=503)
    api.post(f"{path}/bulk", {"items": [{"fields": {"name": "Cy"}}]}, expect=503)
    api.get(f"{path}/{rows[0]['id']}", expect=200)
    with pytest.raises(Conflict):
        schema_changes.begin(runtime, rt["id"], {"op": "indexes"}, pause=False)
    schema_changes.complete(runtime, rt["id"])
    api.post(path, {"fields": {"name": "Bob"}}, expect=201)
    assert_agrees(runtime, rt["id"])


def test_two_processes_agree_after_field_changes(api, ws, runtime, access, settings):
    rt, rows = make_type(api, ws, "T", field("Name", "text"), rows=[{"name": "Ada"}])
    other = build_runtime(settings)  # a second server process, with its own cache
    try:
        stale = _open(other, access, rt["id"])
        api.post(_fields_path(ws, rt), field("Score", "number"), expect=201)
        assert [f.key for f in _open(other, access, rt["id"]).fields] == ["name", "score"]
        # a write holding the old definition is redone with the new one
        made = records.create(other, access, stale, {"name": "Bob", "score": 2})
        assert made["fields"] == {"name": "Bob", "score": 2}

        stale = _open(other, access, rt["id"])
        api.patch(f"{_fields_path(ws, rt)}/{rt['fields'][0]['id']}", {"type": "long_text"})
        assert api.last.status_code == 200, api.last.text
        got = records.get(other, access, stale, rows[0]["id"])  # old column is gone
        assert got["fields"] == {"name": "Ada", "score": None}
        assert _open(other, access, rt["id"]).fields[0].type.name == "long_text"

        score_id = next(
            f["id"]
            for f in api.get(f"/workspaces/{ws}/types/{rt['id']}")["fields"]
            if f["key"] == "score"
        )
        stale = _open(other, access, rt["id"])
        api.delete(f"{_fields_path(ws, rt)}/{score_id}", expect=204)
        listed = records.list_records(other, access, stale)["items"]
        assert [r["fields"] for r in listed] == [{"name": "Ada"}, {"name": "Bob"}]
        updated = records.update_record(other, access, stale, rows[0]["id"], {"name": "Ada L."})
        assert updated["fields"] == {"name": "Ada L."}
    finally:
        other.close()


def _open(runtime: Any, access: Any, record_type_id: int) -> Any:
    return definitions.open_type(runtime, access.principal, access.workspace_id, record_type_id)[1]
