"""In the browser: set up a dedupe rule, scan, review a pair, merge it choosing values, follow
the merged record to the survivor, and undo the merge.

Test data comes from the services (as an API client would make it), never from other
screens.
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser import LiveServer, log_in, screenshot
from workspace.access import workspaces
from workspace.dedupe import rules as dedupe_rules
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


class Shop:
    """A workspace with a Customer type: name, email, phone, city, unsubscribed."""

    def __init__(self, server: LiveServer) -> None:
        self.runtime = server.runtime
        self.server = server
        self.me = server.user("Olivia Ops")
        self.principal = Principal(self.me["id"], self.me["email"])
        self.ws = workspaces.create(self.runtime, self.principal, "Acme sales")["id"]
        self.acc = workspaces.access(self.runtime, self.principal, self.ws)
        spec = {
            "name": "Customer",
            "fields": [
                {"name": "Name", "type": "text"},
                {"name": "Email", "type": "email"},
                {"name": "Phone", "type": "phone"},
                {"name": "City", "type": "text"},
                {
                    "name": "Unsubscribed",
                    "type": "checkbox",
                    "config": {"survivorship": "most_restrictive"},
                },
            ],
        }
        self.type_id = int(record_types.create_type(self.runtime, self.acc, spec)["id"])

    @property
    def rt(self) -> Any:
        return open_type(self.runtime, self.principal, self.ws, self.type_id)[1]

    def add(self, **fields: Any) -> dict[str, Any]:
        return records.create(self.runtime, self.acc, self.rt, fields)

    def get(self, record_id: int) -> dict[str, Any]:
        return records.get(self.runtime, self.acc, self.rt, record_id)

    def url(self, rest: str = "") -> str:
        return f"{self.server.url}/w/{self.ws}/t/{self.type_id}{rest}"


def test_review_and_merge_a_duplicate_then_undo(page, live_server, request):
    shop = Shop(live_server)
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url())
    page.get_by_role("link", name="Duplicates").click()
    page.wait_for_url(re.compile(r"/duplicates$"))
    assert page.get_by_text("No rules yet.").is_visible()
    assert page.get_by_text("Nothing to review yet.").is_visible()

    # The add form follows the rule picked: the contact rule reads fields by position.
    page.locator("#add-rule-pick").select_option(label="Contact (name, email, phone, company)")
    page.get_by_label("Company (optional)").wait_for()
    assert page.get_by_label("Company (optional)").input_value() == ""  # none fits: skipped
    assert page.get_by_label("Phone (optional)").input_value() == "phone"
    assert page.evaluate("document.activeElement.id") == "add-rule-pick"  # focus stays
    screenshot(page, request, "add-contact-rule")
    page.locator("#add-rule-pick").select_option(label="Email address")
    page.get_by_label("Company (optional)").wait_for(state="detached")

    # An email rule in warn mode.
    add = page.locator("#add-rule")
    assert add.locator("#add-slot0").input_value() == "email"
    add.get_by_label("When a record is added").select_option("warn")
    add.get_by_role("button", name="Add rule").click()
    page.get_by_text("The rule was added.").wait_for()
    rule = page.locator(".rule").first
    assert "Warn" in rule.inner_text() and "Email" in rule.inner_text()
    screenshot(page, request, "rules")
    (saved,) = dedupe_rules.list_rules(shop.runtime, shop.acc, shop.type_id)
    assert (saved["fields"], saved["on_create"]) == (["email"], "warn")

    # Two records of one customer arrive (through the API's services), then a scan.
    ada = shop.add(name="Ada Lovelace", email="ada.lovelace@gmail.com", city="London")
    twin = shop.add(
        name="Augusta Ada King",
        email="AdaLovelace@gmail.com",
        phone="+44 20 7946 0958",
        city="Paris",
        unsubscribed=True,
    )
    page.get_by_role("button", name="Scan now").click()
    page.get_by_text(re.compile(r"^Scanned: compared 1 pair of records")).wait_for()
    pair = page.get_by_test_id("pair")
    assert pair.count() == 1
    title = pair.get_by_role("heading", level=3).inner_text()
    assert "Almost certainly the same" in title and "Ada Lovelace and Augusta Ada King" in title
    assert pair.locator("tr.differs").count() == 5  # name, email, phone, city, unsubscribed
    screenshot(page, request, "queue")

    # The merge screen: defaults preselected, the loser's name chosen, the preview follows.
    pair.get_by_role("link", name="Merge…").click()
    page.wait_for_url(re.compile(r"/duplicates/\d+/merge$"))
    assert page.get_by_label("Phone from Augusta Ada King:").is_checked()  # survivor's is empty
    assert page.get_by_label("Unsubscribed from Augusta Ada King:").is_checked()  # restrictive
    assert page.get_by_label("City from Ada Lovelace:").is_checked()
    preview = page.locator("#merge-preview")
    page.get_by_label("Name from Augusta Ada King:").check()
    preview.locator(".changed", has_text="Augusta Ada King").wait_for()
    page.get_by_label("Type a value for City").fill("Oslo")
    preview.locator(".changed", has_text="Oslo").wait_for()
    screenshot(page, request, "merge")
    page.get_by_role("button", name="Merge into Ada Lovelace").click()
    page.wait_for_url(re.compile(r"/duplicates/merges/\d+$"))
    assert (
        f"Augusta Ada King (#{twin['id']}) was merged into Ada Lovelace (#{ada['id']}), "
        "now called Augusta Ada King." in page.get_by_role("status").inner_text()
    )
    screenshot(page, request, "merged")
    merged_url = page.url
    kept = shop.get(ada["id"])["fields"]
    assert (kept["name"], kept["city"], kept["phone"]) == (
        "Augusta Ada King",
        "Oslo",
        "+442079460958",
    )
    assert kept["unsubscribed"] is True

    # The merged record's page leads to the survivor, whose history holds both records'.
    page.goto(shop.url(f"/r/{twin['id']}"))
    page.wait_for_url(re.compile(rf"/r/{ada['id']}$"))
    events = page.get_by_test_id("event")
    created = events.filter(has_text="created this record")
    assert created.count() == 2  # the survivor's creation and the merged record's
    screenshot(page, request, "survivor")

    # Undo after a later change to the survivor: refused, then "undo anyway"; both records
    # are back and the pair is in the queue again.
    records.update_record(shop.runtime, shop.acc, shop.rt, ada["id"], {"city": "Rome"})
    page.goto(merged_url)
    page.get_by_role("button", name="Undo merge").click()
    page.get_by_role("alert").filter(has_text="was changed after the merge").wait_for()
    screenshot(page, request, "undo-conflict")
    assert shop.get(ada["id"])["fields"]["city"] == "Rome"
    page.get_by_role("button", name="Undo anyway").click()
    page.get_by_text("The merge was undone.").wait_for()
    assert shop.get(ada["id"])["fields"]["name"] == "Ada Lovelace"
    assert shop.get(twin["id"])["fields"]["city"] == "Paris"
    page.get_by_role("link", name="Back to the review queue").click()
    assert page.get_by_test_id("pair").count() == 1


def test_decide_from_the_keyboard(page, live_server, request):
    shop = Shop(live_server)
    dedupe_rules.add_rule(
        shop.runtime,
        shop.acc,
        shop.type_id,
        {"rule": "email", "fields": ["email"], "on_create": "warn"},
    )
    shop.add(name="Grace Hopper", email="grace@navy.mil")
    shop.add(name="Grace B. Hopper", email="Grace@Navy.mil")
    log_in(page, live_server, shop.me["email"])
    page.goto(shop.url("/duplicates"))
    skip = page.get_by_test_id("pair").get_by_role("button", name="Not a duplicate")
    skip.focus()
    page.keyboard.press("Enter")
    page.get_by_text("Marked as not a duplicate.").wait_for()
    page.get_by_role("button", name="Scan now").focus()
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"no new likely duplicates")).wait_for()
    assert page.get_by_text("No pairs to review.").is_visible()
    page.get_by_role("link", name="Not duplicates").click()
    assert page.get_by_test_id("pair").count() == 1
    screenshot(page, request, "not-duplicates")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, request, "not-duplicates-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Changing the rule: Update mode with a merge policy per field.
    rule = page.locator(".rule").first
    rule.get_by_text("Change or delete").click()
    rule.get_by_label("When a record is added").select_option("update")
    rule.locator("summary", has_text="Merge policy").click()
    rule.get_by_label("City").select_option("overwrite")
    screenshot(page, request, "rule-change")
    rule.get_by_role("button", name="Save rule").click()
    page.get_by_text("The rule was saved.").wait_for()
    (saved,) = dedupe_rules.list_rules(shop.runtime, shop.acc, shop.type_id)
    assert (saved["on_create"], saved["merge_policy"]) == ("update", {"city": "overwrite"})
    assert "City: overwrite" in page.locator(".rule").first.inner_text()
