"""In the browser: an operations lead builds a Customer record type in the designer."""

from __future__ import annotations

import re

from tests.browser import log_in, screenshot
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.types import record_types


def field(page, key):
    return page.get_by_test_id(f"field-{key}")


def settled(page):
    """htmx wires up swapped-in content a moment after showing it: wait for that."""
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def open_settings(page, key, name):
    field(page, key).get_by_role("link", name=f"Settings of {name}").click()
    page.get_by_test_id(f"settings-{key}").wait_for()
    settled(page)
    return page.get_by_test_id(f"settings-{key}")


def field_names(page):
    return page.locator(".field-list .field-name input[name=name]").evaluate_all(
        "inputs => inputs.map(i => i.value)"
    )


def preview_labels(page):
    return (
        page.get_by_test_id("preview")
        .locator(".preview-field")
        .evaluate_all(
            "fields => fields.map(f => f.querySelector('label').innerText.replace('*', '').trim())"
        )
    )


def test_build_a_customer_type(page, live_server, request):
    me = live_server.user("Olivia Ops")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(live_server.runtime, principal, "Acme")["id"]
    log_in(page, live_server, me["email"])
    page.goto(f"{live_server.url}/w/{ws}")
    page.get_by_role("link", name="+ New record type").click()
    page.wait_for_url(re.compile(r"/types/new$"))
    settled(page)
    screenshot(page, request, "new-type-empty")

    # Name the type and list its first three fields; a choice field asks for its choices.
    page.get_by_label("Name of the record type").fill("Customer")
    page.get_by_label("Field 1 name").fill("Name")
    page.get_by_label("Field 2 name").fill("Email")
    page.get_by_label("Field 2 type").select_option("email")
    page.get_by_label("Field 3 name").fill("Status")
    page.get_by_label("Field 3 type").select_option("single_choice")
    page.get_by_label("Choices").fill("Lead\nActive\nChurned")
    screenshot(page, request, "new-type-filled")
    page.get_by_role("button", name="Create record type").click()
    page.wait_for_url(re.compile(r"/t/\d+/design$"))
    settled(page)
    rt_id = int(re.search(r"/t/(\d+)/design", page.url)[1])
    assert page.get_by_label("Name of the record type").input_value() == "Customer"
    assert field_names(page) == ["Name", "Email", "Status"]

    # Add a number with two decimal places and a date; options follow the type picked.
    add = page.get_by_test_id("add-field")
    add.get_by_label("Field name").fill("Annual revenue")
    add.get_by_label("Type").select_option("number")
    add.get_by_label("Decimal places").fill("2")
    add.get_by_role("button", name="Add field").click()
    page.wait_for_selector('[data-testid="field-annual_revenue"]')
    settled(page)
    assert add.get_by_label("Field name").input_value() == ""
    add.get_by_label("Field name").fill("Customer since")
    add.get_by_label("Type").select_option("date")
    add.get_by_label("Field name").press("Enter")
    page.wait_for_selector('[data-testid="preview-customer_since"] input[type="date"]')
    settled(page)
    assert field_names(page) == ["Name", "Email", "Status", "Annual revenue", "Customer since"]
    assert preview_labels(page) == field_names(page)
    assert page.get_by_test_id("type-annual_revenue").inner_text() == "Number"

    # Rename a field in place: Enter saves, the preview follows.
    page.get_by_label("Name of field Email").fill("Work email")
    page.get_by_label("Name of field Email").press("Enter")
    page.wait_for_selector('[data-testid="preview-email"] label:has-text("Work email")')
    settled(page)
    assert field(page, "email").get_by_role("status").inner_text() == "Saved"

    # Reorder with the keyboard-friendly buttons.
    page.get_by_role("button", name="Move Customer since up").click()
    page.wait_for_function(
        "document.querySelectorAll('.field-list > li')[3].dataset.key === 'customer_since'"
    )
    settled(page)
    assert field_names(page) == ["Name", "Work email", "Status", "Customer since", "Annual revenue"]
    assert preview_labels(page) == field_names(page)

    # Make the email required and unique.
    settings = open_settings(page, "email", "Work email")
    settings.get_by_label("Required").check()
    field(page, "email").locator(".badge", has_text="Required").wait_for()
    settled(page)
    page.get_by_test_id("settings-email").get_by_label("Unique").check()
    field(page, "email").locator(".badge", has_text="Unique").wait_for()
    settled(page)
    assert page.get_by_test_id("preview-email").locator(".req").is_visible()
    page.get_by_test_id("settings-email").get_by_role("link", name="Done").click()
    page.get_by_test_id("settings-email").wait_for(state="detached")
    settled(page)

    # Choices: recolour one, add one with Enter, move it up.
    open_settings(page, "status", "Status")
    choices = page.get_by_test_id("choices-status")
    choices.get_by_label("Colour of Active").select_option("green")
    page.wait_for_selector('[data-testid="choices-status"] li:nth-child(2) .swatch.green')
    settled(page)
    page.get_by_label("New choice for Status").fill("Paused")
    page.get_by_label("New choice for Status").press("Enter")
    page.wait_for_selector('[data-testid="choices-status"] input[value="Paused"]')
    settled(page)
    page.get_by_test_id("choices-status").get_by_role("button", name="Move Paused up").click()
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=choices-status] li')[2]"
        ".querySelector('input[aria-label^=Choice]').value === 'Paused'"
    )
    settled(page)
    acc = workspaces.access(live_server.runtime, principal, ws)
    status = record_types.get_type(live_server.runtime, acc, rt_id).field_by_key("status")
    assert [(c["label"], c["color"]) for c in status.config["choices"]][1:3] == [
        ("Active", "green"),
        ("Paused", status.config["choices"][2]["color"]),
    ]
    assert [c["label"] for c in status.config["choices"]] == ["Lead", "Active", "Paused", "Churned"]
    screenshot(page, request, "designer-choices")
    page.get_by_test_id("settings-status").get_by_role("link", name="Done").click()

    # A bad option: the reason shows next to the input it concerns, nothing changes.
    settings = open_settings(page, "annual_revenue", "Annual revenue")
    settings.get_by_label("Minimum").fill("100")
    settings.get_by_label("Maximum").fill("10")
    settings.get_by_label("Maximum").press("Tab")
    error = field(page, "annual_revenue").locator(".field-error")
    error.wait_for()
    settled(page)
    assert error.inner_text() == "Must not be greater than the maximum."
    assert (
        page.get_by_test_id("settings-annual_revenue")
        .get_by_label("Minimum")
        .get_attribute("aria-invalid")
        == "true"
    )
    screenshot(page, request, "designer-option-error")
    page.get_by_test_id("settings-annual_revenue").get_by_label("Minimum").fill("")
    page.get_by_test_id("settings-annual_revenue").get_by_label("Minimum").press("Tab")
    field(page, "annual_revenue").get_by_role("status").wait_for()
    settled(page)
    assert field(page, "annual_revenue").locator(".field-error").count() == 0

    # Change a field's type: a lossy change names the records first, then converts if asked.
    rt = record_types.get_type(live_server.runtime, acc, rt_id)
    records.create(live_server.runtime, acc, rt, {"name": "Ada", "email": "ada@example.com"})
    add.get_by_label("Field name").fill("Employees")
    add.get_by_role("button", name="Add field").click()
    page.wait_for_selector('[data-testid="field-employees"]')
    settled(page)
    rt = record_types.get_type(live_server.runtime, acc, rt_id)
    records.create(
        live_server.runtime,
        acc,
        rt,
        {"name": "Bea", "email": "bea@example.com", "employees": "about 50"},
    )
    records.create(
        live_server.runtime, acc, rt, {"name": "Cy", "email": "cy@example.com", "employees": "12"}
    )
    open_settings(page, "employees", "Employees")
    retype = page.get_by_test_id("retype-employees")
    retype.get_by_label("New type of Employees").select_option("number")
    retype.get_by_role("button", name="Change type").click()
    conflict = page.get_by_test_id("conflict")
    conflict.wait_for()
    settled(page)
    assert "1 record(s) hold values of 'Employees' that a number field cannot keep." in (
        conflict.inner_text()
    )
    assert conflict.get_by_role("link", name="Bea").is_visible()
    screenshot(page, request, "designer-lossy-change")
    conflict.get_by_role("button", name="Convert anyway").click()
    page.get_by_test_id("conflict").wait_for(state="detached")
    settled(page)
    assert page.get_by_test_id("type-employees").inner_text() == "Number"

    # Delete a field, after confirming.
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete field Employees").click()
    page.get_by_text("The field Employees was deleted.").wait_for()
    settled(page)
    assert field_names(page) == ["Name", "Work email", "Status", "Customer since", "Annual revenue"]
    open_settings(page, "email", "Work email")
    screenshot(page, request, "designer")

    # Drag a field by its grip above another (the buttons do the same without a mouse).
    page.keyboard.press("Escape")
    page.get_by_test_id("settings-email").wait_for(state="detached")
    settled(page)
    grip = field(page, "annual_revenue").locator(".grip")
    grip.drag_to(field(page, "status"), target_position={"x": 40, "y": 4})
    page.wait_for_function(
        "document.querySelectorAll('.field-list > li')[2].dataset.key === 'annual_revenue'"
    )
    settled(page)
    order = ["Name", "Work email", "Annual revenue", "Status", "Customer since"]
    assert preview_labels(page) == order

    # Rename the type itself; the sidebar follows.
    page.get_by_label("Name of the record type").fill("Client")
    page.get_by_label("Name of the record type").press("Enter")
    page.get_by_role("status").filter(has_text="Renamed").wait_for()
    assert page.locator(".sidebar a[aria-current]").inner_text() == "Client"

    page.reload()  # everything above was saved
    assert field_names(page) == order
    assert page.get_by_label("Name of the record type").input_value() == "Client"
    types = {
        f.key: f.type.name for f in record_types.get_type(live_server.runtime, acc, rt_id).fields
    }
    assert types == {
        "name": "text",
        "email": "email",
        "status": "single_choice",
        "customer_since": "date",
        "annual_revenue": "number",
    }


