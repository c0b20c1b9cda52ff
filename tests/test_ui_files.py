"""In the browser: upload files on a record (file input and drag and drop), see them listed
(and in the timeline), download one and get the same bytes, delete and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser import LiveServer, log_in, screenshot
from tests.test_files import PNG
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


def customer(server: LiveServer) -> tuple[dict[str, Any], str]:
    """A user and the page of a Customer record in their workspace."""
    me = server.user("Fiona Files")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(server.runtime, principal, "Files Inc")["id"]
    acc = workspaces.access(server.runtime, principal, ws)
    spec = {"name": "Customer", "fields": [{"name": "Name", "type": "text"}]}
    type_id = record_types.create_type(server.runtime, acc, spec)["id"]
    rt = open_type(server.runtime, principal, ws, type_id)[1]
    record = records.create(server.runtime, acc, rt, {"name": "Ada Lovelace"})
    return me, f"{server.url}/w/{ws}/t/{type_id}/r/{record['id']}"


def test_upload_see_and_download_a_file(page, live_server, request, tmp_path):
    me, url = customer(live_server)
    log_in(page, live_server, me["email"])
    page.goto(url)
    contract = tmp_path / "Vertrag März.txt"
    contract.write_bytes("Signed by Ada — €1,000\n".encode())
    picture = tmp_path / "logo.png"
    picture.write_bytes(PNG)
    page.get_by_test_id("file-input").set_input_files([str(contract), str(picture)])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(url + "#files")

    listed = page.get_by_test_id("file")
    assert listed.count() == 2
    assert "Vertrag März.txt" in listed.nth(0).inner_text()
    assert listed.nth(1).locator("img").get_attribute("alt") == "logo.png"
    assert listed.nth(1).locator("img").evaluate("img => img.naturalWidth") == 1
    # The timeline links the upload to the same download page.
    in_timeline = page.locator("#activity").get_by_role("link", name="Vertrag März.txt")
    assert in_timeline.get_attribute("href") == listed.nth(0).get_by_role("link").get_attribute(
        "href"
    )
    screenshot(page, request, "files")

    with page.expect_download() as info:
        listed.nth(0).get_by_role("link", name="Vertrag März.txt").click()
    download = info.value
    assert download.suggested_filename == "Vertrag März.txt"
    assert Path(download.path()).read_bytes() == contract.read_bytes()


def test_drop_files_on_the_form_then_delete_and_restore(page, live_server, request):
    me, url = customer(live_server)
    log_in(page, live_server, me["email"])
    page.goto(url)
    drop = page.locator("form[data-file-drop]")
    transfer = page.evaluate_handle(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["dropped text"], "dropped.txt", {type: "text/plain"}));
            return dt;
        }"""
    )
    drop.dispatch_event("dragenter", {"dataTransfer": transfer})
    assert "dragging" in (drop.get_attribute("class") or "")
    drop.dispatch_event("drop", {"dataTransfer": transfer})
    page.wait_for_url(url + "#files")
    assert "dropped.txt" in page.get_by_test_id("file").inner_text()

    page.get_by_role("button", name="Delete dropped.txt").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("file").count() == 0
    page.get_by_text("Recently deleted (1)").click()
    screenshot(page, request, "deleted")
    page.get_by_role("button", name="Restore dropped.txt").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("file").count() == 1


def test_add_a_file_field_in_the_designer_and_upload_into_it(page, live_server, request, tmp_path):
    """A File field added in the designer shows on the record page with its own upload box;
    what is uploaded there shows in the field (not among the attachments), in the timeline
    and in the table, and downloads as uploaded."""
    me, url = customer(live_server)
    design = url.rsplit("/r/", 1)[0] + "/design"
    log_in(page, live_server, me["email"])
    page.goto(design)
    add = page.get_by_test_id("add-field")
    add.get_by_label("Field name").fill("Signed contract")
    add.get_by_label("Type").select_option("file")
    add.locator(".type-hint").get_by_text("cannot be required").wait_for()
    assert add.get_by_label("Required").count() == 0
    add.get_by_role("button", name="Add field").click()
    page.get_by_test_id("preview-signed_contract").wait_for()
    screenshot(page, request, "designer-file-field")
    page.goto(design.replace("/design", "/new"))
    assert (
        page.get_by_test_id("form-field-signed_contract")
        .get_by_text("Add files after saving")
        .is_visible()
    )
    screenshot(page, request, "new-record-file-field")

    page.goto(url)
    row = page.get_by_test_id("field-signed_contract")
    scan = tmp_path / "contract scan.png"
    scan.write_bytes(PNG)
    terms = tmp_path / "terms.txt"
    terms.write_bytes(b"Terms and conditions\n")
    row.get_by_label("Files for Signed contract").set_input_files([str(scan), str(terms)])
    row.get_by_role("button", name="Upload").click()
    page.wait_for_url(url + "#field-signed_contract")

    row = page.get_by_test_id("field-signed_contract")
    in_field = row.get_by_test_id("file")
    assert in_field.count() == 2
    assert in_field.nth(0).locator("img").get_attribute("alt") == "contract scan.png"
    assert "terms.txt" in in_field.nth(1).inner_text()
    assert page.locator("#files").get_by_test_id("file").count() == 0  # not an attachment
    in_timeline = page.locator("#activity").get_by_role("link", name="terms.txt")
    href = in_field.nth(1).get_by_role("link", name="terms.txt").get_attribute("href")
    assert in_timeline.get_attribute("href") == href
    event = page.locator("#activity").get_by_test_id("event").filter(has_text="terms.txt")
    assert "in Signed contract" in event.inner_text()
    screenshot(page, request, "file-field")

    with page.expect_download() as info:
        in_field.nth(1).get_by_role("link", name="terms.txt").click()
    assert Path(info.value.path()).read_bytes() == terms.read_bytes()

    page.goto(url.rsplit("/r/", 1)[0])
    cell = page.locator("td.cell.t-file").first
    assert "contract scan.png, terms.txt" in cell.inner_text()
    screenshot(page, request, "file-field-table")
    cell.get_by_role("link").click()
    page.wait_for_url(url + "#field-signed_contract")
