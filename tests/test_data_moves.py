"""Moving a workspace's records to the customer's own MySQL and back: 10k records
across three types (a relation, a multiple choice field, dedupe keys) and a file, records
written while the move runs, a mover that loses its lease half way and another that finishes,
a copy the target keeps altering (the move fails, naming the table; the source stays in use),
and retiring the old copy.

The managed database is SQLite or MariaDB (the control database of the run); the customer's
database is a second database on the test MariaDB (tests/customer_mysql.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.customer_mysql import (
    DB,
    customer,
    customer_settings,
    customer_sql,
    fresh_customer_database,
    good,
)
from tests.helpers import Api, field, make_type, records_path
from tests.test_files import upload
from workspace import leases
from workspace import models as m
from workspace.databases import copies
from workspace.databases import mover as data_mover
from workspace.databases import moves as data_moves
from workspace.db import transaction
from workspace.errors import DataMoving
from workspace.principal import Access
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.settings import Settings

__all__ = ["customer", "fresh_customer_database"]

COMPANIES, PEOPLE, DEALS = 1000, 7000, 2000


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path, customer_db_read_timeout=10)


def moves(ws: int, rest: str = "") -> str:
    return f"/workspaces/{ws}/database/moves{rest}"


def wait_for(api: Api, ws: int, move_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        move = api.get(moves(ws, f"/{move_id}"), expect=200)
        if move["state"] not in data_mover.RUNNING:
            return dict(move)
        time.sleep(0.1)
    raise AssertionError(f"move still running after {timeout} s: {move}")


def bulk(api: Api, ws: int, rt: dict[str, Any], rows: list[dict[str, Any]]) -> list[Any]:
    made = []
    for start in range(0, len(rows), 1000):
        items = [{"fields": r} for r in rows[start : start + 1000]]
        result = api.post(f"{records_path(ws, rt)}/bulk", {"items": items}, expect=200)
        made += [item["record"]["id"] for item in result["results"]]
    return made


@pytest.fixture
def shop(api: Api, ws: int) -> dict[str, Any]:
    """Companies, people (email dedupe keys, tags, employer relation) and deals: 10k records,
    a few deleted, and a file on one person."""
    company, _ = make_type(api, ws, "Company", field("Name", "text"))
    companies = bulk(api, ws, company, [{"name": f"Société {i}"} for i in range(COMPANIES)])
    person, _ = make_type(
        api,
        ws,
        "Person",
        field("Name", "text"),
        field("Email", "email"),
        field("Tags", "multiple_choice", choices=["hot", "cold", "wärm"]),
        field("Employer", "relation", target=company["id"]),
    )
    api.post(
        f"/workspaces/{ws}/types/{person['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "block"},
        expect=201,
    )
    people = [
        {
            "name": f"Zoë {i}",
            "email": f"p{i}@example.org",
            "tags": ["hot", "wärm"] if i % 3 else ["cold"],
            "employer": [companies[i % COMPANIES]],
        }
        for i in range(PEOPLE)
    ]
    people_ids = bulk(api, ws, person, people)
    deal, _ = make_type(api, ws, "Deal", field("Title", "text"), field("Amount", "number"))
    bulk(api, ws, deal, [{"title": f"Deal {i}", "amount": i} for i in range(DEALS)])
    for record_id in people_ids[::1000]:
        api.delete(f"{records_path(ws, person)}/{record_id}", expect=204)
    record = f"{records_path(ws, person)}/{people_ids[1]}"
    (stored,) = upload(api, record + "/files", ("contract.txt", b"signed, sealed"))["items"]
    return {"types": [company, person, deal], "person": person, "file": stored, "record": record}


def snapshot(api: Api, ws: int, types: list[dict[str, Any]]) -> dict[int, list[Any]]:
    """Every record of every type as the API lists it, deleted ones included."""
    found: dict[int, list[Any]] = {}
    for rt in types:
        items, cursor = [], None
        while True:
            params = {"limit": 200, "deleted": "include", "sort": "id"}
            page = api.get(records_path(ws, rt), **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        found[rt["id"]] = items
    return found


def keep_writing(runtime: Runtime, acc: Access, rt_id: int, stop: threading.Event) -> list[int]:
    """Create records until told to stop, waiting out the freeze (503) as a client would."""
    made: list[int] = []

    def write() -> None:
        i = 0
        while not stop.is_set():
            with transaction(runtime.control) as conn:
                rt = definitions.build_def(conn, rt_id, runtime)
            try:
                made.append(records.create(runtime, acc, rt, {"title": f"During {i}"})["id"])
                i += 1
            except DataMoving:
                time.sleep(0.05)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    stop.thread = thread  # type: ignore[attr-defined]
    return made


def test_move_to_the_customer_mysql_and_back_keeps_every_record(
    api: Api, ws: int, runtime: Runtime, access: Access, shop: dict[str, Any]
):
    types = shop["types"]
    before = snapshot(api, ws, types)
    assert sum(len(v) for v in before.values()) == COMPANIES + PEOPLE + DEALS

    stop = threading.Event()
    written = keep_writing(runtime, access, types[2]["id"], stop)
    started = api.post(moves(ws), {"target": good()}, expect=202)
    assert started["state"] == "copying" and started["source"].startswith("The managed")
    assert DB in started["target"]
    there = wait_for(api, ws, started["id"])
    stop.set()
    stop.thread.join()  # type: ignore[attr-defined]
    assert there["state"] == "done", there
    assert there["percent"] == 100 and there["finished_at"]
    assert {t["record_type"] for t in there["tables"]} == {"Company", "Person", "Deal"}
    assert written, "the writer wrote nothing during the move"
    # The figures shown agree with what was verified, rows written meanwhile included.
    assert all(t["copied_rows"] == t["source_rows"] for t in there["tables"]), there["tables"]
    assert there["copied_rows"] == there["total_rows"]

    overview = api.get(f"/workspaces/{ws}/database", expect=200)
    assert overview["managed"] is False and DB in overview["location"]
    assert overview["old_copy"]["location"].startswith("The managed")
    person = definitions_of(runtime, shop["person"]["id"])
    assert person.table.name in overview["old_copy"]["tables"]
    after = snapshot(api, ws, types)
    deals = types[2]["id"]
    assert {k: v for k, v in after.items() if k != deals} == {
        k: v for k, v in before.items() if k != deals
    }
    assert [r["id"] for r in after[deals]] == [r["id"] for r in before[deals]] + written
    # The records are in the customer's database, readable by plain SQL there.
    assert customer_sql(f"SELECT COUNT(*) FROM {person.table.name}") == [(PEOPLE,)]
    views = {row[0] for row in customer_sql("SHOW FULL TABLES WHERE Table_type = 'VIEW'")}
    assert {"v_company", "v_person", "v_deal"} <= views
    listed = api.get(shop["record"] + "/files", expect=200)
    assert [f["name"] for f in listed["items"]] == ["contract.txt"]
    content = api.client.get(
        "/api/v1" + f"/workspaces/{ws}/files/{shop['file']['id']}/content",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert content.content == b"signed, sealed"
    # A new record goes to the customer's database; the old copy is left as it was.
    api.post(records_path(ws, types[2]), {"fields": {"title": "After"}}, expect=201)
    assert customer_sql(f"SELECT COUNT(*) FROM rt_{deals}") == [(DEALS + len(written) + 1,)]

    back = api.post(moves(ws), {"target": "managed"}, expect=202)
    assert wait_for(api, ws, back["id"])["state"] == "done"
    overview = api.get(f"/workspaces/{ws}/database", expect=200)
    assert overview["managed"] is True and DB in overview["old_copy"]["location"]
    final = snapshot(api, ws, types)
    assert final[types[1]["id"]] == before[types[1]["id"]]
    assert len(final[deals]) == DEALS + len(written) + 1

    retired = api.post(f"/workspaces/{ws}/database/old-copy/retire", expect=200)
    assert retired["old_copy"] is None
    assert customer_sql("SHOW TABLES") == []  # tables and views of the old copy
    api.post(f"/workspaces/{ws}/database/old-copy/retire", expect=404)
    activity = [
        e
        for e in api.get(f"/workspaces/{ws}/activity", expect=200)["items"]
        if e["action"] == "database"
    ]
    assert len(activity) >= 3


def definitions_of(runtime: Runtime, rt_id: int) -> Any:
    with transaction(runtime.control) as conn:
        return definitions.build_def(conn, rt_id, runtime)


def mover(settings: Settings) -> subprocess.Popen[bytes]:
    """``workspace data move --resume`` in a process of its own."""
    env = {
        **os.environ,
        "WORKSPACE_DATABASE_URL": settings.database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_SECRET_KEY": settings.resolved_secret_key(),
        "WORKSPACE_ALLOW_PRIVATE_HOSTS": "true",
    }
    command = [sys.executable, "-m", "workspace", "data", "move", "--resume"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def lease_runs_out(runtime: Runtime, move_id: int) -> None:
    """What the passing of LEASE seconds does to a dead mover's lease."""
    with transaction(runtime.control, write=True) as conn:
        mine = m.data_moves.c.id == move_id
        conn.execute(update(m.data_moves).where(mine).values(lease_until=None))


