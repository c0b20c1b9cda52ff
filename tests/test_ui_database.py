"""In the browser: an admin connects a workspace to its own MySQL. A wrong password is
reported next to the password with the failing step and nothing is stored; the right one
connects, the page says where the records live, and a record type made afterwards has its
table and readable view in the customer's database; from then on the page offers a move
instead of a switch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import LiveServer, log_in, screenshot, serving
from tests.customer_mysql import DB, PASSWORD, USER, customer_database, customer_sql
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.settings import Settings
from workspace.types import record_types


@pytest.fixture(scope="module")
def db_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server whose operator lets admins use hosts on loopback (the test MariaDB)."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("live-database"),
        migrate_on_start=False,
        allow_private_hosts=True,
        customer_db_timeout=3,
    )
    with customer_database(), serving(settings) as server:
        yield server


def test_admin_connects_the_workspace_to_its_own_mysql(page: Any, db_server, request):
    runtime = db_server.runtime
    me = db_server.user("Dana Database")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Own MySQL")["id"]

    log_in(page, db_server, me["email"])
    page.goto(f"{db_server.url}/w/{ws}")
    page.get_by_role("link", name="Data database").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/settings/database$"))
    assert page.get_by_test_id("db-location").inner_text() == "The managed database of this server"
    assert "CREATE VIEW, REFERENCES" in page.get_by_test_id("db-privileges").inner_text()

    page.get_by_label("Host").fill("127.0.0.1")
    page.get_by_label("Database", exact=True).fill(DB)
    page.get_by_label("User").fill(USER)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Test connection").click()
    assert page.get_by_test_id("db-error").inner_text().startswith("Login: ")
    assert "wrong password" in page.get_by_test_id("db-error-password").inner_text()
    assert page.get_by_label("Host").input_value() == "127.0.0.1"  # the form keeps its values
    assert page.get_by_label("Password").input_value() == ""
    screenshot(page, request, "wrong-password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_url(re.compile(r"\?done=connected$"))
    location = page.get_by_test_id("db-location").inner_text()
    assert location == f"MySQL database '{DB}' at 127.0.0.1:3306 as user '{USER}' (no TLS)"
    assert PASSWORD not in page.content()
    assert page.get_by_role("link", name="Adopt a table").get_attribute("href") == (
        f"/w/{ws}/settings/database/adopt"
    )
    screenshot(page, request, "connected")

    acc = workspaces.access(runtime, principal, ws)
    rt = record_types.create_type(
        runtime, acc, {"name": "Lead", "fields": [{"name": "Full name", "type": "text"}]}
    )
    assert customer_sql(f"SHOW TABLES LIKE 'rt_{rt['id']}'") == [(f"rt_{rt['id']}",)]
    assert "Full name" in [c[0] for c in customer_sql("SHOW COLUMNS FROM v_lead")]
    page.reload()  # with records, the database is no longer switched but moved
    assert page.get_by_role("heading", name="Move this workspace to another MySQL").is_visible()
    assert page.get_by_role("button", name="Start move").is_visible()
    assert page.get_by_role("button", name="Move back to the managed database").is_visible()
    assert page.get_by_role("button", name="Connect", exact=True).count() == 0
    screenshot(page, request, "with-records")
    record_types.delete_type(runtime, acc, rt["id"])
