"""In the browser: build a public form, send it twice as the same customer (their email in
another case) under the "update" policy, and find one record updated; errors on the public
form; the submissions list."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser import log_in, screenshot
from workspace.access import workspaces
from workspace.dedupe import rules
from workspace.principal import Principal
from workspace.records import records
from workspace.types import record_types


@pytest.fixture
def crm(live_server: Any) -> dict[str, Any]:
    """An owner's workspace with a Customer type whose email rule only warns."""
    me = live_server.user("Fran Forms")
    principal = Principal(me["id"], me["email"])
    runtime = live_server.runtime
    ws = workspaces.create(runtime, principal, "Acme")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {
        "name": "Customer",
        "fields": [
            {"name": "Name", "type": "text", "config": {"required": True}},
            {"name": "Email", "type": "email"},
            {"name": "Phone", "type": "phone"},
            {"name": "City", "type": "text"},
            {"name": "Source", "type": "text"},
            {"name": "Plan", "type": "single_choice", "config": {"choices": ["Free", "Pro"]}},
            {"name": "Newsletter", "type": "checkbox"},
            {"name": "Account manager", "type": "user"},
        ],
    }
    made = record_types.create_type(runtime, acc, spec)
    rules.add_rule(
        runtime,
        acc,
        made["id"],
        {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"},
    )
    return {"me": me, "ws": ws, "acc": acc, "type": made["id"], "runtime": runtime}


def test_build_a_form_and_a_returning_customer_updates_their_record(
    page, live_server, crm, request
):
    log_in(page, live_server, crm["me"]["email"])
    page.goto(f"{live_server.url}/w/{crm['ws']}/forms")
    assert page.get_by_text("No forms yet.").is_visible()
    screenshot(page, request, "empty-list")
    page.get_by_label("Fills in").select_option(label="Customer")
    page.get_by_label("Name").fill("Contact us")
    page.get_by_role("button", name="Create form").click()
    page.wait_for_url(re.compile(r"/forms/\d+\?created=1$"))
    assert page.get_by_text("Your form is ready and open.").is_visible()

    # Choose the fields: no phone, Plan too, City never overwritten, Source hidden from ?src=.
    page.get_by_label("Show Phone on the form").uncheck()
    page.get_by_label("Show Plan on the form").check()  # a choice is not public by default
    page.get_by_label("Label of Name").fill("Your name")
    page.get_by_label("Help text of Email").fill("We reply to this address")
    page.get_by_label("Email is required").check()
    page.get_by_label("Order of Email").fill("0")
    page.get_by_label("Never overwrite City from this form").check()
    source = page.get_by_test_id("row-source")
    source.get_by_label("Hidden").check()
    page.get_by_label("Prefill parameter of Source").fill("src")
    page.get_by_label("Show Account manager on the form").check()
    page.get_by_label("Fixed value of Account manager").select_option(label="Fran Forms")
    page.get_by_test_id("row-account_manager").get_by_label("Hidden").check()
    page.get_by_label("Update the record on file with what was sent").check()
    page.get_by_label("Message shown after sending").fill("Thanks! We will be in touch.")
    screenshot(page, request, "builder")
    page.get_by_role("button", name="Save form").click()
    page.wait_for_url(re.compile(r"\?saved=1$"))
    assert page.get_by_text("Saved.").is_visible()
    public = page.locator("#public-link").input_value()
    assert re.match(rf"^{re.escape(live_server.url)}/f/[\w-]{{20,}}$", public)

    # The public form, as a stranger: no session.
    visitor = page.context.browser.new_context(viewport={"width": 800, "height": 900})
    tab = visitor.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(public + "?src=newsletter")
    assert tab.get_by_role("heading", name="Contact us").is_visible()
    labels = tab.locator(".form-field > label, .form-field legend, .form-field label.check")
    assert [t.replace("*", "").strip() for t in labels.all_inner_texts()] == [
        "Email",
        "Your name",
        "City",
        "Newsletter",
        "Plan",  # ticked in the builder: it comes after the form's own fields
    ]
    assert tab.get_by_text("We reply to this address").is_visible()
    screenshot(tab, request, "public-form")

    tab.get_by_label("Email").fill("not an email")
    tab.get_by_label("City").fill("Oslo")
    tab.get_by_role("button", name="Send").click()
    assert tab.get_by_text("Please check the fields marked below.").is_visible()
    assert tab.get_by_test_id("field-name").get_by_text("Please fill this in.").is_visible()
    assert tab.get_by_role("link", name="Your name: Please fill this in.").is_visible()
    assert tab.get_by_label("City").input_value() == "Oslo"
    screenshot(tab, request, "public-error")

    tab.get_by_label("Email").fill("Ada@Example.org")
    tab.get_by_label("Your name").fill("Ada")
    tab.get_by_role("button", name="Send").click()
    assert tab.get_by_text("Thanks! We will be in touch.").is_visible()
    screenshot(tab, request, "public-done")

    tab.goto(public + "?src=ad")
    tab.get_by_label("Email").fill(" ada@example.ORG ")
    tab.get_by_label("Your name").fill("Ada Lovelace")
    tab.get_by_label("City").fill("London")
    tab.get_by_label("Plan").select_option("Pro")
    tab.get_by_role("button", name="Send").click()
    assert tab.get_by_text("Thanks! We will be in touch.").is_visible()
    visitor.close()
    assert not errors, errors

    _, rt = record_types_and_def(crm)
    items = records.list_records(crm["runtime"], crm["acc"], rt)["items"]
    assert len(items) == 1
    fields = items[0]["fields"]
    assert fields["name"] == "Ada Lovelace" and fields["plan"] == "Pro"
    assert fields["city"] == "Oslo"  # never overwritten from this form
    assert fields["source"] == "ad" and fields["account_manager"] == crm["me"]["id"]

    page.goto(f"{live_server.url}/w/{crm['ws']}/forms")
    screenshot(page, request, "list")
    page.get_by_role("link", name="3 submissions").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 3
    assert rows.nth(0).locator(".outcome").inner_text() == "Updated"
    assert rows.nth(1).locator(".outcome").inner_text() == "Created"
    assert rows.nth(2).locator(".outcome").inner_text() == "Rejected"
    rows.nth(1).get_by_role("link", name="Edit link for the customer").click()
    link = page.get_by_label(re.compile("Edit link for submission")).input_value()
    assert "/edit/" in link
    screenshot(page, request, "submissions")
    customer = page.context.browser.new_context(viewport={"width": 800, "height": 900})
    mine = customer.new_page()
    mine.goto(link)
    assert mine.get_by_role("heading", name="Update your details").is_visible()
    assert mine.get_by_label("Your name").input_value() == "Ada Lovelace"
    assert mine.get_by_label("City").count() == 0  # never overwritten from this form
    screenshot(mine, request, "public-edit")
    customer.close()
    rows.nth(0).get_by_role("link", name="Open record").click()
    page.wait_for_url(re.compile(r"/r/\d+$"))
    assert page.get_by_text("from a public form").first.is_visible()


def test_the_builder_shows_what_cannot_work_next_to_the_field(page, live_server, crm, request):
    log_in(page, live_server, crm["me"]["email"])
    page.goto(f"{live_server.url}/w/{crm['ws']}/forms")
    page.get_by_role("button", name="Create form").click()
    page.wait_for_url(re.compile(r"/forms/\d+"))
    page.get_by_test_id("row-source").get_by_label("Show Source on the form").check()
    page.get_by_test_id("row-source").get_by_label("Hidden").check()
    page.get_by_label("Or send people to this address").fill("https://elsewhere.example/")
    page.get_by_role("button", name="Save form").click()
    assert page.get_by_text("Nothing was saved").is_visible()
    problem = "Source: A hidden field needs a prefill parameter or a fixed value"
    summary = page.locator("#form-errors")
    assert summary.get_by_role("link", name=problem).is_visible()
    assert page.locator(".row-error").get_by_text(problem).is_visible()
    assert page.locator("#redirect-error").inner_text().startswith("Redirects are off")
    summary.get_by_role("link", name=problem).click()
    assert page.url.endswith("#row-source")
    assert page.get_by_test_id("row-source").get_by_label("Hidden").is_checked()
    screenshot(page, request, "builder-error")


def record_types_and_def(crm: dict[str, Any]) -> tuple[Any, Any]:
    rt = record_types.get_type(crm["runtime"], crm["acc"], crm["type"])
    return crm["acc"], rt