def test_a_mover_killed_half_way_is_resumed_and_finishes(
    api: Api, ws: int, runtime: Runtime, access: Access, settings: Settings, shop: dict[str, Any]
):
    claim = data_moves.begin(runtime, access, good())
    lease_runs_out(runtime, claim.id)  # not run here: the mover process claims it
    person = definitions_of(runtime, shop["person"]["id"])
    table = m.data_move_tables
    mine = table.c.table_name == person.table.name
    killed = mover(settings)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with transaction(runtime.control) as conn:
            copied = conn.execute(select(table.c.copied_rows).where(mine)).scalar()
        if copied:
            os.kill(killed.pid, signal.SIGKILL)
            break
        assert killed.poll() is None, killed.stdout.read() if killed.stdout else ""
        time.sleep(0.005)
    killed.communicate()
    with transaction(runtime.control) as conn:
        row = conn.execute(select(table).where(mine)).one()
    assert row.state == "copying" and 0 < row.copied_rows < PEOPLE, row
    overview = api.get(f"/workspaces/{ws}/database", expect=200)
    assert overview["managed"] is True and overview["move"]["state"] == "copying"
    api.post(moves(ws), {"target": "managed"}, expect=409)  # one move at a time

    lease_runs_out(runtime, claim.id)
    resumed = mover(settings)
    output, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, output.decode()
    assert f"move {claim.id} of workspace {ws}: done" in output.decode()
    overview = api.get(f"/workspaces/{ws}/database", expect=200)
    assert overview["managed"] is False and overview["move"]["state"] == "done"
    assert customer_sql(f"SELECT COUNT(*) FROM {person.table.name}") == [(PEOPLE,)]


