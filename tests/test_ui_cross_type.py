"""In the browser: span the email rule across Lead and Contact on the duplicates screen (a
mapping of incompatible fields is refused), add a Lead with a Contact's email and see the
warning naming the Contact, and find the pair in the queue with both types and no merge.

Test data comes from the services (as an API client would make it).
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


class Crm:
    """A workspace with Lead (name, email) and Contact (full name, email, notes)."""

    def __init__(self, server: LiveServer) -> None:
        self.runtime, self.server = server.runtime, server
        self.me = server.user("Sam Sales")
        self.principal = Principal(self.me["id"], self.me["email"])
        self.ws = workspaces.create(self.runtime, self.principal, "Acme sales")["id"]
        self.acc = workspaces.access(self.runtime, self.principal, self.ws)
        self.lead = self._type("Lead", ("Name", "text"), ("Email", "email"))
        self.contact = self._type(
            "Contact", ("Full name", "text"), ("Email", "email"), ("Notes", "text")
        )

    def _type(self, name: str, *fields: tuple[str, str]) -> int:
        spec = {"name": name, "fields": [{"name": n, "type": t} for n, t in fields]}
        return int(record_types.create_type(self.runtime, self.acc, spec)["id"])

    def add(self, type_id: int, **fields: Any) -> dict[str, Any]:
        rt = open_type(self.runtime, self.principal, self.ws, type_id)[1]
        return records.create(self.runtime, self.acc, rt, fields)

    def url(self, type_id: int, rest: str = "") -> str:
        return f"{self.server.url}/w/{self.ws}/t/{type_id}{rest}"


def test_a_rule_across_lead_and_contact_warns_on_a_new_lead(page, live_server, request):
    crm = Crm(live_server)
    ada = crm.add(crm.contact, full_name="Ada Lovelace", email="ada@example.org")
    log_in(page, live_server, crm.me["email"])
    page.goto(crm.url(crm.lead, "/duplicates"))
    spans = page.locator("#spans")
    spans.get_by_text("Span a rule to another type").click()

    # Lead email against Contact notes: a text compared with an email is refused, by name.
    spans.get_by_label("Rule").select_option(label="Email address")
    spans.get_by_label("Field of Lead").select_option("email")
    spans.get_by_label("Same as").select_option(f"{crm.contact}:notes")
    spans.get_by_role("button", name="Add rule across types").click()
    error = page.locator("#span-errors")
    assert "Lead.email (email) and Contact.notes (text) are fields of different types" in (
        error.inner_text()
    )
    screenshot(page, request, "span-refused")

    page.locator("#spans").get_by_label("Same as").select_option(f"{crm.contact}:email")
    page.locator("#spans").get_by_label("New Lead records").select_option("warn")
    page.locator("#spans").get_by_label("New records of the other type").select_option("block")
    page.locator("#spans").get_by_role("button", name="Add rule across types").click()
    page.wait_for_url(re.compile(r"done=span-added"))
    [span] = page.get_by_test_id("span").all()
    assert "Email address across Lead and Contact" in span.inner_text()
    assert "Lead · email" in span.inner_text() and "Contact · email" in span.inner_text()
    assert span.get_by_label("Contact · email").input_value() == "block"
    screenshot(page, request, "span-added")

    # A new Lead with the Contact's email (spelt otherwise) is added, with the warning.
    page.goto(crm.url(crm.lead, "/new"))
    page.get_by_label("Name").fill("Ada L.")
    page.get_by_label("Email").fill(" ADA@Example.org")
    page.get_by_label("Email").press("Enter")
    page.wait_for_url(re.compile(r"/r/\d+$"))
    banner = page.get_by_test_id("possible-duplicates")
    assert f"a Contact with this email address exists: #{ada['id']}" in banner.inner_text()
    screenshot(page, request, "lead-warned")
    banner.get_by_role("link", name=f"open #{ada['id']}").click()
    page.wait_for_url(re.compile(rf"/t/{crm.contact}/r/{ada['id']}$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Ada Lovelace"

    # The queue of either type shows the pair with both types, and no merge.
    page.goto(crm.url(crm.contact, "/duplicates"))
    [pair] = page.get_by_test_id("pair").all()
    heading = pair.get_by_role("heading").inner_text()
    assert "Lead Ada L." in heading and "Contact Ada Lovelace" in heading
    assert "convert to merge across types" in pair.get_by_test_id("cross-type-note").inner_text()
    assert pair.get_by_role("link", name="Merge…").count() == 0
    assert pair.get_by_role("link", name="Ada Lovelace").get_attribute("href") == (
        f"/w/{crm.ws}/t/{crm.contact}/r/{ada['id']}"
    )
    screenshot(page, request, "cross-type-pair")
    # A second Contact of the same person is refused, naming the first.
    page.goto(crm.url(crm.contact, "/new"))
    page.get_by_label("Full name").fill("Ada again")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Email").press("Enter")
    assert (
        f"a Contact with this email address exists: #{ada['id']}"
        in page.locator("main").inner_text()
    )
