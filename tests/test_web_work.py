"""Comments, tasks and notifications on the pages, without a browser: plain posts and
redirects work without JavaScript, htmx gets the card and the timeline back, markup in a
comment stays inert, posts need the CSRF token, viewers cannot write, and the bell counts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.web import HX, csrf, log_in, page_user
from workspace import activity
from workspace.access import workspaces
from workspace.db import transaction
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types
from workspace.work import comments, tasks

SCRIPT = '<script>alert("x")</script>'


class Desk:
    """An owner's workspace with one Customer record, and a member, Bob."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.owner = page_user(runtime, "Olivia Owner")
        self.bob = page_user(runtime, "Bob Builder")
        principal = Principal(self.owner["id"], self.owner["email"])
        self.ws = workspaces.create(runtime, principal, "Shop")["id"]
        self.acc = workspaces.access(runtime, principal, self.ws)
        workspaces.add_member(runtime, self.acc, self.bob["email"], "member")
        spec = {"name": "Customer", "fields": [{"name": "Name", "type": "text"}]}
        self.type_id = int(record_types.create_type(runtime, self.acc, spec)["id"])
        self.rt = open_type(runtime, principal, self.ws, self.type_id)[1]
        self.ada = records.create(runtime, self.acc, self.rt, {"name": "Ada Lovelace"})
        self.url = f"/w/{self.ws}/t/{self.type_id}/r/{self.ada['id']}"
        self.bob_acc = workspaces.access(
            runtime, Principal(self.bob["id"], self.bob["email"]), self.ws
        )

    @property
    def bob_handle(self) -> str:
        return "@" + self.bob["email"].split("@")[0]

    def comments(self) -> list[dict[str, Any]]:
        return comments.list_for_record(self.runtime, self.acc, self.rt, self.ada["id"])["items"]

    def tasks(self) -> list[dict[str, Any]]:
        return tasks.for_record(self.runtime, self.acc, self.type_id, self.ada["id"])


@pytest.fixture
def desk(runtime: Any) -> Desk:
    return Desk(runtime)


def timeline_of(html: str) -> str:
    return html.split('id="timeline"', 1)[1]


