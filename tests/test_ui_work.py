"""In the browser: a comment with an @mention and a task on a record, both in the timeline;
the mentioned member gets the notification, the assignee finds the task on My tasks and
ticks it off.

Test data comes from the services (as an API client would make it), never from other
screens.
"""

from __future__ import annotations

import datetime as dt
import re

from tests.browser import LiveServer, log_in, screenshot
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


def team(server: LiveServer) -> dict:
    olivia = server.user("Olivia Ops")
    bob = server.user("Bob Builder")
    principal = Principal(olivia["id"], olivia["email"])
    ws = workspaces.create(server.runtime, principal, "Acme sales")["id"]
    acc = workspaces.access(server.runtime, principal, ws)
    workspaces.add_member(server.runtime, acc, bob["email"], "member")
    spec = {"name": "Customer", "fields": [{"name": "Name", "type": "text"}]}
    type_id = record_types.create_type(server.runtime, acc, spec)["id"]
    _, rt = open_type(server.runtime, principal, ws, type_id)
    ada = records.create(server.runtime, acc, rt, {"name": "Ada Lovelace"})
    url = f"{server.url}/w/{ws}/t/{type_id}/r/{ada['id']}"
    return {"olivia": olivia, "bob": bob, "ws": ws, "url": url}


def test_comment_mention_and_task_reach_the_teammate(page, live_server, request):
    t = team(live_server)
    handle = "@" + t["bob"]["email"].split("@")[0]
    log_in(page, live_server, t["olivia"]["email"])
    page.goto(t["url"])

    box = page.get_by_test_id("comment-text")
    box.fill(f"Spoke to **Ada**: {handle} please send the quote <script>alert(1)</script>")
    page.get_by_role("button", name="Comment").click()
    timeline = page.get_by_test_id("timeline")
    comment = timeline.get_by_test_id("comment-body").first
    comment.wait_for()
    assert box.input_value() == ""  # a fresh box: no reload, htmx swapped it
    assert "Spoke to Ada: @Bob Builder please send the quote" in comment.inner_text()
    assert comment.locator("strong").inner_text() == "Ada"
    assert comment.locator(".mention").inner_text() == "@Bob Builder"
    assert "<script>alert(1)</script>" in comment.inner_text()  # shown as text, never run

    tasks = page.locator("#tasks")
    tasks.get_by_label("New task").fill("Send the quote")
    tasks.get_by_label("Assignee").select_option(label="Bob Builder")
    due = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    tasks.get_by_label("Due").fill(due)
    tasks.get_by_role("button", name="Add task").click()
    task = page.get_by_test_id("task").filter(has_text="Send the quote")
    task.wait_for()
    assert "Bob Builder" in task.inner_text()
    assert f"due {due}" in task.inner_text()
    entry = timeline.get_by_test_id("event").first
    assert "Olivia Ops added a task Send the quote" in " ".join(entry.inner_text().split())
    assert "for Bob Builder" in entry.inner_text()
    assert "commented" in timeline.get_by_test_id("event").nth(1).inner_text()
    screenshot(page, request, "record-with-comment-and-task")

    # Bob: the bell says 2 (the mention and the task), the page lists both.
    log_in(page, live_server, t["bob"]["email"])
    page.goto(t["url"])
    assert page.get_by_test_id("bell-count").inner_text() == "2"
    page.get_by_test_id("bell").click()
    page.wait_for_url(re.compile(r"/notifications$"))
    notes = page.get_by_test_id("notification")
    assert notes.count() == 2
    assert "Olivia Ops gave you a task on Ada Lovelace" in " ".join(
        notes.nth(0).inner_text().split()
    )
    assert "mentioned you in a comment on" in notes.nth(1).inner_text()
    screenshot(page, request, "notifications")
    notes.nth(1).get_by_role("button", name="Ada Lovelace").click()
    page.wait_for_url(re.compile(r"/r/\d+#comment-\d+$"))
    assert page.get_by_test_id("bell-count").inner_text() == "1"

    page.get_by_role("link", name="My tasks").click()
    mine = page.get_by_test_id("my-task")
    assert mine.count() == 1
    assert "Send the quote" in mine.inner_text() and "Ada Lovelace" in mine.inner_text()
    screenshot(page, request, "my-tasks")
    mine.get_by_role("button", name="Mark done: Send the quote").click()
    page.wait_for_url(re.compile(r"/tasks$"))
    assert "Nothing open" in page.locator(".my-tasks").first.inner_text()

    page.goto(t["url"])
    assert "completed a task" in page.get_by_test_id("timeline").inner_text()
    screenshot(page, request, "record-task-done")