def test_the_designer_works_without_javascript(browser, live_server, request):
    me = live_server.user("Nora NoScript")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(live_server.runtime, principal, "Plain")["id"]
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server, me["email"])
        page.goto(f"{live_server.url}/w/{ws}/types/new")
        page.get_by_label("Name of the record type").fill("Supplier")
        page.get_by_label("Field 1 name").fill("Name")
        page.get_by_label("Field 2 name").fill("Tier")
        page.get_by_label("Field 2 type").select_option("single_choice")
        page.get_by_role("button", name="Create record type").click()
        page.wait_for_url(re.compile(r"/t/\d+/design$"))

        field(page, "tier").get_by_role("link", name="Settings of Tier").click()
        page.wait_for_url(re.compile(r"\?open=\d+"))
        page.get_by_label("New choice for Tier").fill("Gold")
        page.get_by_role("button", name="Add choice").click()
        page.get_by_label("Choice 1").wait_for()
        assert page.get_by_label("Choice 1").input_value() == "Gold"
        page.get_by_test_id("settings-tier").get_by_label("Required").check()
        page.get_by_test_id("settings-tier").get_by_role("button", name="Save", exact=True).click()
        field(page, "tier").locator(".badge", has_text="Required").wait_for()

        page.get_by_role("button", name="Move Tier up").click()
        page.wait_for_load_state()
        assert field_names(page) == ["Tier", "Name"]
        screenshot(page, request, "designer-no-javascript")
    finally:
        context.close()
