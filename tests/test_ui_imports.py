"""In the browser: import a CSV into a record type from its table, where one row matches a
customer on file by email (filled in, not duplicated) and one row is rejected with its
reason."""

from __future__ import annotations

import re
from pathlib import Path

from tests.browser import log_in, screenshot
from workspace.access import workspaces
from workspace.dedupe import rules
from workspace.principal import Principal
from workspace.records import records
from workspace.types import record_types

CSV = (
    "Full name;E-mail;City\n"
    "Ada Lovelace;ADA@example.org;London\n"
    "Grace Hopper;grace@;Arlington\n"
    "Alan Turing;alan@example.org;Wilmslow\n"
)


def test_import_a_csv_from_the_table(page, live_server, request, tmp_path: Path):
    me = live_server.user("Ivy Importer")
    principal = Principal(me["id"], me["email"])
    runtime = live_server.runtime
    ws = workspaces.create(runtime, principal, "Imports")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {
        "name": "Customer",
        "fields": [
            {"name": "Full name", "type": "text"},
            {"name": "Email", "type": "email"},
            {"name": "Town", "type": "text"},
        ],
    }
    made = record_types.create_type(runtime, acc, spec)
    rule = {"rule": "email", "fields": ["email"], "on_create": "block", "on_update": "block"}
    rules.add_rule(runtime, acc, made["id"], rule)
    rt = record_types.get_type(runtime, acc, made["id"])
    on_file = records.create(runtime, acc, rt, {"full_name": "Ada", "email": "ada@example.org"})
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(CSV)

    log_in(page, live_server, me["email"])
    page.goto(f"{live_server.url}/w/{ws}/t/{made['id']}")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    assert page.get_by_label("Field for the column E-mail").input_value() == "email"
    page.get_by_label("Field for the column City").select_option(label="Town")
    page.get_by_label("Fill only the empty fields of the record on file").check()
    screenshot(page, request, "mapping")
    page.get_by_role("button", name="Import 3 rows").click()

    summary = page.get_by_test_id("import-summary")
    assert "Created 1" in summary.inner_text()
    assert "Updated a record on file 1" in summary.inner_text()
    assert "Rejected 1" in summary.inner_text()
    assert page.get_by_test_id("row-2").get_by_text("Email").is_visible()
    screenshot(page, request, "result")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows").click()
    assert "grace@" in Path(download.value.path()).read_text()

    ada = records.get(runtime, acc, rt, on_file["id"])
    assert ada["fields"]["full_name"] == "Ada" and ada["fields"]["town"] == "London"
    assert len(records.list_records(runtime, acc, rt)["items"]) == 2
