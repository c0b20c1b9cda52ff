"""In the browser: typing ``@`` and part of a name in a comment box lists the matching
members; the keyboard (arrows, Enter, Escape) and the mouse pick one, the comment shows the
mention, and the member is notified.

Test data comes from the services (as an API client would make it), never from other
screens.
"""

from __future__ import annotations

from typing import Any

from tests.browser import LiveServer, log_in, screenshot
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


def team(server: LiveServer) -> dict[str, Any]:
    """Olivia's workspace with members Bob Builder and Béa Builds, and a Customer record;
    Olaf Outsider belongs to another workspace and must never be offered."""
    olivia = server.user("Olivia Ops")
    bob = server.user("Bob Builder")
    bea = server.user("Béa Builds")
    olaf = server.user("Olaf Builder")
    principal = Principal(olivia["id"], olivia["email"])
    ws = workspaces.create(server.runtime, principal, "Acme sales")["id"]
    acc = workspaces.access(server.runtime, principal, ws)
    for member in (bob, bea):
        workspaces.add_member(server.runtime, acc, member["email"], "member")
    other = workspaces.create(server.runtime, principal, "Elsewhere")["id"]
    workspaces.add_member(
        server.runtime, workspaces.access(server.runtime, principal, other), olaf["email"], "member"
    )
    spec = {"name": "Customer", "fields": [{"name": "Name", "type": "text"}]}
    type_id = record_types.create_type(server.runtime, acc, spec)["id"]
    _, rt = open_type(server.runtime, principal, ws, type_id)
    ada = records.create(server.runtime, acc, rt, {"name": "Ada Lovelace"})
    url = f"{server.url}/w/{ws}/t/{type_id}/r/{ada['id']}"
    return {"olivia": olivia, "bob": bob, "bea": bea, "url": url}


def handle(user: dict[str, Any]) -> str:
    return "@" + str(user["email"]).split("@")[0]


def test_pick_a_member_with_the_keyboard_and_the_mouse(page, live_server, request):
    t = team(live_server)
    log_in(page, live_server, t["olivia"]["email"])
    page.goto(t["url"])
    box = page.get_by_test_id("comment-text")
    picker = page.locator("#comment-mentions")
    options = picker.get_by_test_id("mention-option")

    box.press_sequentially("Please call @buil")
    page.locator('#comment-mentions[data-query="buil"]').wait_for()
    shown = [" ".join(text.split()) for text in options.all_inner_texts()]
    assert len(shown) == 2, shown  # Bob and Bea; not Olaf of another workspace, not Olivia
    assert any(s.startswith("Bob Builder") and t["bob"]["email"] in s for s in shown)
    assert any(s.startswith("Béa Builds") for s in shown)
    screenshot(page, request, "mention-picker")

    box.press("Escape")  # closes the list, keeps the text
    picker.wait_for(state="hidden")
    assert box.input_value() == "Please call @buil"

    box.press_sequentially("d")  # "@build": the list is back
    page.locator('#comment-mentions[data-query="build"]').wait_for()
    bob_at = next(i for i, s in enumerate(options.all_inner_texts()) if "Bob Builder" in s)
    for _ in range(bob_at):
        box.press("ArrowDown")
    selected = picker.locator("[aria-selected=true]")
    assert "Bob Builder" in selected.inner_text()
    box.press("Enter")
    picker.wait_for(state="hidden")
    assert box.input_value() == f"Please call {handle(t['bob'])} "

    box.press_sequentially("and @bé")  # names in any script, not only handles
    page.locator('#comment-mentions[data-query="bé"]').wait_for()
    assert options.count() == 1
    options.first.click()
    assert box.input_value() == f"Please call {handle(t['bob'])} and {handle(t['bea'])} "

    page.get_by_role("button", name="Comment").click()
    comment = page.get_by_test_id("timeline").get_by_test_id("comment-body").first
    comment.wait_for()
    assert comment.locator(".mention").all_inner_texts() == ["@Bob Builder", "@Béa Builds"]
    screenshot(page, request, "mention-posted")

    # The fresh box htmx swapped in after the post has the picker too.
    box.press_sequentially("@béa")
    page.locator('#comment-mentions[data-query="béa"]').wait_for()
    box.press("Enter")
    assert box.input_value() == f"{handle(t['bea'])} "

    # Editing a comment in place: Escape closes the list, not the editor.
    page.locator(".comment-actions").get_by_role("link", name="Edit").first.click()
    editor = page.get_by_label("Edit comment")
    editor.press("End")
    editor.press_sequentially(" @bob")
    edit_picker = page.locator(".comment-edit .mention-picker")
    edit_picker.get_by_test_id("mention-option").first.wait_for()
    editor.press("Escape")
    edit_picker.wait_for(state="hidden")
    assert editor.is_visible() and editor.input_value().endswith(" @bob")

    log_in(page, live_server, t["bob"]["email"])
    page.goto(t["url"])
    assert page.get_by_test_id("bell-count").inner_text() == "1"
    page.get_by_test_id("bell").click()
    note = page.get_by_test_id("notification")
    assert note.count() == 1
    assert "Olivia Ops mentioned you in a comment on" in " ".join(note.inner_text().split())