def test_edit_a_comment_and_a_task_in_place(page, live_server, request):
    t = team(live_server)
    log_in(page, live_server, t["olivia"]["email"])
    page.goto(t["url"])
    page.get_by_test_id("comment-text").fill("First _draft_")
    page.get_by_test_id("comment-text").press("Control+Enter")
    comment = page.get_by_test_id("comment-body").first
    comment.wait_for()
    page.locator(".comment-actions").get_by_role("link", name="Edit").click()
    editor = page.get_by_label("Edit comment")
    assert editor.input_value() == "First _draft_"
    editor.fill("Final **text**")
    screenshot(page, request, "comment-editing")
    page.locator(".comment-edit").get_by_role("button", name="Save").click()
    page.get_by_text("edited a comment").wait_for()
    assert page.get_by_test_id("comment-body").first.locator("strong").inner_text() == "text"

    tasks = page.locator("#tasks")
    tasks.get_by_label("New task").fill("Call back")
    tasks.get_by_label("New task").press("Enter")
    task = page.get_by_test_id("task").filter(has_text="Call back")
    task.get_by_role("link", name="Edit task: Call back").click()
    form = page.get_by_test_id("task-edit")
    form.get_by_label("Title").fill("")
    form.get_by_role("button", name="Save").click()
    error = page.get_by_test_id("task-edit").locator(".field-error")
    error.wait_for()
    assert error.inner_text() == "Title must not be empty."
    page.get_by_test_id("task-edit").get_by_label("Title").fill("Call back on Monday")
    overdue = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    page.get_by_test_id("task-edit").get_by_label("Due").fill(overdue)
    page.get_by_test_id("task-edit").get_by_label("Assignee").select_option(label="Bob Builder")
    screenshot(page, request, "task-editing")
    page.get_by_test_id("task-edit").get_by_role("button", name="Save").click()
    task = page.get_by_test_id("task").filter(has_text="Call back on Monday")
    task.wait_for()
    assert f"overdue, was due {overdue}" in task.inner_text()
    entry = page.get_by_test_id("event").first
    assert "changed a task" in entry.inner_text()
    assert "Bob Builder" in entry.inner_text() and "Call back on Monday" in entry.inner_text()
    screenshot(page, request, "after-edits")


def test_comments_and_tasks_work_without_javascript(browser, live_server, request):
    t = team(live_server)
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server, t["olivia"]["email"])
        page.goto(t["url"])
        page.get_by_test_id("comment-text").fill("Plain _post_")
        page.get_by_role("button", name="Comment").click()
        page.wait_for_url(re.compile(r"#comment-\d+$"))
        assert page.get_by_test_id("comment-body").first.inner_text() == "Plain post"

        page.locator("#tasks").get_by_label("Due").fill("2026-12-31")
        page.locator("#tasks").get_by_role("button", name="Add task").click()
        page.get_by_role("heading", name="New task on Ada Lovelace").wait_for()
        assert "Title must not be empty." in page.locator("form").last.inner_text()
        screenshot(page, request, "task-refused-no-js")
        page.get_by_label("Title").fill("Post the letter")
        page.get_by_role("button", name="Add task").click()
        page.wait_for_url(re.compile(r"#task-\d+$"))
        task = page.get_by_test_id("task").filter(has_text="Post the letter")
        assert "due 2026-12-31" in task.inner_text()

        task.get_by_role("link", name="Edit task: Post the letter").click()
        page.get_by_role("heading", name="Edit task").wait_for()
        page.get_by_label("Done").check()
        screenshot(page, request, "task-edit-no-js")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"#task-\d+$"))
        assert "completed a task" in page.get_by_test_id("timeline").inner_text()
    finally:
        context.close()
