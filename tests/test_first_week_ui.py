"""In the browser: a click on an email or phone cell edits it; the small icon beside the
value is the mailto:/tel: link."""

from __future__ import annotations

from tests.browser import log_in
from tests.test_ui_table import ROWS, Customers, cell


def test_a_click_on_an_email_value_edits_the_cell_and_the_icon_writes(page, live_server):
    c = Customers(live_server, ROWS[:1])
    log_in(page, live_server, c.owner["email"])
    page.goto(c.base)
    email = cell(page, c, "Acme Corp", "email")
    assert email.get_by_role("link", name="Write to ops@acme.example.com").get_attribute(
        "href"
    ) == ("mailto:ops@acme.example.com")
    email.locator(".contact-value").click()
    editor = cell(page, c, "Acme Corp", "email").locator("input[name=email]")
    editor.wait_for()
    assert editor.input_value() == "ops@acme.example.com"
    assert page.url.startswith(live_server.url)  # no mail program opened, still on the page
