"""The old copy a move leaves is read-only in its own database: a change by plain SQL, as
another system or a person would make it, is refused with a message naming where the live
records are; a move back onto that database makes it live and writable again; a database
user without TRIGGER gets a warning at the connection test and the move says the copy is
kept read-only by this server only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.customer_mysql import (
    DB,
    PASSWORD,
    USER,
    _sql,
    customer,
    customer_settings,
    fresh_customer_database,
    good,
)
from tests.helpers import Api, field, make_type, records_path
from tests.test_data_moves import moves, wait_for
from workspace.db import transaction
from workspace.runtime import Runtime
from workspace.settings import Settings

__all__ = ["customer", "fresh_customer_database"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path)


def as_customer_user(statement: str) -> int:
    """A statement on the customer's database by the customer's own user; rows changed."""
    conn = pymysql.connect(
        host="127.0.0.1",
        user=USER,
        password=PASSWORD.encode(),
        database=DB,
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        with conn.cursor() as cursor:
            return int(cursor.execute(statement))
    finally:
        conn.close()


def move(api: Api, ws: int, target: Any) -> dict[str, Any]:
    done = wait_for(api, ws, api.post(moves(ws), {"target": target}, expect=202)["id"])
    assert done["state"] == "done", done
    return done


def test_the_old_copy_refuses_changes_until_a_move_back_makes_it_live(
    api: Api, ws: int, runtime: Runtime
):
    rt, made = make_type(api, ws, "Lead", field("Name", "text"), rows=[{"name": "Ann"}])
    table = f"rt_{rt['id']}"
    move(api, ws, good())
    old = api.get(f"/workspaces/{ws}/database", expect=200)["old_copy"]
    assert old["enforced"] is True and old["not_enforced_because"] is None
    # The managed database now holds the old copy: it refuses a change by plain SQL.
    for statement in (
        f"UPDATE {table} SET version = version + 1",
        f"DELETE FROM {table}",
        f"INSERT INTO {table} (id, version, created_at, updated_at) "
        "VALUES (999, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    ):
        refusal = pytest.raises(DBAPIError, match="read-only old copy")
        with refusal as refused, transaction(runtime.control, write=True) as conn:
            conn.execute(text(statement))
        assert DB in str(refused.value)  # names where the live records are
    # The live copy in the customer's database takes changes; the API writes go there.
    assert as_customer_user(f"UPDATE {table} SET version = version + 1") == 1
    api.patch(f"{records_path(ws, rt)}/{made[0]['id']}", {"fields": {"name": "Bea"}})

    move(api, ws, "managed")
    with pytest.raises(pymysql.err.OperationalError, match="read-only old copy"):
        as_customer_user(f"UPDATE {table} SET version = version + 1")
    with pytest.raises(pymysql.err.OperationalError, match="read-only old copy"):
        as_customer_user(f"DELETE FROM {table}")
    # The managed copy is live again: plain SQL may change it.
    with transaction(runtime.control, write=True) as conn:
        assert conn.execute(text(f"UPDATE {table} SET version = version + 1")).rowcount == 1

    move(api, ws, good())  # back onto the old copy's database: fresh tables, live again
    assert as_customer_user(f"UPDATE {table} SET version = version + 1") == 1
    (record,) = api.get(records_path(ws, rt), expect=200)["items"]
    assert record["fields"]["name"] == "Bea"
    api.post(f"/workspaces/{ws}/database/old-copy/retire", expect=200)


def test_without_trigger_the_move_says_only_the_server_keeps_the_old_copy(api: Api, ws: int):
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), rows=[{"name": "Ann"}])
    _sql(f"REVOKE TRIGGER ON `{DB}`.* FROM '{USER}'@'127.0.0.1'")
    try:
        tested = api.post(f"/workspaces/{ws}/database/test", good(), expect=200)
        assert any("lacks TRIGGER" in w for w in tested["warnings"]), tested
        move(api, ws, good())
        move(api, ws, "managed")
        old = api.get(f"/workspaces/{ws}/database", expect=200)["old_copy"]
        assert old["enforced"] is False
        assert "not enforced by the database" in old["not_enforced_because"]
        # Nothing half done: no trigger is left on the old copy.
        assert as_customer_user(f"UPDATE rt_{rt['id']} SET version = version + 1") == 1
    finally:
        _sql(f"GRANT TRIGGER ON `{DB}`.* TO '{USER}'@'127.0.0.1'")
