"""In the browser: the table view of a record type, worked as a spreadsheet.

Data is made through the services (``live_server.runtime``), never through other screens.
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser import log_in, screenshot
from workspace.access import workspaces
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types

FIELDS = [
    {"name": "Name", "type": "text", "config": {"required": True}},
    {"name": "Email", "type": "email"},
    {
        "name": "Stage",
        "type": "single_choice",
        "config": {
            "choices": [
                {"label": "Lead", "color": "gray"},
                {"label": "Qualified", "color": "blue"},
                {"label": "Won", "color": "green"},
            ]
        },
    },
    {"name": "Amount", "type": "money", "config": {"currency": "EUR", "decimals": 2}},
    {"name": "Next call", "type": "date"},
    {"name": "VIP", "type": "checkbox"},
]
ROWS = [
    {
        "name": "Acme Corp",
        "email": "ops@acme.example.com",
        "stage": "Won",
        "amount": "12000",
        "vip": True,
    },
    {"name": "Birch & Co", "email": "hi@birch.example.com", "stage": "Lead", "amount": "800"},
    {
        "name": "Cedar Labs",
        "email": "cedar@cedarlabs.example.com",
        "stage": "Qualified",
        "amount": "4500",
    },
    {"name": "Dune Freight", "stage": "Won", "amount": "2300", "next_call": "2026-12-01"},
    {"name": "Elm Studio", "email": "team@elm.example.com", "stage": "Lead"},
]


class Customers:
    def __init__(self, server: Any, rows: list[dict[str, Any]] | None = None) -> None:
        self.server = server
        self.runtime = server.runtime
        self.owner = server.user("Olivia Ops")
        principal = Principal(self.owner["id"], self.owner["email"])
        ws = workspaces.create(self.runtime, principal, "Acme sales")["id"]
        self.acc: Access = workspaces.access(self.runtime, principal, ws)
        made = record_types.create_type(
            self.runtime, self.acc, {"name": "Customer", "fields": FIELDS}
        )
        self.rt: RecordTypeDef = record_types.get_type(self.runtime, self.acc, made["id"])
        self.base = f"{server.url}/w/{ws}/t/{self.rt.id}"
        self.ids: dict[str, int] = {}
        if rows:
            result = records.bulk(self.runtime, self.acc, self.rt, [{"fields": r} for r in rows])
            assert result["written"], result["results"][:3]
            self.ids = {i["record"]["fields"]["name"]: i["record"]["id"] for i in result["results"]}

    def fields(self, name: str) -> dict[str, Any]:
        return records.get(self.runtime, self.acc, self.rt, self.ids[name])["fields"]


def names(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("tbody td[id$='-name']").all_inner_texts()]


def columns(page: Any) -> list[str]:
    return [th.get_attribute("data-key") for th in page.locator("thead th[data-key]").all()]


def cell(page: Any, customers: Customers, name: str, key: str) -> Any:
    return page.locator(f"#c-{customers.ids[name]}-{key}")


def swapped(page: Any, selector: str, action: Any) -> None:
    """Do ``action`` and wait until htmx has replaced the element at ``selector``."""
    old = page.locator(selector).element_handle()
    action()
    old.wait_for_element_state("hidden")
    page.locator(selector).wait_for()


def test_edit_cells_inline_and_see_a_conflict_plainly(page, live_server, request):
    c = Customers(live_server, ROWS)
    log_in(page, live_server, c.owner["email"])
    page.goto(c.base)
    assert page.get_by_role("heading", level=1).inner_text() == "Customer"
    assert names(page) == [r["name"] for r in ROWS]
    assert page.get_by_test_id("count").inner_text().strip() == "5 records"
    screenshot(page, request, "table")

    # Click a cell, type, Enter saves; the cell shows the new value.
    cell(page, c, "Birch & Co", "name").click()
    editor = cell(page, c, "Birch & Co", "name").locator("input[name=name]")
    editor.fill("Birch and Sons")
    editor.press("Enter")
    page.wait_for_selector(f"#c-{c.ids['Birch & Co']}-name:not(.editing)")
    assert cell(page, c, "Birch & Co", "name").inner_text() == "Birch and Sons"
    assert c.fields("Birch & Co")["name"] == "Birch and Sons"

    # Esc cancels and keeps the old value.
    cell(page, c, "Cedar Labs", "email").focus()
    page.keyboard.press("Enter")
    cell(page, c, "Cedar Labs", "email").locator("input[name=email]").fill("nope@cedar.example.com")
    cell(page, c, "Cedar Labs", "email").locator("input[name=email]").press("Escape")
    page.wait_for_selector(f"#c-{c.ids['Cedar Labs']}-email:not(.editing)")
    shown = cell(page, c, "Cedar Labs", "email").locator(".contact-value")
    assert shown.inner_text() == "cedar@cedarlabs.example.com"

    # A choice saves as soon as it is picked; the keyboard opens a cell too.
    cell(page, c, "Dune Freight", "email").focus()
    page.keyboard.press("ArrowDown")  # arrow keys move between cells
    page.keyboard.press("ArrowRight")
    stage = cell(page, c, "Elm Studio", "stage")
    assert stage.evaluate("td => td === document.activeElement")
    page.keyboard.press("Enter")
    stage.locator("select").select_option("Qualified")
    page.wait_for_selector(f"#c-{c.ids['Elm Studio']}-stage:not(.editing)")
    assert cell(page, c, "Elm Studio", "stage").inner_text() == "Qualified"
    assert c.fields("Elm Studio")["stage"] == "Qualified"

    # Someone else changes the record while the editor is open: the save is refused, plainly.
    cell(page, c, "Acme Corp", "name").click()
    field = cell(page, c, "Acme Corp", "name").locator("input[name=name]")
    field.wait_for()
    records.update_record(c.runtime, c.acc, c.rt, c.ids["Acme Corp"], {"name": "Acme Group"})
    field.fill("Acme Mine")
    field.press("Enter")
    conflict = page.locator(f"#c-{c.ids['Acme Corp']}-name.conflict")
    conflict.wait_for()
    assert "someone else changed this record" in conflict.inner_text()
    assert "Acme Mine" in conflict.inner_text()
    screenshot(page, request, "conflict")
    assert c.fields("Acme Corp")["name"] == "Acme Group"
    conflict.get_by_role("button", name="Reload the row").click()
    page.wait_for_selector(f"#c-{c.ids['Acme Corp']}-name:not(.conflict)")
    assert cell(page, c, "Acme Corp", "name").inner_text() == "Acme Group"

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.get_by_text("Filters", exact=True).click()
    screenshot(page, request, "table-phone")


def test_add_records_from_the_first_row(page, live_server, request):
    c = Customers(live_server)
    log_in(page, live_server, c.owner["email"])
    page.goto(c.base)
    assert page.get_by_test_id("empty-type").is_visible()
    assert "Type into the first row" in page.get_by_test_id("empty-type").inner_text()
    screenshot(page, request, "empty-state")

    add = page.locator("#add-row")
    add.get_by_label("New record: Name").fill("Fir Logistics")
    add.get_by_label("New record: Email").fill("desk@fir.example.com")
    add.get_by_label("New record: Email").press("Enter")
    page.wait_for_selector("tbody td[id$='-name']")
    assert names(page) == ["Fir Logistics"]
    # The add row is ready for the next one at once, as a spreadsheet's next line.
    page.keyboard.type("Gorse Ltd")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll(\"tbody td[id$='-name']\").length == 2")
    assert names(page) == ["Gorse Ltd", "Fir Logistics"]
    # A required field left empty is named and nothing is added.
    page.locator("#add-row").get_by_label("New record: Email").fill("nobody@example.com")
    page.locator("#add-row").get_by_label("New record: Email").press("Enter")
    page.wait_for_selector("#add-row .field-error")
    assert "is required" in page.locator("#add-row .field-error").inner_text()
    listed = records.list_records(c.runtime, c.acc, c.rt)["items"]
    assert sorted(r["fields"]["name"] for r in listed) == ["Fir Logistics", "Gorse Ltd"]


def test_filter_sort_search_and_columns(page, live_server, request):
    c = Customers(live_server, ROWS)
    log_in(page, live_server, c.owner["email"])
    page.goto(c.base)

    # Sort by clicking a header, again to flip it.
    page.get_by_role("link", name="Amount", exact=True).click()
    page.wait_for_url(re.compile(r"sort=amount"))
    assert names(page) == ["Elm Studio", "Birch & Co", "Dune Freight", "Cedar Labs", "Acme Corp"]
    page.get_by_role("link", name=re.compile(r"^Amount")).click()
    page.wait_for_url(re.compile(r"sort=-amount"))
    assert names(page)[0] == "Acme Corp"
    assert page.locator("th[aria-sort=descending]").inner_text().startswith("Amount")

    # Filter: pick a field, then its value, apply.
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Add a condition on").select_option(label="Stage")
    page.wait_for_url(re.compile(r"f0=stage"))
    page.get_by_label("Value of condition 1").select_option("Won")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"f0=stage.*v0=Won"))
    assert names(page) == ["Acme Corp", "Dune Freight"]
    assert page.get_by_test_id("count").inner_text().strip() == "2 records match"
    # A second condition; the operator list fits the field (amounts compare, dates are "after").
    page.get_by_text("Filters · 1").click()
    page.get_by_label("Add a condition on").select_option(label="Amount")
    page.wait_for_url(re.compile(r"f1=amount"))
    swapped(
        page,
        "#cond-1",
        lambda: page.get_by_label("Operator of condition 2").select_option(label="is at least"),
    )
    page.get_by_label("Value of condition 2").fill("5000")
    screenshot(page, request, "filters")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"o1=gte"))
    assert names(page) == ["Acme Corp"]
    page.get_by_text("Filters · 2").click()
    page.get_by_label("Remove condition 2").click()
    page.wait_for_url(lambda url: "f1=" not in url)
    assert names(page) == ["Acme Corp", "Dune Freight"]
    page.get_by_text("Filters · 1").click()
    swapped(
        page,
        "#cond-0",
        lambda: page.get_by_label("Operator of condition 1").select_option(label="is any of"),
    )
    assert page.locator("select[name=v0][multiple]").count() == 1  # the row for "any of"
    page.get_by_label("Value of condition 1").select_option(["Lead", "Won"])
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"o0=in"))
    assert sorted(names(page)) == ["Acme Corp", "Birch & Co", "Dune Freight", "Elm Studio"]

    # Search as you type, within the filter; the URL follows.
    page.get_by_label("Search Customer").fill("birch")
    page.wait_for_url(re.compile(r"q=birch"))
    page.wait_for_function("document.querySelectorAll(\"tbody td[id$='-name']\").length == 1")
    assert names(page) == ["Birch & Co"]
    page.reload()
    assert names(page) == ["Birch & Co"]  # a reload shows the same view
    page.get_by_label("Search Customer").fill("")
    page.wait_for_function("document.querySelectorAll(\"tbody td[id$='-name']\").length == 4")

    # Hide a column from the Columns panel, another from its header.
    page.get_by_text("Columns", exact=True).click()
    page.locator(".columns-form").get_by_label("Email", exact=True).uncheck()
    page.get_by_role("button", name="Show these columns").click()
    page.wait_for_url(re.compile(r"cols="))
    assert page.locator("th", has_text="Email").count() == 0
    page.get_by_label("Hide column Next call").click()
    page.wait_for_url(re.compile(r"cols=name%2Cstage%2Camount%2Cvip"))
    assert columns(page) == ["name", "stage", "amount", "vip"]
    screenshot(page, request, "filtered")


def test_save_and_reopen_a_view_then_bulk_delete(page, live_server, request):
    c = Customers(live_server, ROWS)
    log_in(page, live_server, c.owner["email"])
    page.goto(c.base + "?cols=name,stage&sort=-name&f0=stage&o0=eq&v0=Lead")
    assert names(page) == ["Elm Studio", "Birch & Co"]
    page.get_by_text("Save view…").click()
    page.get_by_label("Name of this view").fill("Leads to call")
    page.get_by_role("button", name="Save view", exact=True).click()
    page.wait_for_url(re.compile(r"view=\d+"))
    assert "Leads to call" in page.get_by_role("heading", level=1).inner_text()

    page.get_by_role("link", name="All records").click()
    page.wait_for_url(c.base)
    assert len(names(page)) == 5
    page.get_by_role("link", name="Leads to call").click()
    page.wait_for_url(re.compile(r"view=\d+"))
    assert names(page) == ["Elm Studio", "Birch & Co"]
    assert columns(page) == ["name", "stage"]
    screenshot(page, request, "saved-view")

    # Bulk delete from the view, with a confirmation, and undo.
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label(f"Select record {c.ids['Elm Studio']}").check()
    page.get_by_label(f"Select record {c.ids['Birch & Co']}").check()
    page.get_by_role("button", name="Delete selected").click()
    page.wait_for_selector("text=Deleted 2 records.")
    assert page.get_by_test_id("no-match").is_visible()
    assert len(records.list_records(c.runtime, c.acc, c.rt)["items"]) == 3
    page.get_by_role("button", name="Undo").click()
    page.wait_for_selector("text=Restored 2 records.")
    assert names(page) == ["Elm Studio", "Birch & Co"]

    page.get_by_role("button", name="Delete view").click()
    page.wait_for_url(lambda url: "view=" not in url)
    assert page.get_by_role("link", name="Leads to call").count() == 0


def test_load_more(page, live_server):
    rows = [{"name": f"Customer {i:03}", "amount": str(i)} for i in range(1, 71)]
    c = Customers(live_server, rows)
    log_in(page, live_server, c.owner["email"])
    page.goto(c.base + "?sort=name")
    assert len(names(page)) == 50
    page.get_by_role("link", name="Load more").click()
    page.wait_for_function("document.querySelectorAll(\"tbody td[id$='-name']\").length == 70")
    assert names(page)[49:51] == ["Customer 050", "Customer 051"]
    assert page.get_by_role("link", name="Load more").count() == 0
    assert page.url.endswith("?sort=name")  # loading more keeps the view's address
