"""Comments through the API: add, list, edit and delete, who may do what, mentions, and the
activity history keeping every version."""

from __future__ import annotations

import pytest

from tests.work import Team, team

__all__ = ["team"]


def test_comment_is_listed_and_written_to_the_history(team: Team):
    body = "Called **Ada**: wants a _quote_ by Friday, see https://example.org/q"
    made = team.owner.post(team.comments(team.ada), {"body": "  " + body + "\n\n"}, expect=201)
    assert made["body"] == body  # surrounding blank space dropped
    assert made["author"] == team.owner_user["id"]
    assert made["edited_at"] is None

    listed = team.bob.get(team.comments(team.ada), expect=200)["items"]
    assert [c["id"] for c in listed] == [made["id"]]
    assert team.viewer.get(f"/workspaces/{team.ws}/comments/{made['id']}", expect=200)
    assert team.owner.get(team.comments(team.grace), expect=200)["items"] == []

    (entry,) = [e for e in team.activity(team.ada) if e["action"] == "comment_added"]
    assert entry["actor"] == team.owner_user["id"]
    assert entry["changes"] == [
        {"field": "comment", "old": None, "new": {"id": made["id"], "body": body}}
    ]


def test_editing_keeps_the_old_text_in_the_history(team: Team):
    made = team.bob.post(team.comments(team.ada), {"body": "first words"}, expect=201)
    url = f"/workspaces/{team.ws}/comments/{made['id']}"
    edited = team.bob.patch(url, {"body": "better words"}, expect=200)
    assert edited["body"] == "better words"
    assert edited["edited_at"] is not None
    assert team.bob.get(url)["body"] == "better words"

    (entry,) = [e for e in team.activity(team.ada) if e["action"] == "comment_edited"]
    (change,) = entry["changes"]
    assert change["old"] == {"id": made["id"], "body": "first words"}
    assert change["new"] == {"id": made["id"], "body": "better words"}

    # Saving the same text again changes nothing and writes no history.
    team.bob.patch(url, {"body": "better words"}, expect=200)
    assert [e["action"] for e in team.activity(team.ada)].count("comment_edited") == 1


def test_only_the_author_edits_and_only_author_or_admin_deletes(team: Team):
    made = team.bob.post(team.comments(team.ada), {"body": "mine"}, expect=201)
    url = f"/workspaces/{team.ws}/comments/{made['id']}"
    refused = team.owner.patch(url, {"body": "not yours"}, expect=403)
    assert refused["error"]["code"] == "permission_denied"
    team.viewer.delete(url, expect=403)
    assert team.bob.get(url)["body"] == "mine"

    team.owner.delete(url, expect=204)  # an owner (admin) may delete any comment
    team.bob.get(url, expect=404)
    assert team.owner.get(team.comments(team.ada))["items"] == []
    (entry,) = [e for e in team.activity(team.ada) if e["action"] == "comment_deleted"]
    assert entry["changes"][0]["old"] == {"id": made["id"], "body": "mine"}
    assert entry["changes"][0]["new"] is None

    own = team.bob.post(team.comments(team.ada), {"body": "also mine"}, expect=201)
    team.bob.delete(f"/workspaces/{team.ws}/comments/{own['id']}", expect=204)


def test_comments_are_listed_in_pages_oldest_first(team: Team):
    made = [
        team.owner.post(team.comments(team.ada), {"body": f"note {i}"}, expect=201)["id"]
        for i in range(5)
    ]
    seen, after = [], None
    while True:
        query = "?limit=2" + (f"&after={after}" if after else "")
        page = team.bob.get(team.comments(team.ada) + query, expect=200)
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == made
    refused = team.bob.get(team.comments(team.ada) + "?limit=0", expect=400)
    assert "limit" in refused["error"]["message"]


def test_viewers_cannot_comment_and_outsiders_see_nothing(team: Team):
    made = team.owner.post(team.comments(team.ada), {"body": "hello"}, expect=201)
    team.viewer.post(team.comments(team.ada), {"body": "me too"}, expect=403)
    url = f"/workspaces/{team.ws}/comments/{made['id']}"
    for call in (
        lambda: team.outsider.get(team.comments(team.ada)),
        lambda: team.outsider.post(team.comments(team.ada), {"body": "hi"}),
        lambda: team.outsider.get(url),
        lambda: team.outsider.patch(url, {"body": "x"}),
        lambda: team.outsider.delete(url),
    ):
        call()
        assert team.outsider.last.status_code == 404
    assert [c["body"] for c in team.owner.get(team.comments(team.ada))["items"]] == ["hello"]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"body": "   \n "}, "body", "must not be empty"),
        ({"body": "x" * 10_001}, "body", "at most 10,000"),
        ({"body": 7}, "body", ""),
        ({"text": "hi"}, "text", ""),
    ],
)
def test_bad_comments_are_refused_naming_the_field(team: Team, body, field, reason):
    response = team.owner.post(team.comments(team.ada), body)
    assert 400 <= team.owner.last.status_code < 500, response
    error = response["error"]
    named = error.get("fields", {}).get(field) or error["message"]
    assert field in error["message"] or field in error.get("fields", {}), error
    assert reason in named
    assert team.owner.get(team.comments(team.ada))["items"] == []


def test_comments_need_a_live_record_of_the_type(team: Team):
    team.owner.post(team.comments(999_999), {"body": "hi"}, expect=404)
    team.owner.delete(f"{team.records}/{team.grace['id']}", expect=204)
    team.owner.post(team.comments(team.grace), {"body": "hi"}, expect=404)
    team.owner.get(f"/workspaces/{team.ws}/comments/999999", expect=404)
