"""In the browser: an admin adopts a table that plain SQL made in their own MySQL, sees the
columns with suggested field types, adopts it, edits a record on its page, and sees an edit
made by plain SQL on the next load."""

from __future__ import annotations

import re
from typing import Any

from tests.browser import log_in, screenshot
from tests.customer_mysql import clear, customer_sql, good
from tests.test_adopt import CREATE, ROWS, TABLE
from tests.test_ui_database import db_server
from workspace.access import workspaces
from workspace.databases import connections
from workspace.principal import Principal

__all__ = ["db_server"]  # the live server allowed to reach the test MariaDB


def field(page: Any, key: str) -> Any:
    return page.get_by_test_id(f"field-{key}")


def test_admin_adopts_a_table_and_edits_it_in_the_ui_and_in_sql(page: Any, db_server, request):
    runtime = db_server.runtime
    me = db_server.user("Ada Adopter")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Adopting")["id"]
    connections.connect(runtime, workspaces.access(runtime, principal, ws), good())
    clear()  # what tests before left, the SQLite and the MySQL run alike
    customer_sql(CREATE)
    customer_sql(ROWS)

    log_in(page, db_server, me["email"])
    page.goto(f"{db_server.url}/w/{ws}/settings/database/adopt")
    assert "Delete and restore" in page.get_by_test_id("adopt-side").inner_text()
    page.get_by_role("link", name=TABLE).click()
    columns = page.get_by_test_id("adopt-columns")
    assert "no field type stores BLOB values" in columns.inner_text()
    name_type = page.get_by_label("Field type for the column Customer Name")
    assert name_type.input_value() == "text"
    page.get_by_label("Use the column Notes").uncheck()
    page.get_by_label("Field name for the column Customer Name").fill("Name")
    page.get_by_label("Record type name").fill("Clients")
    screenshot(page, request, "columns")
    page.get_by_role("button", name="Adopt table").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/t/\d+$"))
    assert page.get_by_text("Émile Zola").is_visible()
    type_id = int(page.url.rsplit("/", 1)[1])

    # Edit through the UI: the customer's row changes.
    (emile,) = customer_sql(f"SELECT Kundennr FROM `{TABLE}` WHERE `order` = 3")
    page.goto(f"{db_server.url}/w/{ws}/t/{type_id}/r/{emile[0]}")
    field(page, "order").locator(".editable").click()
    box = field(page, "order").get_by_role("textbox")
    box.fill("9")
    box.press("Enter")
    field(page, "order").locator(".editable").get_by_text("9").wait_for()
    assert customer_sql(f"SELECT `order` FROM `{TABLE}` WHERE Kundennr = {emile[0]}") == [(9,)]
    assert "3" in page.get_by_test_id("timeline").inner_text()  # old value in the activity

    # Edit through SQL: the next load shows it.
    customer_sql(f"UPDATE `{TABLE}` SET `Customer Name` = 'Émile Z.' WHERE Kundennr = {emile[0]}")
    page.reload()
    page.get_by_role("heading", name="Émile Z.").wait_for()
    screenshot(page, request, "record")