def test_comment_without_javascript_formats_safely_and_mentions(client, desk):
    log_in(client, desk.owner)
    page = client.get(desk.url)
    assert 'id="comments"' in page.text and 'id="tasks"' in page.text
    assert desk.bob_handle in page.text  # the "who can I mention" list

    text = f"**Call** {desk.bob_handle} re _quote_: https://example.org/q?a=1\n{SCRIPT}"
    posted = client.post(
        desk.url + "/comments",
        data={"body": text, "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    (made,) = desk.comments()
    assert posted.headers["location"] == f"{desk.url}#comment-{made['id']}"

    timeline = timeline_of(client.get(desk.url).text)
    assert f'id="comment-{made["id"]}"' in timeline
    assert "<strong>Call</strong>" in timeline
    assert "<em>quote</em>" in timeline
    assert (
        '<a href="https://example.org/q?a=1" rel="noopener nofollow">'
        "https://example.org/q?a=1</a>" in timeline
    )
    assert '<span class="mention" title="' in timeline and "@Bob Builder</span>" in timeline
    assert "<br" in timeline
    assert "<script>alert" not in timeline
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in timeline
    assert "Olivia Owner</strong> commented" in timeline

    # Bob sees the bell count, the notification, and opening it marks it read.
    log_in(client, desk.bob)
    home = client.get(f"/w/{desk.ws}")
    assert re.search(r'data-testid="bell-count">1<', home.text)
    inbox = client.get(f"/w/{desk.ws}/notifications")
    assert "mentioned you in a comment on" in inbox.text
    assert "Ada Lovelace" in inbox.text
    assert "<script>alert" not in inbox.text
    assert "<strong>Call</strong>" in inbox.text and "**Call**" not in inbox.text
    assert "@Bob Builder</span>" in inbox.text
    note = re.search(r"/notifications/(\d+)/open", inbox.text)
    assert note
    opened = client.post(
        f"/w/{desk.ws}/notifications/{note.group(1)}/open",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert opened.headers["location"] == f"{desk.url}#comment-{made['id']}"
    assert 'data-testid="bell-count"' not in client.get(f"/w/{desk.ws}").text


def test_comment_with_htmx_returns_the_box_and_the_timeline(client, desk):
    log_in(client, desk.owner)
    token = {"_csrf_token": csrf(client)}
    swapped = client.post(desk.url + "/comments", data={"body": "hello", **token}, headers=HX)
    assert swapped.status_code == 200
    assert 'id="comments"' in swapped.text
    assert '<div id="timeline" hx-swap-oob="true">' in swapped.text
    assert "<p>hello</p>" in swapped.text
    assert ">hello</textarea>" not in swapped.text  # the box is empty again

    refused = client.post(desk.url + "/comments", data={"body": "  ", **token}, headers=HX)
    assert refused.status_code == 422
    assert "Comment must not be empty." in refused.text
    assert desk.comments()[0]["body"] == "hello" and len(desk.comments()) == 1

    plain = client.post(desk.url + "/comments", data={"body": "", **token})
    assert plain.status_code == 422
    assert "<h1>Comment on Ada Lovelace</h1>" in plain.text
    assert "Comment must not be empty." in plain.text


def test_editing_and_deleting_a_comment_keep_the_history(client, desk):
    made = comments.add(desk.runtime, desk.bob_acc, desk.rt, desk.ada["id"], "first")
    log_in(client, desk.bob)
    token = {"_csrf_token": csrf(client)}
    base = f"/w/{desk.ws}/comments/{made['id']}"
    form = client.get(base + "/edit")
    assert form.status_code == 200
    assert "<h1>Edit your comment</h1>" in form.text
    fragment = client.get(base + "/edit", headers=HX)
    assert (
        f'id="comment-box-{made["id"]}"' in fragment.text and ">first</textarea>" in fragment.text
    )

    saved = client.post(base, data={"body": "second", **token}, follow_redirects=False)
    assert saved.headers["location"] == f"{desk.url}#comment-{made['id']}"
    swapped = client.post(base, data={"body": "third", **token}, headers=HX)
    assert swapped.status_code == 200 and swapped.text.lstrip().startswith('<div id="timeline"')
    timeline = timeline_of(client.get(desk.url).text)
    assert "<p>third</p>" in timeline
    assert ">edited<" in timeline
    assert "edited a comment" in timeline
    assert '<span class="old">first</span>' in timeline
    assert '<span class="new">second</span>' in timeline

    gone = client.post(base + "/delete", data=token, headers=HX)
    assert gone.status_code == 200
    assert "deleted a comment" in gone.text
    assert "This comment was deleted" in gone.text
    assert '<p class="long-text">third</p>' in gone.text  # what it said, under "deleted"
    assert desk.comments() == []


def test_only_the_author_edits_and_viewers_write_nothing(client, desk):
    made = comments.add(desk.runtime, desk.bob_acc, desk.rt, desk.ada["id"], "Bob's")
    viewer = page_user(desk.runtime, "Vera Viewer")
    workspaces.add_member(desk.runtime, desk.acc, viewer["email"], "viewer")

    log_in(client, desk.owner)
    page = client.get(desk.url).text
    assert f"/comments/{made['id']}/edit" not in page  # not the author
    assert f"/comments/{made['id']}/delete" in page  # but an admin may delete
    token = {"_csrf_token": csrf(client)}
    refused = client.post(f"/w/{desk.ws}/comments/{made['id']}", data={"body": "x", **token})
    assert refused.status_code == 403

    log_in(client, viewer)
    page = client.get(desk.url).text
    assert "comment-form" not in page and "task-add" not in page
    assert "Your role lets you read comments" in page
    token = {"_csrf_token": csrf(client)}
    assert client.post(desk.url + "/comments", data={"body": "hi", **token}).status_code == 403
    assert client.post(desk.url + "/tasks", data={"title": "t", **token}).status_code == 403
    assert client.post(f"/w/{desk.ws}/comments/{made['id']}/delete", data=token).status_code == 403
    assert [c["body"] for c in desk.comments()] == ["Bob's"]
    assert desk.tasks() == []


def test_posts_without_the_csrf_token_are_refused(client, desk):
    made = comments.add(desk.runtime, desk.acc, desk.rt, desk.ada["id"], "kept")
    task = tasks.create(desk.runtime, desk.acc, desk.rt, desk.ada["id"], {"title": "kept"})
    log_in(client, desk.owner)
    for url, data in (
        (desk.url + "/comments", {"body": "new"}),
        (f"/w/{desk.ws}/comments/{made['id']}", {"body": "changed"}),
        (f"/w/{desk.ws}/comments/{made['id']}/delete", {}),
        (desk.url + "/tasks", {"title": "new"}),
        (f"/w/{desk.ws}/tasks/{task['id']}", {"status": "done"}),
        (f"/w/{desk.ws}/notifications/read", {}),
    ):
        response = client.post(url, data=data)
        assert response.status_code == 403, url
    assert [c["body"] for c in desk.comments()] == ["kept"]
    assert [(t["title"], t["status"]) for t in desk.tasks()] == [("kept", "open")]


def test_tasks_on_the_record_page_without_javascript(client, desk):
    log_in(client, desk.owner)
    token = {"_csrf_token": csrf(client)}
    due = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    added = client.post(
        desk.url + "/tasks",
        data={"title": "Send quote", "assignee": str(desk.bob["id"]), "due": due, **token},
        follow_redirects=False,
    )
    assert added.status_code == 303
    (task,) = desk.tasks()
    assert added.headers["location"] == f"{desk.url}#task-{task['id']}"
    assert (task["assignee"], task["due"]) == (desk.bob["id"], dt.date.fromisoformat(due))

    page = client.get(desk.url).text
    card = page.split('id="tasks"', 1)[1].split("</section>", 1)[0]
    assert "Send quote" in card and "Bob Builder" in card and "overdue, was due" in card
    timeline = timeline_of(page)
    assert "added a task" in timeline and "for Bob Builder" in timeline

    refused = client.post(desk.url + "/tasks", data={"title": "", "due": "soon", **token})
    assert refused.status_code == 422
    assert "Title must not be empty." in refused.text
    assert "Due must be a date like 2026-12-31." in refused.text
    assert 'value="soon"' in refused.text

    edit = client.get(f"/w/{desk.ws}/tasks/{task['id']}/edit")
    assert edit.status_code == 200 and 'value="Send quote"' in edit.text
    done = client.post(
        f"/w/{desk.ws}/tasks/{task['id']}",
        data={"title": "Send the quote", "assignee": "", "due": "", "status": "done", **token},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"{desk.url}#task-{task['id']}"
    (task,) = desk.tasks()
    assert (task["title"], task["assignee"], task["due"], task["status"]) == (
        "Send the quote",
        None,
        None,
        "done",
    )
    timeline = timeline_of(client.get(desk.url).text)
    assert "completed a task" in timeline
    assert '<span class="old">Send quote</span>' in timeline


def test_tasks_with_htmx_swap_the_card_and_the_timeline(client, desk):
    log_in(client, desk.owner)
    token = {"_csrf_token": csrf(client)}
    swapped = client.post(desk.url + "/tasks", data={"title": "Call", **token}, headers=HX)
    assert swapped.status_code == 200
    assert swapped.text.lstrip().startswith('<section class="card tasks" id="tasks"')
    assert '<div id="timeline" hx-swap-oob="true">' in swapped.text
    (task,) = desk.tasks()
    editing = client.get(f"/w/{desk.ws}/tasks/{task['id']}/edit", headers=HX)
    assert 'data-testid="task-edit"' in editing.text and "task-add" not in editing.text
    refused = client.post(
        f"/w/{desk.ws}/tasks/{task['id']}", data={"title": " ", **token}, headers=HX
    )
    assert refused.status_code == 422 and "Title must not be empty." in refused.text
    ticked = client.post(
        f"/w/{desk.ws}/tasks/{task['id']}", data={"status": "done", **token}, headers=HX
    )
    assert ticked.status_code == 200 and "is-done" in ticked.text
    assert desk.tasks()[0]["status"] == "done"


def test_my_tasks_lists_mine_overdue_first_and_completes_them(client, desk):
    today = dt.date.today()
    for title, days in (("Later", 5), ("Late", -3), ("Whenever", None)):
        due = (today + dt.timedelta(days=days)).isoformat() if days is not None else None
        values = {"title": title, "assignee": desk.bob["id"], "due": due}
        tasks.create(desk.runtime, desk.acc, desk.rt, desk.ada["id"], values)
    tasks.create(desk.runtime, desk.acc, desk.rt, desk.ada["id"], {"title": "Olivia's"})

    log_in(client, desk.bob)
    page = client.get(f"/w/{desk.ws}/tasks")
    assert page.status_code == 200
    titles = re.findall(r'<span class="task-title">([^<]+)</span>', page.text)
    assert titles == ["Late", "Later", "Whenever"]
    assert "Overdue · " in page.text
    assert f'href="{desk.url}#task-' in page.text

    late = next(t for t in desk.tasks() if t["title"] == "Late")
    done = client.post(
        f"/w/{desk.ws}/tasks/{late['id']}",
        data={"status": "done", "next": f"/w/{desk.ws}/tasks", "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"/w/{desk.ws}/tasks"
    page = client.get(f"/w/{desk.ws}/tasks").text
    open_part, done_part = page.split('id="done-title"', 1)
    assert "Late<" not in open_part and "Late<" in done_part

    # ``next`` never leaves the workspace.
    away = client.post(
        f"/w/{desk.ws}/tasks/{late['id']}",
        data={"status": "open", "next": "https://evil.example/", "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert away.headers["location"] == f"{desk.url}#task-{late['id']}"


def test_notifications_of_others_and_outsiders_are_not_found(client, desk):
    tasks.create(
        desk.runtime, desk.acc, desk.rt, desk.ada["id"], {"title": "x", "assignee": desk.bob["id"]}
    )
    outsider = page_user(desk.runtime, "Olaf Outsider")
    log_in(client, desk.owner)
    token = {"_csrf_token": csrf(client)}
    assert client.get(f"/w/{desk.ws}/notifications").status_code == 200
    log_in(client, desk.bob)
    page = client.get(f"/w/{desk.ws}/notifications").text
    assert "gave you a task on" in page
    note_id = re.search(r"/notifications/(\d+)/open", page).group(1)
    log_in(client, desk.owner)
    token = {"_csrf_token": csrf(client)}
    opened = client.post(f"/w/{desk.ws}/notifications/{note_id}/open", data=token)
    assert opened.status_code == 404
    log_in(client, outsider)
    assert client.get(f"/w/{desk.ws}/tasks").status_code == 404
    assert client.get(f"/w/{desk.ws}/notifications").status_code == 404


def test_file_entries_show_name_size_and_download_link(client, desk):
    def note(action: str, old: Any, new: Any) -> None:
        change = {"key": "file", "field": "file", "old": old, "new": new}
        entry = activity.Entry(desk.ada["id"], action, [change])
        with transaction(desk.runtime.control, write=True) as conn:
            activity.write(conn, desk.acc.principal, desk.ws, desk.type_id, [entry])

    pdf = {
        "id": 7,
        "name": "quote <b>2026</b>.pdf",
        "size": 1234,
        "content_type": "application/pdf",
    }
    note("file_added", None, pdf)
    note("file_deleted", pdf, None)
    note("file_restored", None, {**pdf, "size": 5_000_000})
    log_in(client, desk.owner)
    timeline = timeline_of(client.get(desk.url).text)
    restored, deleted, added = re.findall(r'<li class="event event-file.*?</li>', timeline, re.S)
    assert "restored a file" in restored and "(5.0 MB)" in restored
    assert "deleted a file" in deleted and 'href="' not in deleted
    assert "attached a file" in added and "(1.2 KB)" in added
    assert f'href="/w/{desk.ws}/files/7"' in added
    assert "quote &lt;b&gt;2026&lt;/b&gt;.pdf" in added and "<b>2026" not in timeline


def test_older_activity_pages_through_comments_and_field_changes(client, desk):
    for n in range(24):
        comments.add(desk.runtime, desk.acc, desk.rt, desk.ada["id"], f"note {n}")
    log_in(client, desk.owner)
    first = timeline_of(client.get(desk.url).text)
    assert "<p>note 23</p>" in first and "<p>note 4</p>" in first
    assert "<p>note 3</p>" not in first
    before = re.search(r"/activity\?before=(\d+)", first).group(1)
    older = client.get(f"{desk.url}/activity?before={before}", headers=HX).text
    assert [f"note {n}" for n in (3, 2, 1, 0)] == re.findall(r"<p>(note \d+)</p>", older)
    assert "created this record" in older
    assert "Show older activity" not in older
    plain = client.get(f"{desk.url}?before={before}").text
    assert "<p>note 0</p>" in plain


def test_the_home_feed_reads_comment_and_task_entries(client, desk):
    comments.add(desk.runtime, desk.acc, desk.rt, desk.ada["id"], "hello")
    tasks.create(desk.runtime, desk.acc, desk.rt, desk.ada["id"], {"title": "Call"})
    log_in(client, desk.owner)
    home = client.get(f"/w/{desk.ws}").text
    assert "commented on" in home and "added a task on" in home
    assert "comment_added" not in home
