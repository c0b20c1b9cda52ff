"""Tasks through the API: create on a record, list with filters, change and complete, who may
do what, the history of every change, and tasks and comments following a merge."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.work import Team, team
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.work import tasks

__all__ = ["team"]


def new_task(team: Team, record: dict, **values) -> dict:
    body = {"record_type": team.rt["id"], "record": record["id"], **values}
    return team.owner.post(team.tasks, body, expect=201)


def test_create_change_and_complete_a_task_with_its_history(team: Team):
    task = new_task(team, team.ada, title="  Send   the quote ", due="2026-12-24")
    assert task["title"] == "Send the quote"
    assert task["status"] == "open"
    assert task["assignee"] is None
    assert task["due"] == "2026-12-24"
    assert task["done_at"] is None

    url = f"{team.tasks}/{task['id']}"
    changed = team.bob.patch(url, {"assignee": team.bob_user["id"], "due": None}, expect=200)
    assert changed["assignee"] == team.bob_user["id"]
    assert changed["due"] is None
    done = team.bob.patch(url, {"status": "done"}, expect=200)
    assert done["status"] == "done"
    assert done["done_at"] is not None
    assert team.viewer.get(url)["status"] == "done"
    reopened = team.bob.patch(url, {"status": "open"}, expect=200)
    assert reopened["done_at"] is None

    history = [e for e in team.activity(team.ada) if e["action"].startswith("task_")]
    assert [e["action"] for e in history] == ["task_changed"] * 3 + ["task_added"]
    added = history[-1]["changes"][0]
    assert added["old"] is None
    assert added["new"] == {
        "id": task["id"],
        "title": "Send the quote",
        "assignee": None,
        "due": "2026-12-24",
        "status": "open",
    }
    assigned = history[2]["changes"][0]
    assert (assigned["old"]["assignee"], assigned["new"]["assignee"]) == (
        None,
        team.bob_user["id"],
    )
    assert (assigned["old"]["due"], assigned["new"]["due"]) == ("2026-12-24", None)
    assert history[1]["actor"] == team.bob_user["id"]
    assert history[1]["changes"][0]["new"]["status"] == "done"

    # A change to nothing is no change: no history entry.
    team.bob.patch(url, {"status": "open"}, expect=200)
    assert len([e for e in team.activity(team.ada) if e["action"] == "task_changed"]) == 3


def test_list_filters_by_assignee_status_and_record(team: Team):
    bob = team.bob_user["id"]
    a = new_task(team, team.ada, title="Call Ada", assignee=bob)
    b = new_task(team, team.ada, title="Mail Ada")
    c = new_task(team, team.grace, title="Call Grace", assignee=bob, status="done")

    def ids(**params) -> list[int]:
        return [t["id"] for t in team.bob.get(team.tasks, expect=200, **params)["items"]]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(assignee="me") == [c["id"], a["id"]]
    assert ids(assignee=str(bob), status="open") == [a["id"]]
    assert ids(status="done") == [c["id"]]
    assert ids(record_type=team.rt["id"], record=team.ada["id"]) == [b["id"], a["id"]]
    first = team.bob.get(team.tasks, limit=2)
    assert first["next_before"] == b["id"]
    assert ids(before=first["next_before"]) == [a["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "later"}, "status"),
        ({"assignee": "someone"}, "assignee"),
        ({"record": "1"}, "record_type"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_list_filters_name_the_parameter(team: Team, params, field):
    body = team.owner.get(team.tasks, **params)
    assert 400 <= team.owner.last.status_code < 500
    assert field in str(body["error"])


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "due": "tomorrow"}, "due"),
        ({"title": "ok", "due": "2026-02-30"}, "due"),
        ({"title": "ok", "status": "later"}, "status"),
        ({"title": "ok", "assignee": 99_999_999}, "assignee"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": 5}, "title"),
    ],
)
def test_bad_tasks_are_refused_naming_the_field(team: Team, values, field):
    body = {"record_type": team.rt["id"], "record": team.ada["id"], **values}
    response = team.owner.post(team.tasks, body)
    assert 400 <= team.owner.last.status_code < 500, response
    assert field in str(response["error"])
    assert team.owner.get(team.tasks)["items"] == []


def test_an_outsider_is_not_an_assignee_and_gets_404(team: Team, make_user):
    stranger, _ = make_user()
    body = {"record_type": team.rt["id"], "record": team.ada["id"], "title": "x"}
    refused = team.owner.post(team.tasks, {**body, "assignee": stranger["id"]}, expect=422)
    assert refused["error"]["fields"] == {"assignee": "is not a member of this workspace"}
    viewer = next(
        m for m in team.owner.get(f"/workspaces/{team.ws}/members") if m["role"] == "viewer"
    )
    refused = team.owner.post(team.tasks, {**body, "assignee": viewer["user_id"]}, expect=422)
    assert "viewer" in refused["error"]["fields"]["assignee"]

    task = team.owner.post(team.tasks, body, expect=201)
    url = f"{team.tasks}/{task['id']}"
    team.viewer.post(team.tasks, body, expect=403)
    team.viewer.patch(url, {"status": "done"}, expect=403)
    for call in (
        lambda: team.outsider.get(team.tasks),
        lambda: team.outsider.post(team.tasks, body),
        lambda: team.outsider.get(url),
        lambda: team.outsider.patch(url, {"status": "done"}),
    ):
        call()
        assert team.outsider.last.status_code == 404
    assert team.owner.get(url)["status"] == "open"
    team.owner.post(team.tasks, {**body, "record": 99_999}, expect=404)


def test_idempotency_key_replays_a_task_creation(team: Team):
    body = {"record_type": team.rt["id"], "record": team.ada["id"], "title": "Once"}
    headers = {"Idempotency-Key": "task-once"}
    first = team.owner.post(team.tasks, body, headers=headers, expect=201)
    again = team.owner.post(team.tasks, body, headers=headers, expect=201)
    assert again["id"] == first["id"]
    assert len(team.owner.get(team.tasks)["items"]) == 1


def test_comments_and_tasks_follow_a_merge_and_come_back_on_undo(team: Team):
    base = f"/workspaces/{team.ws}/types/{team.rt['id']}"
    on_loser = team.owner.post(team.comments(team.grace), {"body": "from Grace"}, expect=201)
    task = new_task(team, team.grace, title="Grace's task")
    mine = team.owner.post(team.comments(team.ada), {"body": "from Ada"}, expect=201)

    merge = team.owner.post(
        f"{base}/merges", {"survivor": team.ada["id"], "loser": team.grace["id"]}, expect=201
    )
    bodies = [c["body"] for c in team.owner.get(team.comments(team.ada))["items"]]
    assert bodies == ["from Grace", "from Ada"]
    assert team.owner.get(f"{team.tasks}/{task['id']}")["record"] == team.ada["id"]
    later = team.owner.post(team.comments(team.ada), {"body": "after the merge"}, expect=201)
    # The survivor's timeline shows the loser's history, so the comment's entry too.
    actions = [e["action"] for e in team.activity(team.ada)]
    assert actions.count("comment_added") == 3

    team.owner.post(f"{base}/merges/{merge['id']}/undo", expect=200)
    assert [c["id"] for c in team.owner.get(team.comments(team.grace))["items"]] == [on_loser["id"]]
    assert [c["id"] for c in team.owner.get(team.comments(team.ada))["items"]] == [
        mine["id"],
        later["id"],
    ]
    assert team.owner.get(f"{team.tasks}/{task['id']}")["record"] == team.grace["id"]


def test_my_tasks_order_open_overdue_first_then_by_due_date(team: Team, runtime):
    bob = team.bob_user["id"]
    today = dt.date.today()
    undated = new_task(team, team.ada, title="Someday", assignee=bob)
    soon = new_task(team, team.ada, title="Soon", assignee=bob, due=str(today + dt.timedelta(3)))
    late = new_task(team, team.grace, title="Late", assignee=bob, due=str(today - dt.timedelta(2)))
    new_task(team, team.ada, title="Someone else's", due=str(today))
    done = new_task(team, team.ada, title="Done", assignee=bob, status="done")

    acc = workspaces.access(runtime, Principal(bob, team.bob_user["email"]), team.ws)
    assert [t["id"] for t in tasks.assigned_to_me(runtime, acc)] == [
        late["id"],
        soon["id"],
        undated["id"],
    ]
    assert [t["id"] for t in tasks.assigned_to_me(runtime, acc, status="done")] == [done["id"]]
