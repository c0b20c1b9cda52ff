"""In-app notifications: a mention or a task given to someone notifies them, only them, once;
they list and mark their own notifications read."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api
from tests.work import Team, team
from workspace.work import mentions

__all__ = ["team"]


def inbox(api: Api, team: Team, **params: Any) -> dict[str, Any]:
    return dict(api.get(team.notifications, expect=200, **params))


def test_a_mention_notifies_the_member_once(team: Team):
    body = f"{team.handle(team.bob_user)} can you call her? cc {team.handle(team.owner_user)}"
    made = team.owner.post(team.comments(team.ada), {"body": body}, expect=201)
    assert made["mentions"] == [team.bob_user["id"], team.owner_user["id"]]

    got = inbox(team.bob, team)
    assert got["unread"] == 1
    (note,) = got["items"]
    assert note["kind"] == "mention"
    assert note["actor"] == team.owner_user["id"]
    assert (note["record_type"], note["record"]) == (team.rt["id"], team.ada["id"])
    assert note["comment"] == made["id"]
    assert note["excerpt"] == body
    assert note["read"] is False
    # Mentioning oneself tells nobody; the viewer was not mentioned.
    assert inbox(team.owner, team)["items"] == []
    assert inbox(team.viewer, team)["items"] == []

    # An edit notifies only members it newly mentions.
    url = f"/workspaces/{team.ws}/comments/{made['id']}"
    team.owner.patch(url, {"body": body + " thanks"}, expect=200)
    assert inbox(team.bob, team)["unread"] == 1
    team.owner.patch(url, {"body": body + " " + team.handle({"email": "x@y"})}, expect=200)
    viewer = team.viewer.get(f"/workspaces/{team.ws}/members")
    assert viewer  # members may list members: the viewer's handle is known to all
    vera = next(m for m in viewer if m["role"] == "viewer")
    team.owner.patch(url, {"body": f"{body} @{vera['email']}"}, expect=200)
    assert inbox(team.viewer, team)["unread"] == 1
    assert inbox(team.bob, team)["unread"] == 1


def test_assigning_a_task_notifies_the_assignee(team: Team):
    body = {"record_type": team.rt["id"], "record": team.ada["id"], "title": "Send quote"}
    task = team.owner.post(team.tasks, {**body, "assignee": team.bob_user["id"]}, expect=201)
    (note,) = inbox(team.bob, team)["items"]
    assert (note["kind"], note["task"], note["excerpt"]) == ("assigned", task["id"], "Send quote")

    url = f"{team.tasks}/{task['id']}"
    team.owner.patch(url, {"title": "Send the quote"}, expect=200)  # same assignee: no news
    assert inbox(team.bob, team)["unread"] == 1
    team.bob.patch(url, {"assignee": team.owner_user["id"]}, expect=200)
    assert inbox(team.owner, team)["items"][0]["kind"] == "assigned"
    team.owner.patch(url, {"assignee": team.owner_user["id"], "status": "done"}, expect=200)
    assert inbox(team.owner, team)["unread"] == 1
    # Taking a task oneself tells nobody.
    mine = team.bob.post(team.tasks, {**body, "assignee": team.bob_user["id"]}, expect=201)
    assert mine["assignee"] == team.bob_user["id"]
    assert inbox(team.bob, team)["unread"] == 1


def test_marking_read_touches_only_ones_own(team: Team):
    for text in ("one", "two", "three"):
        team.owner.post(
            team.comments(team.ada), {"body": f"{team.handle(team.bob_user)} {text}"}, expect=201
        )
    items = inbox(team.bob, team)["items"]
    assert [n["excerpt"].split()[-1] for n in items] == ["three", "two", "one"]
    newest = items[0]["id"]
    # Someone else's ids are ignored like missing ones.
    assert team.owner.post(f"{team.notifications}/read", {"ids": [newest]}, expect=200) == {
        "marked": 0
    }
    assert team.bob.post(f"{team.notifications}/read", {"ids": [newest]}, expect=200) == {
        "marked": 1
    }
    got = inbox(team.bob, team)
    assert got["unread"] == 2
    assert [n["read"] for n in got["items"]] == [True, False, False]
    assert len(inbox(team.bob, team, unread=True)["items"]) == 2
    page = inbox(team.bob, team, limit=1)
    assert inbox(team.bob, team, limit=5, before=page["next_before"])["items"][0]["id"] < newest
    team.bob.post(f"{team.notifications}/read", {}, expect=200)
    assert inbox(team.bob, team)["unread"] == 0

    refused = team.bob.post(f"{team.notifications}/read", {"ids": "all"})
    assert 400 <= team.bob.last.status_code < 500
    assert "ids" in str(refused["error"])
    team.outsider.get(team.notifications, expect=404)


def test_handles_are_the_email_local_part_unless_two_members_share_it():
    rows = [
        {"user_id": 1, "email": "ada@example.org", "name": "Ada"},
        {"user_id": 2, "email": "bob@example.org", "name": "Bob"},
        {"user_id": 3, "email": "bob@other.net", "name": ""},
    ]
    people = mentions.directory(rows)
    assert [(m.user_id, m.handle) for m in mentions.handles(rows)] == [
        (1, "ada"),
        (2, "bob@example.org"),
        (3, "bob@other.net"),
    ]
    text = "Hi @Ada, @bob (who?), @bob@other.net. mail ada@example.org, @nobody, @ada."
    assert mentions.mentioned(text, people) == [1, 3]
    assert mentions.mentioned("email@ada not a mention", people) == []
