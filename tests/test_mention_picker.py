"""The member search behind the @mention picker: the JSON twin (``members?q=``) and the page
fragment the comment box asks for. Both filter by name, email or handle, list only the
workspace's own members (at most 10), hand out the handle the server parses as a mention,
and answer 404 to anyone who is not a member."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.web import log_in, page_user
from workspace.access import users, workspaces
from workspace.principal import Principal


@pytest.fixture
def crew(api: Any, ws: int, make_user: Any) -> dict[str, dict[str, Any]]:
    """Members Bob Builder and Bea Baker in ``ws``; Olaf Outsider only in another workspace."""
    people = {}
    for name in ("Bob Builder", "Bea Baker"):
        user, _ = make_user(name=name)
        api.post(
            f"/workspaces/{ws}/members", {"email": user["email"], "role": "member"}, expect=201
        )
        people[name.split()[0].lower()] = user
    olaf, _ = make_user(name="Olaf Outsider")
    other = api.post("/workspaces", {"name": "Elsewhere"}, expect=201)["id"]
    api.post(f"/workspaces/{other}/members", {"email": olaf["email"], "role": "member"}, expect=201)
    people["olaf"] = olaf
    return people


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


def test_search_filters_by_name_email_or_handle_and_gives_the_handle(api, ws, crew):
    bob = crew["bob"]
    found = api.get(f"/workspaces/{ws}/members", q="build", expect=200)
    assert names(found) == ["Bob Builder"]
    assert found[0]["handle"] == bob["email"].split("@")[0]
    assert found[0]["email"] == bob["email"]

    by_handle = api.get(f"/workspaces/{ws}/members", q=bob["email"][:6].upper(), expect=200)
    assert names(by_handle) == ["Bob Builder"]
    # Names that start with what was typed come before names that merely contain it.
    starting_with_b = names(api.get(f"/workspaces/{ws}/members", q="b", expect=200))[:2]
    assert set(starting_with_b) == {"Bea Baker", "Bob Builder"}
    assert api.get(f"/workspaces/{ws}/members", q="nobody-like-this", expect=200) == []


def test_search_lists_only_this_workspaces_members(api, ws, crew):
    assert api.get(f"/workspaces/{ws}/members", q="olaf", expect=200) == []
    everyone = api.get(f"/workspaces/{ws}/members", q="", expect=200)
    assert "Olaf Outsider" not in names(everyone)
    assert {"Bob Builder", "Bea Baker"} <= set(names(everyone))


def test_search_answers_at_most_ten(api, ws, make_user):
    for n in range(12):
        user, _ = make_user(name=f"Crew Mate {n:02}")
        api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": "member"})
    found = api.get(f"/workspaces/{ws}/members", q="crew mate", expect=200)
    assert len(found) == 10
    assert len(api.get(f"/workspaces/{ws}/members", expect=200)) == 13  # no q: everyone


def test_two_members_with_one_local_part_are_offered_by_whole_address(api, ws, runtime):
    local = f"sam{uuid.uuid4().hex[:8]}"
    for domain in ("north.example.com", "south.example.com"):
        user = users.create_user(runtime, f"{local}@{domain}", name="Sam Same", password=None)
        api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": "member"})
    found = api.get(f"/workspaces/{ws}/members", q=local, expect=200)
    assert sorted(row["handle"] for row in found) == [
        f"{local}@north.example.com",
        f"{local}@south.example.com",
    ]


def test_non_members_get_404_from_the_api(ws, crew, make_user, as_user):
    _, token = make_user(name="Stranger")
    stranger = as_user(token)
    stranger.get(f"/workspaces/{ws}/members", q="bob", expect=404)


def test_the_comment_box_asks_the_fragment_and_non_members_get_404(client, runtime, ws, crew):
    owner = page_user(runtime, "Olivia Owner")
    principal = Principal(owner["id"], owner["email"])
    own = workspaces.create(runtime, principal, "Shop")["id"]
    acc = workspaces.access(runtime, principal, own)
    workspaces.add_member(runtime, acc, crew["bob"]["email"], "member")
    log_in(client, owner)

    fragment = client.get(f"/w/{own}/mentions", params={"q": "bui"})
    assert fragment.status_code == 200
    assert fragment.text.count('role="option"') == 1
    assert f'data-handle="{crew["bob"]["email"].split("@")[0]}"' in fragment.text
    assert "Bob Builder" in fragment.text and crew["bob"]["email"] in fragment.text
    assert "<html" not in fragment.text

    none = client.get(f"/w/{own}/mentions", params={"q": "<b>zz"})
    assert "No member matches" in none.text and "<b>zz" not in none.text

    assert client.get(f"/w/{ws}/mentions", params={"q": "bob"}).status_code == 404
