"""The gate on record writes and the schema freeze of a move: frozen writes get a
503 with Retry-After and change nothing, schema changes get a 409 naming the move until it
ends, and a process whose cached route is stale writes where the records are now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.customer_mysql import (
    customer,
    customer_settings,
    customer_sql,
    fresh_customer_database,
    good,
)
from tests.helpers import Api, field, make_type, records_path
from workspace import models as m
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.databases import gate as data_gate
from workspace.databases import moves as data_moves
from workspace.databases import verify as data_verify
from workspace.db import transaction
from workspace.principal import Access
from workspace.records import records
from workspace.schema import definitions
from workspace.settings import Settings
from workspace.types import record_types

__all__ = ["customer", "fresh_customer_database"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path)


def _activity_count(runtime: Any, ws: int) -> int:
    query = select(func.count()).select_from(m.activity).where(m.activity.c.workspace_id == ws)
    with transaction(runtime.control) as conn:
        return int(conn.execute(query).scalar_one())


def test_writes_while_frozen_get_503_with_retry_after_and_change_nothing(
    api: Api, ws: int, runtime: Any
):
    rt, made = make_type(api, ws, "Lead", field("Name", "text"), rows=[{"name": "Ann"}])
    path = records_path(ws, rt)
    seen = _activity_count(runtime, ws)
    with transaction(runtime.control, write=True) as conn:
        data_gate.freeze(conn, ws)
    response = api.client.post(
        "/api/v1" + path,
        json={"fields": {"name": "Bo"}},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"  # no estimate: the shortest wait
    error = response.json()["error"]
    assert error["code"] == "data_moving"
    assert error["message"] == (
        "This workspace is being moved to another database; retry in a moment"
    )
    api.patch(f"{path}/{made[0]['id']}", {"fields": {"name": "Changed"}}, expect=503)
    api.delete(f"{path}/{made[0]['id']}", expect=503)
    bulk = {"items": [{"fields": {"name": "C"}}, {"fields": {"name": "D"}}]}
    api.post(path + "/bulk", bulk, expect=503)
    # Reads go on; nothing was written, not even half.
    page = api.get(path, expect=200, total="true")
    assert [r["fields"]["name"] for r in page["items"]] == ["Ann"]
    assert _activity_count(runtime, ws) == seen
    with transaction(runtime.control, write=True) as conn:
        data_gate.unfreeze(conn, ws)
    api.post(path, {"fields": {"name": "Bo"}}, expect=201)


def test_retry_after_counts_down_to_the_end_the_mover_expects(api: Api, ws: int, runtime: Any):
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"))
    path = "/api/v1" + records_path(ws, rt)
    auth = {"Authorization": f"Bearer {api.token}"}

    def retry_after() -> int:
        response = api.client.post(path, json={"fields": {"name": "Bo"}}, headers=auth)
        assert response.status_code == 503
        return int(response.headers["Retry-After"])

    with transaction(runtime.control, write=True) as conn:
        data_gate.freeze(conn, ws, dt.timedelta(seconds=7))
    assert retry_after() in (6, 7)
    with transaction(runtime.control, write=True) as conn:
        data_gate.freeze(conn, ws, dt.timedelta(seconds=0.2))
    assert retry_after() == 1  # the header's unit: never 0
    with transaction(runtime.control, write=True) as conn:
        data_gate.freeze(conn, ws, dt.timedelta(seconds=-30))
    assert retry_after() == 1  # outlasting the estimate asks for the shortest wait again
    with transaction(runtime.control, write=True) as conn:
        data_gate.unfreeze(conn, ws)
    api.post(records_path(ws, rt), {"fields": {"name": "Bo"}}, expect=201)


def test_the_expected_freeze_is_the_walks_time_for_the_records_written_since(
    api: Api, ws: int, runtime: Any, access: Access
):
    rows = [{"name": f"R{i}"} for i in range(40)]
    rt, made = make_type(api, ws, "Lead", field("Name", "text"), rows=rows)
    since = utcnow()
    for row in made[:10]:  # a quarter of the records written after the walk began
        api.patch(f"{records_path(ws, rt)}/{row['id']}", {"fields": {"name": "Changed"}})
    with transaction(runtime.control) as conn:
        definition = definitions.build_def(conn, rt["id"], runtime)
    walk = dt.timedelta(seconds=8)
    expected = data_verify.expected_freeze(runtime.control, [definition], since, walk)
    assert expected == walk / 4 + data_verify.SETTLE_FIXED
    nothing_since = data_verify.expected_freeze(runtime.control, [definition], utcnow(), walk)
    assert nothing_since == data_verify.SETTLE_FIXED


def test_schema_changes_are_refused_while_a_move_is_unfinished(
    api: Api, ws: int, runtime: Any, access: Access
):
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Email", "email"))
    claim = data_moves.begin(runtime, access, good())
    types = f"/workspaces/{ws}/types"
    refused = [
        api.post(types, {"name": "Other", "fields": []}, expect=409),
        api.patch(f"{types}/{rt['id']}", {"name": "Prospect"}, expect=409),
        api.post(f"{types}/{rt['id']}/fields", field("Phone", "phone"), expect=409),
        api.delete(f"{types}/{rt['id']}", expect=409),
        api.post(
            f"{types}/{rt['id']}/dedupe-rules",
            {"rule": "email", "fields": ["email"], "on_create": "block"},
            expect=409,
        ),
    ]
    for body in refused:
        assert f"move {claim.id}" in body["error"]["message"]
    # Record writes go on while the copy runs (not frozen yet).
    api.post(records_path(ws, rt), {"fields": {"name": "Ann"}}, expect=201)
    api.post(f"/workspaces/{ws}/database/moves", {"target": good()}, expect=409)
    api.post(f"/workspaces/{ws}/database/moves/{claim.id}/cancel", expect=200)
    api.patch(f"{types}/{rt['id']}", {"name": "Prospect"}, expect=200)
    api.post(f"{types}/{rt['id']}/fields", field("Phone", "phone"), expect=201)


def test_a_process_with_a_stale_route_writes_where_the_records_are_now(
    api: Api, ws: int, runtime: Any, access: Access, settings: Settings
):
    other = build_runtime(settings)  # another server process, with its own route cache
    try:
        assert other.data_engine(ws) is other.control  # cached: the managed database
        api.put(f"/workspaces/{ws}/database", good(), expect=200)  # switched by this process
        rt, _ = make_type(api, ws, "Lead", field("Name", "text"))
        # Within the route cache's seconds, the other process changes the type's table and
        # writes a record: both land in the customer's database.
        record_types.add_field(other, access, rt["id"], field("Phone", "phone"))
        lead = record_types.get_type(other, access, rt["id"])
        records.create(other, access, lead, {"name": "Ann", "phone": "+14155550100"})
        phone = lead.field_by_key("phone").column
        assert customer_sql(f"SELECT COUNT(*) FROM rt_{rt['id']} WHERE {phone} IS NOT NULL") == [
            (1,)
        ]
    finally:
        other.close()


def test_a_workspace_with_an_adopted_table_is_not_moved(api: Api, ws: int):
    customer_sql("DROP TABLE IF EXISTS `Their list`")
    customer_sql("CREATE TABLE `Their list` (`No` INT PRIMARY KEY, `Name` VARCHAR(40))")
    try:
        api.put(f"/workspaces/{ws}/database", good(), expect=200)
        api.post(f"/workspaces/{ws}/types/adopt", {"table": "Their list"}, expect=201)
        refused = api.post(f"/workspaces/{ws}/database/moves", {"target": "managed"}, expect=409)
        assert "'Their list' is a table adopted" in refused["error"]["message"]
        assert api.get(f"/workspaces/{ws}/database", expect=200)["move"] is None
    finally:
        customer_sql("DROP TABLE IF EXISTS `Their list`")