def test_a_copy_the_target_alters_fails_naming_the_table_and_the_source_stays(
    api: Api, ws: int, runtime: Runtime, access: Access, shop: dict[str, Any]
):
    company = definitions_of(runtime, shop["types"][0]["id"])
    name = company.field_by_key("name").column
    claim = data_moves.begin(runtime, access, good())
    # Someone's trigger on the customer's database rewrites one row as it is copied.
    copies.prepare_target(data_mover.engine_of(runtime, _target_id(runtime, claim)), [company])
    customer_sql(
        f"CREATE TRIGGER tamper BEFORE INSERT ON {company.table.name} FOR EACH ROW "
        f"SET NEW.{name} = IF(NEW.id % 500 = 7, 'tampered', NEW.{name})"
    )
    try:
        assert data_mover.run(runtime, claim) == "failed"
        failed = api.get(moves(ws, f"/{claim.id}"), expect=200)
        assert failed["state"] == "failed"
        assert f"{company.table.name}: rows after" in failed["error"]
        assert "Nothing was switched" in failed["error"]
        told = [
            change["new"]
            for entry in api.get(f"/workspaces/{ws}/activity", expect=200)["items"]
            if entry["action"] == "database"
            for change in entry["changes"]
        ]
        assert any("failed, nothing switched: the copy differs" in t for t in told), told
        assert any(f"move {claim.id} started" in t for t in told), told
        overview = api.get(f"/workspaces/{ws}/database", expect=200)
        assert overview["managed"] is True and overview["old_copy"] is None
        # Not frozen: writes go on in the managed database.
        api.post(records_path(ws, shop["types"][0]), {"fields": {"name": "New"}}, expect=201)
        api.post(moves(ws), {"target": "managed"}, expect=409)
    finally:
        customer_sql("DROP TRIGGER IF EXISTS tamper")
    retried = api.post(moves(ws, f"/{claim.id}/retry"), expect=202)
    assert wait_for(api, ws, retried["id"])["state"] == "done"
    assert api.get(f"/workspaces/{ws}/database", expect=200)["managed"] is False


def _target_id(runtime: Runtime, claim: leases.Claim) -> int:
    with transaction(runtime.control) as conn:
        return int(
            conn.execute(
                select(m.data_moves.c.target_id).where(m.data_moves.c.id == claim.id)
            ).scalar_one()
        )


def test_cancel_drops_the_copy_and_only_admins_move(
    api: Api, ws: int, runtime: Runtime, access: Access, make_user: Any, as_user: Any
):
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), rows=[{"name": "Ann"}])
    member, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": member["email"], "role": "member"}, expect=201)
    as_user(token).post(moves(ws), {"target": good()}, expect=403)
    claim = data_moves.begin(runtime, access, good())
    assert data_mover.run(runtime, claim) == "done"
    api.post(moves(ws, f"/{claim.id}/cancel"), expect=409)
    back = data_moves.begin(runtime, access, "managed")
    cancelled = api.post(moves(ws, f"/{back.id}/cancel"), expect=200)
    assert cancelled["state"] == "cancelled"
    assert data_mover.run(runtime, back) == "lost"
    assert customer_sql(f"SELECT COUNT(*) FROM rt_{rt['id']}") == [(1,)]  # still the live copy
    api.post(records_path(ws, rt), {"fields": {"name": "Bo"}}, expect=201)
    assert customer_sql(f"SELECT COUNT(*) FROM rt_{rt['id']}") == [(2,)]
    api.post(moves(ws), {"target": {**good(), "port": "x"}}, expect=422)
    api.post(moves(ws), {"target": "elsewhere"}, expect=422)
