"""In the browser: log in, create a workspace, manage members, create and revoke a token."""

from __future__ import annotations

import re

from tests.browser import PASSWORD, log_in, screenshot


def test_first_visit_login_workspace_and_members(page, live_server, request):
    me = live_server.user("Olivia Ops")
    colleague = live_server.user("Carl Colleague")
    page.goto(live_server.url + "/")
    assert "/login" in page.url
    page.get_by_label("Email").fill(me["email"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "the email or the password is not right"
    screenshot(page, request, "login-error")

    log_in(page, live_server, me["email"])
    assert page.get_by_text("You are not in any workspace yet.").is_visible()
    screenshot(page, request, "no-workspaces")
    page.get_by_label("New workspace").fill("Acme <b>sales</b>")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(re.compile(r"/w/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Acme <b>sales</b>"
    assert page.get_by_text("No record types yet.").is_visible()
    screenshot(page, request, "empty-workspace")

    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email of an account").fill(colleague["email"])
    page.get_by_role("button", name="Add member").click()
    row = page.get_by_test_id(f"member-{colleague['email']}")
    assert row.get_by_label(f"Role of {colleague['email']}").input_value() == "member"
    row.get_by_label(f"Role of {colleague['email']}").select_option("viewer")
    page.wait_for_selector("text=The role was changed.")
    assert row.get_by_label(f"Role of {colleague['email']}").input_value() == "viewer"
    screenshot(page, request, "members")


def test_tokens_are_shown_once_and_can_be_revoked(page, live_server, request):
    me = live_server.user()
    log_in(page, live_server, me["email"])
    page.goto(live_server.url + "/account")
    page.get_by_label("Name").fill("billing sync")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text()
    assert token.startswith("wst_")
    screenshot(page, request, "token-created")
    page.reload()
    assert token not in page.content()
    assert page.get_by_role("cell", name="billing sync").is_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_selector("text=The token was revoked.")
    assert page.get_by_text("revoked", exact=False).first.is_visible()


def test_change_password_and_log_out(page, live_server):
    me = live_server.user()
    log_in(page, live_server, me["email"])
    page.goto(live_server.url + "/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a new password 1")
    page.get_by_label("Repeat new password").fill("a new password 2")
    page.get_by_role("button", name="Change password").click()
    assert page.locator(".field-error").inner_text() == "The repeated password does not match"
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a new password 1")
    page.get_by_label("Repeat new password").fill("a new password 1")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("text=Your password was changed")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(live_server.url + "/account")
    assert "/login?next=/account" in page.url
    page.get_by_label("Email").fill(me["email"])
    page.get_by_label("Password").fill("a new password 1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/account$"))
