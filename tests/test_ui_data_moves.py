"""In the browser: an admin moves a workspace with records onto their own MySQL and back
. The page shows the progress until the move is done, the records are still there
and now in the customer's database, the old copy is shown read-only with where it is and
since when, and retiring it drops its tables. A running move can be cancelled; a failed one
says why. While a move freezes writes, users are told it is maintenance."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import LiveServer, log_in, screenshot, serving
from tests.customer_mysql import DB, PASSWORD, USER, customer_database, customer_sql, good
from tests.test_web_data_moves import copy_one_batch
from workspace.access import workspaces
from workspace.databases import gate
from workspace.databases import moves as data_moves
from workspace.db import transaction
from workspace.principal import Principal
from workspace.records import records
from workspace.settings import Settings
from workspace.types import record_types

CUSTOMERS = 240
MANAGED = "The managed database of this server"
CUSTOMER = f"MySQL database '{DB}' at 127.0.0.1:3306 as user '{USER}' (no TLS)"


@pytest.fixture(scope="module")
def move_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server whose operator lets admins use hosts on loopback (the test MariaDB)."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("live-moves"),
        migrate_on_start=False,
        allow_private_hosts=True,
        customer_db_timeout=3,
    )
    with customer_database(), serving(settings) as server:
        yield server


def _workspace_with_customers(server: LiveServer) -> tuple[dict[str, Any], int, int]:
    runtime = server.runtime
    me = server.user("Mia Mover")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Northwind")["id"]
    acc = workspaces.access(runtime, principal, ws)
    fields = [
        {"name": "Name", "type": "text"},
        {"name": "Tier", "type": "multiple_choice", "config": {"choices": ["gold", "silver"]}},
    ]
    rt = record_types.create_type(runtime, acc, {"name": "Customer", "fields": fields})
    rows = [{"fields": {"name": f"Customer {i:03d}", "tier": ["gold"]}} for i in range(CUSTOMERS)]
    records.bulk(runtime, acc, record_types.get_type(runtime, acc, rt["id"]), rows)
    return me, ws, rt["id"]


def _see_the_customers(page: Any, server: LiveServer, ws: int, rt: int) -> None:
    """The table lists every customer, and a search finds one of them."""
    page.goto(f"{server.url}/w/{ws}/t/{rt}")
    assert page.get_by_text(f"{CUSTOMERS} records").is_visible()
    page.goto(f"{server.url}/w/{ws}/t/{rt}?q=Customer+123")
    assert page.get_by_text("Customer 123", exact=True).is_visible()


def _wait_until_done(page: Any) -> None:
    """The page polls the progress and loads again once the move has stopped: done (or
    failed, saying why)."""
    state = "[data-testid=db-move-state]"
    stopped = page.locator(f".notice{state}, .error-box{state}")
    stopped.wait_for(timeout=60_000)
    assert "Move finished" in stopped.inner_text(), stopped.inner_text()


def test_admin_moves_the_workspace_to_their_mysql_and_back(page: Any, move_server, request):
    me, ws, rt = _workspace_with_customers(move_server)
    log_in(page, move_server, me["email"])
    page.goto(f"{move_server.url}/w/{ws}")
    page.get_by_role("link", name="Data database").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/settings/database$"))
    assert page.get_by_test_id("db-location").inner_text() == MANAGED
    assert page.get_by_test_id("db-old-copy").count() == 0
    heading = page.get_by_role("heading", name="Move this workspace to your MySQL")
    assert heading.is_visible()

    page.get_by_label("Host").fill("127.0.0.1")
    page.get_by_label("Database", exact=True).fill(DB)
    page.get_by_label("User").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    assert "Test connection worked" in page.get_by_test_id("db-tested").inner_text()
    screenshot(page, request, "tested")

    page.get_by_label("Password").fill(PASSWORD)
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Start move").click()
    page.get_by_test_id("db-move").wait_for()
    assert "maintenance, retry in a moment" in asked[0] and "read-only" in asked[0]
    screenshot(page, request, "moving")
    _wait_until_done(page)
    assert page.get_by_test_id("db-location").inner_text() == CUSTOMER
    old = page.get_by_test_id("db-old-copy").inner_text()
    assert f"{MANAGED}, since " in old and "3 tables" in old  # the record, link and keys table
    assert "Its database refuses changes too" in old
    assert f"all {CUSTOMERS * 2}" in page.get_by_test_id("db-move-state").inner_text()
    assert customer_sql(f"SELECT COUNT(*) FROM rt_{rt}") == [(CUSTOMERS,)]
    screenshot(page, request, "moved")

    _see_the_customers(page, move_server, ws, rt)

    page.goto(f"{move_server.url}/w/{ws}/settings/database")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Move back to the managed database").click()
    _wait_until_done(page)
    assert page.get_by_test_id("db-location").inner_text() == MANAGED
    assert CUSTOMER in page.get_by_test_id("db-old-copy").inner_text()
    assert page.get_by_test_id("old-copy-enforced").is_visible()
    screenshot(page, request, "moved-back")

    asked.clear()
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Retire old copy").click()
    assert "Old copy retired" in page.get_by_test_id("db-notice").inner_text()
    assert asked[0].startswith(f"Retire the old copy ({CUSTOMER})? This drops its 3 tables")
    assert page.get_by_test_id("db-old-copy").count() == 0
    assert customer_sql(f"SHOW TABLES LIKE 'rt_{rt}'") == []
    screenshot(page, request, "retired")
    _see_the_customers(page, move_server, ws, rt)


def test_a_running_move_is_cancelled_and_a_failed_one_says_why(page: Any, move_server, request):
    me, ws, rt = _workspace_with_customers(move_server)
    runtime = move_server.runtime
    acc = workspaces.access(runtime, Principal(me["id"], me["email"]), ws)
    claim = data_moves.begin(runtime, acc, good())  # recorded; no mover runs it
    copy_one_batch(runtime, claim, [record_types.get_type(runtime, acc, rt)], 100)
    log_in(page, move_server, me["email"])
    page.goto(f"{move_server.url}/w/{ws}/settings/database")
    assert "Copying the records…" in page.get_by_test_id("db-move-state").inner_text()
    assert page.get_by_test_id("db-move-percent").inner_text() == "20%"  # 100 of 240 + 240
    tables = page.get_by_test_id("db-move-tables")
    assert "Customer" in tables.inner_text() and "100 / 240" in tables.inner_text()
    assert "A move is under way" in page.get_by_test_id("db-busy").inner_text()
    assert page.get_by_role("button", name="Start move").count() == 0
    screenshot(page, request, "running")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the move").click()
    assert "Move cancelled" in page.get_by_test_id("db-notice").inner_text()
    assert page.get_by_test_id("db-location").inner_text() == MANAGED

    customer_sql(f"CREATE TABLE rt_{rt} (x INT)")  # someone else's table in the way
    page.get_by_label("Host").fill("127.0.0.1")
    page.get_by_label("Database", exact=True).fill(DB)
    page.get_by_label("User").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Start move").click()
    error = page.get_by_test_id("db-move-error")
    error.wait_for(timeout=60_000)  # the page polls, then loads again once the move stopped
    assert "already has tables that differ from record type 'Customer'" in error.inner_text()
    assert page.get_by_test_id("db-location").inner_text() == MANAGED
    screenshot(page, request, "failed")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the move").click()
    assert "Move cancelled" in page.get_by_test_id("db-notice").inner_text()
    customer_sql(f"DROP TABLE rt_{rt}")


def test_a_user_who_saves_during_the_switch_is_told_to_retry(page: Any, move_server, request):
    me, ws, rt = _workspace_with_customers(move_server)
    runtime = move_server.runtime
    log_in(page, move_server, me["email"])
    page.goto(f"{move_server.url}/w/{ws}/t/{rt}")
    with transaction(runtime.control, write=True) as conn:
        gate.freeze(conn, ws)  # as a move does while it switches
    try:
        add = page.locator("#add-row")
        add.get_by_label("New record: Name").fill("Customer during the move")
        add.get_by_label("New record: Name").press("Enter")
        flash = page.locator("#flash")
        flash.get_by_text("Maintenance, back in a moment").wait_for()
        assert "This workspace is being moved to another database; retry in a moment" in (
            flash.inner_text()
        )
        assert add.get_by_label("New record: Name").input_value() == "Customer during the move"
        screenshot(page, request, "maintenance")
    finally:
        with transaction(runtime.control, write=True) as conn:
            gate.unfreeze(conn, ws)
    add.get_by_label("New record: Name").press("Enter")  # a moment later, it is saved
    page.get_by_text("Customer during the move", exact=True).wait_for()
