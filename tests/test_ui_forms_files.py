"""In the browser: a form with a file field built in the builder; a stranger forgets the
required file, is told, attaches it and sends; the record page shows the file in its field
and the timeline says it came from the form."""

from __future__ import annotations

import re

from tests.browser import log_in, screenshot
from tests.test_files import PNG
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.types import record_types


def test_send_a_file_with_a_public_form_and_find_it_on_the_record(
    page, live_server, request, tmp_path
):
    me = live_server.user("Fiona Files")
    runtime = live_server.runtime
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Claims")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {
        "name": "Claim",
        "fields": [
            {"name": "Name", "type": "text"},
            {"name": "Email", "type": "email"},
            {"name": "Receipt", "type": "file"},
        ],
    }
    type_id = record_types.create_type(runtime, acc, spec)["id"]

    log_in(page, live_server, me["email"])
    page.goto(f"{live_server.url}/w/{ws}/forms")
    page.get_by_label("Fills in").select_option(label="Claim")
    page.get_by_role("button", name="Create form").click()
    page.wait_for_url(re.compile(r"/forms/\d+\?created=1$"))
    row = page.get_by_test_id("row-receipt")
    assert row.get_by_label("Show Receipt on the form").is_checked()
    assert row.get_by_label("Hidden").count() == 0  # files come only from the sender
    row.get_by_label("Receipt is required").check()
    row.get_by_label("Most files for Receipt").select_option("2")
    row.get_by_label("Kinds of files for Receipt").select_option("images")
    screenshot(page, request, "builder")
    page.get_by_role("button", name="Save form").click()
    page.wait_for_url(re.compile(r"\?saved=1$"))
    public = page.locator("#public-link").input_value()

    visitor = page.context.browser.new_context(viewport={"width": 800, "height": 900})
    tab = visitor.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(public)
    tab.get_by_label("Name").fill("Bo Claimant")
    tab.get_by_label("Email").fill("bo@example.org")
    tab.get_by_role("button", name="Send").click()
    assert tab.get_by_text("Please check the fields marked below.").is_visible()
    assert tab.get_by_test_id("field-receipt").get_by_text("Please choose a file.").is_visible()
    assert tab.get_by_label("Name").input_value() == "Bo Claimant"
    screenshot(tab, request, "public-error")

    receipt = tmp_path / "receipt.png"
    receipt.write_bytes(PNG)
    tab.get_by_label("Receipt").set_input_files([str(receipt)])
    tab.get_by_role("button", name="Send").click()
    assert tab.get_by_text("Thank you! We have received your details.").is_visible()
    screenshot(tab, request, "public-done")
    visitor.close()
    assert not errors, errors

    rt = record_types.get_type(runtime, acc, type_id)
    [claim] = records.list_records(runtime, acc, rt)["items"]
    assert [f["name"] for f in claim["fields"]["receipt"]] == ["receipt.png"]
    page.goto(f"{live_server.url}/w/{ws}/t/{type_id}/r/{claim['id']}")
    in_field = page.get_by_test_id("field-receipt").get_by_test_id("file")
    assert in_field.count() == 1
    assert in_field.locator("img").get_attribute("alt") == "receipt.png"
    timeline = page.locator("#activity")
    assert timeline.get_by_role("link", name="receipt.png").is_visible()
    assert timeline.get_by_text("from a public form").first.is_visible()
    screenshot(page, request, "record")
