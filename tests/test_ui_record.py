"""In the browser: the new record form, editing a record in place, its activity timeline,
related records both ways, and deleting and restoring it.

Test data comes from the services (as an API client would make it), never from other
screens.
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser import LiveServer, log_in, screenshot
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


class Shop:
    """A workspace with Companies and Customers (Customer.Company links to Company)."""

    def __init__(self, server: LiveServer, name: str = "Olivia Ops") -> None:
        self.runtime = server.runtime
        self.server = server
        self.me = server.user(name)
        self.principal = Principal(self.me["id"], self.me["email"])  # acts "through the API"
        self.ws = workspaces.create(self.runtime, self.principal, "Acme sales")["id"]
        self.acc = workspaces.access(self.runtime, self.principal, self.ws)
        self.company = self._type({"name": "Company", "fields": [{"name": "Name", "type": "text"}]})
        self.customer = self._type(
            {
                "name": "Customer",
                "fields": [
                    {"name": "Name", "type": "text", "config": {"required": True}},
                    {"name": "Email", "type": "email", "config": {"unique": True}},
                    {
                        "name": "Status",
                        "type": "single_choice",
                        "config": {"choices": ["New", "Active", "Won"]},
                    },
                    {"name": "Notes", "type": "long_text"},
                    {"name": "Budget", "type": "money", "config": {"currency": "EUR"}},
                    {"name": "VIP", "type": "checkbox"},
                    {
                        "name": "Company",
                        "type": "relation",
                        "config": {"target": self.company},
                    },
                ],
            }
        )

    def _type(self, spec: dict[str, Any]) -> int:
        return int(record_types.create_type(self.runtime, self.acc, spec)["id"])

    def add(self, type_id: int, **fields: Any) -> dict[str, Any]:
        _, rt = open_type(self.runtime, self.principal, self.ws, type_id)
        return records.create(self.runtime, self.acc, rt, fields)

    def update(self, type_id: int, record_id: int, **fields: Any) -> dict[str, Any]:
        _, rt = open_type(self.runtime, self.principal, self.ws, type_id)
        return records.update_record(self.runtime, self.acc, rt, record_id, fields)

    def get(self, type_id: int, record_id: int) -> dict[str, Any]:
        _, rt = open_type(self.runtime, self.principal, self.ws, type_id)
        return records.get(self.runtime, self.acc, rt, record_id)

    def url(self, type_id: int, record_id: int | None = None) -> str:
        base = f"{self.server.url}/w/{self.ws}/t/{type_id}"
        return base + (f"/r/{record_id}" if record_id else "")


def field(page: Any, key: str) -> Any:
    return page.get_by_test_id(f"field-{key}")


def test_new_record_form_shows_errors_next_to_fields_then_saves(page, live_server, request):
    shop = Shop(live_server)
    acme = shop.add(shop.company, name="Acme Ltd")
    shop.add(shop.company, name="Globex")
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url(shop.customer) + "/new")
    assert page.get_by_role("heading", level=1).inner_text() == "New Customer record"
    assert page.get_by_label("Name").evaluate("el => el === document.activeElement")
    screenshot(page, request, "new-form")

    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada at example")
    page.get_by_label("Email").press("Enter")
    error = page.get_by_test_id("form-field-email").locator(".field-error")
    assert "not a valid email" in error.inner_text()
    assert page.get_by_label("Name").input_value() == "Ada Lovelace"
    assert page.get_by_label("Email").input_value() == "ada at example"
    assert page.get_by_label("Email").evaluate("el => el === document.activeElement")
    screenshot(page, request, "new-form-error")

    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Search Company").fill("acm")
    picker = page.get_by_test_id("form-field-company")
    picker.get_by_label("Globex").wait_for(state="detached")
    picker.get_by_label("Acme Ltd").check()
    page.get_by_label("Status").select_option("Active")
    page.get_by_label("Status").press("Enter")  # Enter on a select saves too
    page.wait_for_url(re.compile(r"/r/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Ada Lovelace"
    assert field(page, "company").get_by_role("link", name="Acme Ltd").is_visible()
    assert field(page, "status").locator(".value").inner_text() == "Active"
    record_id = int(page.url.rsplit("/", 1)[1])
    saved = shop.get(shop.customer, record_id)
    assert saved["fields"]["company"] == [acme["id"]]
    assert saved["fields"]["email"] == "ada@example.com"

    page.goto(shop.url(shop.customer) + "/new")
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_role("button", name="Save and add another").click()
    notice = page.get_by_test_id("added-notice")
    assert "Saved Grace Hopper" in notice.inner_text()
    assert page.get_by_label("Name").input_value() == ""
    page.get_by_label("Name").press("Escape")
    page.wait_for_url(re.compile(rf"/w/{shop.ws}/t/{shop.customer}$"))


def test_edit_in_place_with_enter_and_cancel_with_escape(page, live_server, request):
    shop = Shop(live_server)
    ada = shop.add(shop.customer, name="Ada", email="ada@example.com", status="New")
    shop.add(shop.customer, name="Bob", email="bob@example.com")
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url(shop.customer, ada["id"]))

    field(page, "name").locator(".editable").click()
    name_input = field(page, "name").get_by_role("textbox")
    assert name_input.evaluate("el => el === document.activeElement")
    name_input.fill("Ada Lovelace")
    name_input.press("Enter")
    page.get_by_role("heading", name="Ada Lovelace").wait_for()
    assert "Ada Lovelace" in field(page, "name").inner_text()
    # focus comes back to the value: the keyboard can go on from there
    assert field(page, "name").locator(".editable").evaluate("el => el === document.activeElement")

    field(page, "status").locator(".editable").focus()
    page.keyboard.press("Enter")
    field(page, "status").get_by_role("combobox").select_option("Won")
    field(page, "status").get_by_role("combobox").press("Enter")
    field(page, "status").locator(".chip", has_text="Won").wait_for()

    field(page, "notes").locator(".editable").click()
    notes = field(page, "notes").get_by_role("textbox")
    notes.fill("First line")
    notes.press("Enter")  # a new line in a text area, not a save
    notes.type("Second line")
    assert field(page, "notes").get_by_role("textbox").input_value() == "First line\nSecond line"
    notes.press("Control+Enter")
    field(page, "notes").locator(".long-text").wait_for()
    assert field(page, "notes").locator(".long-text").inner_text() == "First line\nSecond line"

    field(page, "email").locator(".editable").click()
    field(page, "email").get_by_role("textbox").fill("changed@example.com")
    field(page, "email").get_by_role("textbox").press("Escape")
    field(page, "email").locator(".editable").wait_for()
    assert "ada@example.com" in field(page, "email").inner_text()
    assert shop.get(shop.customer, ada["id"])["fields"]["email"] == "ada@example.com"

    # a value another record holds: the error links to that record
    field(page, "email").locator(".editable").click()
    field(page, "email").get_by_role("textbox").fill("bob@example.com")
    field(page, "email").get_by_role("textbox").press("Enter")
    clash = field(page, "email").get_by_test_id("clash-link")
    assert clash.inner_text() == "Bob"
    field(page, "email").get_by_role("link", name="Cancel").click()
    field(page, "email").locator(".editable").wait_for()

    # someone else changes the record while the field is open: a plain explanation
    field(page, "budget").locator(".editable").click()
    field(page, "budget").get_by_label("Budget amount").wait_for()
    shop.update(shop.customer, ada["id"], budget={"amount": "500", "currency": "EUR"})
    field(page, "budget").get_by_label("Budget amount").fill("750")
    field(page, "budget").get_by_label("Budget amount").press("Enter")
    conflict = page.get_by_test_id("conflict")
    assert "Someone else changed this record" in conflict.inner_text()
    assert "500.00 EUR" in conflict.inner_text()
    screenshot(page, request, "version-conflict")
    conflict.get_by_role("link", name="Reload the record").click()
    assert "500.00 EUR" in field(page, "budget").inner_text()
    screenshot(page, request, "record-page")


def test_activity_timeline_shows_who_changed_what(page, live_server, request):
    shop = Shop(live_server)
    carl = live_server.user("Carl Colleague")
    workspaces.add_member(shop.runtime, shop.acc, carl["email"], "member")
    ada = shop.add(shop.customer, name="Ada", status="New", vip=True)
    carl_acc = workspaces.access(shop.runtime, Principal(carl["id"], carl["email"]), shop.ws)
    _, rt = open_type(shop.runtime, carl_acc.principal, shop.ws, shop.customer)
    records.update_record(shop.runtime, carl_acc, rt, ada["id"], {"status": "Active"})
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url(shop.customer, ada["id"]))
    field(page, "status").locator(".editable").click()
    field(page, "status").get_by_role("combobox").select_option("Won")
    field(page, "status").get_by_role("combobox").press("Enter")

    events = page.get_by_test_id("event")
    events.nth(2).wait_for()
    newest, middle, oldest = (events.nth(i).inner_text() for i in range(3))
    assert "Olivia Ops changed Status in the app" in newest
    assert re.search(r"Status\s+Active\s+→\s+Won", newest)
    assert "Carl Colleague changed Status through the API" in middle
    assert re.search(r"Status\s+New\s+→\s+Active", middle)
    assert "Olivia Ops created this record through the API" in oldest
    assert re.search(r"VIP\s+Yes", oldest)
    shot = screenshot(page, request, "timeline")
    page.locator("#activity").screenshot(path=str(shot.with_name("activity-" + shot.name)))

    for n in range(25):
        shop.update(shop.customer, ada["id"], notes=f"note {n}")
    page.reload()
    assert events.count() == 20
    page.get_by_role("link", name="Show older activity").click()
    events.nth(27).wait_for()
    assert "created this record" in events.nth(27).inner_text()
    assert page.get_by_role("link", name="Show older activity").count() == 0


def test_related_records_both_ways(page, live_server, request):
    shop = Shop(live_server)
    acme = shop.add(shop.company, name="Acme Ltd")
    ada = shop.add(shop.customer, name="Ada", company=[acme["id"]])
    shop.add(shop.customer, name="Bob", company=[acme["id"]])
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url(shop.customer, ada["id"]))
    links = page.get_by_test_id("links-company")
    assert links.get_by_role("link", name="Acme Ltd").is_visible()
    links.get_by_role("link", name="Acme Ltd").click()
    page.wait_for_url(re.compile(rf"/r/{acme['id']}$"))
    linked = page.get_by_test_id("linked-from")
    assert "Customer via Company" in linked.inner_text()
    assert linked.get_by_role("link", name="Bob").is_visible()
    screenshot(page, request, "linked-from")
    linked.get_by_role("link", name="Ada").click()
    page.wait_for_url(re.compile(rf"/r/{ada['id']}$"))

    # unlink in place: the related list follows at once
    field(page, "company").locator(".editable").click()
    field(page, "company").get_by_label("Acme Ltd").uncheck()
    field(page, "company").get_by_label("Acme Ltd").press("Enter")
    links.get_by_text("None linked yet").wait_for()
    page.set_viewport_size({"width": 390, "height": 800})
    screenshot(page, request, "phone")


def test_delete_and_restore(page, live_server, request):
    shop = Shop(live_server)
    ada = shop.add(shop.customer, name="Ada Lovelace")
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url(shop.customer, ada["id"]))
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete record").click()
    banner = page.get_by_test_id("deleted-banner")
    assert "This record was deleted" in banner.inner_text()
    assert page.locator(".editable").count() == 0
    assert "deleted this record" in page.get_by_test_id("event").first.inner_text()
    screenshot(page, request, "deleted")
    page.get_by_role("button", name="Restore").click()
    banner.wait_for(state="detached")
    assert "restored this record" in page.get_by_test_id("event").first.inner_text()
    assert page.locator(".editable").count() > 0


def test_viewer_sees_the_record_read_only(page, live_server, request):
    shop = Shop(live_server)
    viewer = live_server.user("Vera Viewer")
    workspaces.add_member(shop.runtime, shop.acc, viewer["email"], "viewer")
    ada = shop.add(shop.customer, name="Ada", email="ada@example.com")
    log_in(page, live_server, viewer["email"])
    page.goto(shop.url(shop.customer, ada["id"]))
    assert page.get_by_role("heading", level=1).inner_text() == "Ada"
    assert page.locator(".editable").count() == 0
    assert page.get_by_role("button", name="Delete record").count() == 0
    field(page, "name").click()
    page.wait_for_timeout(300)
    assert field(page, "name").get_by_role("textbox").count() == 0
    screenshot(page, request, "viewer")
