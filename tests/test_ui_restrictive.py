"""In the browser: an admin marks Status restrictive in the designer, a member who tries to
move a customer back to an earlier status is told why not and who may, and the admin does it
with a reason the timeline shows."""

from __future__ import annotations

from tests.browser import log_in, screenshot
from tests.test_ui_designer import field, open_settings, settled
from tests.test_ui_record import Shop
from workspace.access import workspaces


def test_a_member_cannot_loosen_a_restrictive_status(page, browser, live_server, request):
    shop = Shop(live_server)
    ada = shop.add(shop.customer, name="Ada", email="ada@example.com", status="Won")
    log_in(page, live_server, shop.me["email"])
    page.goto(f"{live_server.url}/w/{shop.ws}/t/{shop.customer}/design")
    settled(page)
    settings = open_settings(page, "status", "Status")
    assert "later choices are more restrictive" in settings.inner_text()
    settings.get_by_label("Restrictive").check()
    field(page, "status").locator(".badge", has_text="Restrictive").wait_for()
    screenshot(page, request, "designer-restrictive")

    member = live_server.user("Mia Member")
    workspaces.add_member(live_server.runtime, shop.acc, member["email"], "member")
    context = browser.new_context()
    try:
        theirs = context.new_page()
        log_in(theirs, live_server, member["email"])
        theirs.goto(shop.url(shop.customer, ada["id"]))
        status = field(theirs, "status")
        status.locator(".editable").click()
        status.get_by_role("combobox").select_option("New")
        status.get_by_role("combobox").press("Enter")
        status.get_by_text("is Won and only tightens").wait_for()
        assert "only an admin editing this record" in status.inner_text()
        screenshot(theirs, request, "member-refused")
    finally:
        context.close()
    assert shop.get(shop.customer, ada["id"])["fields"]["status"] == "Won"

    page.goto(shop.url(shop.customer, ada["id"]))
    status = field(page, "status")
    status.locator(".editable").click()
    status.get_by_role("combobox").select_option("New")
    status.get_by_label("Reason").fill("won by mistake: the deal fell through")
    status.get_by_role("button", name="Save").click()
    status.locator(".chip", has_text="New").wait_for()
    page.reload()
    page.get_by_text("(won by mistake: the deal fell through)").wait_for()
    assert shop.get(shop.customer, ada["id"])["fields"]["status"] == "New"
