"""Dedupe rules on writes: block, update (merge) and warn, on create and on edit, through the
API single and bulk paths; keys of records on file; delete and restore."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from workspace.errors import DuplicateFound
from workspace.records import match_keys, records
from workspace.schema.definitions import open_type


@pytest.fixture
def people(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(
        api,
        ws,
        "Person",
        field("Name", "text"),
        field("Email", "email"),
        field("Phone", "phone"),
        field("City", "text"),
    )
    return {
        "rt": rt,
        "path": records_path(ws, rt),
        "rules": f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
    }


def rule(api: Api, people: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body = {"rule": "email", "fields": ["email"], **spec}
    return api.post(people["rules"], body, expect=201)


def names(api: Api, people: dict[str, Any]) -> list[str]:
    return sorted(r["fields"]["name"] for r in api.get(people["path"], limit=200)["items"])


def test_block_refuses_the_same_email_in_another_spelling(api, people):
    rule(api, people, on_create="block")
    first = api.post(
        people["path"], {"fields": {"name": "Ada", "email": "ada.lovelace@gmail.com"}}, expect=201
    )
    body = api.post(
        people["path"],
        {"fields": {"name": "Ada L", "email": " AdaLovelace+crm@GoogleMail.com "}},
        expect=409,
    )
    assert body["error"]["code"] == "duplicate"
    assert body["error"]["record"] == first["id"]
    assert body["error"]["fields"] == {"email": f"matches record {first['id']} (Email address)"}
    assert names(api, people) == ["Ada"]


def test_update_merges_into_the_record_on_file_by_policy(api, people):
    rule(api, people, on_create="update", merge_policy={"city": "overwrite"})
    first = api.post(
        people["path"],
        {"fields": {"name": "Ada", "email": "ada@x.org", "city": "London"}},
        expect=201,
    )
    merged = api.post(
        people["path"],
        {
            "fields": {
                "name": "Augusta",
                "email": "ADA@x.org",
                "phone": "+44 20 7946 0958",
                "city": "Paris",
            }
        },
        expect=200,
    )
    assert merged["merged_into"] == first["id"] and merged["id"] == first["id"]
    # name: fill empty (default) keeps "Ada"; phone was empty so it is filled; city overwrites
    assert merged["fields"] == {
        "name": "Ada",
        "email": "ada@x.org",
        "phone": "+442079460958",
        "city": "Paris",
    }
    history = api.get(f"{people['path']}/{first['id']}/activity")["items"]
    assert history[0]["action"] == "update"
    assert {c["field"] for c in history[0]["changes"]} == {"phone", "city"}
    assert names(api, people) == ["Ada"]


def test_warn_creates_and_lists_the_candidates(api, people, ws):
    rule(api, people, on_create="warn")
    first = api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    second = api.post(
        people["path"], {"fields": {"name": "Ada 2", "email": "ada@x.org"}}, expect=201
    )
    assert second["duplicates"] == [
        {"record": first["id"], "rule": "email", "score": 1.0, "reasons": ["same email address"]}
    ]
    assert names(api, people) == ["Ada", "Ada 2"]


def test_an_edit_that_makes_a_duplicate_is_caught(api, people):
    rule(api, people, on_create="block", on_update="block")
    api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    bob = api.post(people["path"], {"fields": {"name": "Bob", "email": "bob@x.org"}}, expect=201)
    body = api.patch(
        f"{people['path']}/{bob['id']}", {"fields": {"email": "Ada@X.org"}}, expect=409
    )
    assert body["error"]["code"] == "duplicate"
    assert api.get(f"{people['path']}/{bob['id']}")["fields"]["email"] == "bob@x.org"
    # an edit that leaves the email alone is not re-checked against itself
    api.patch(f"{people['path']}/{bob['id']}", {"fields": {"name": "Robert"}}, expect=200)


def test_bulk_block_reports_each_item(api, people):
    rule(api, people, on_create="block")
    api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    items = [
        {"fields": {"name": "Dup of Ada", "email": "ADA@x.org"}},
        {"fields": {"name": "Bob", "email": "bob@x.org"}},
        {"fields": {"name": "Bob again", "email": "bob@X.org"}},
    ]
    result = api.post(f"{people['path']}/bulk", {"items": items, "atomic": False}, expect=200)
    assert [r["status"] for r in result["results"]] == ["error", "created", "error"]
    assert result["results"][0]["error"]["code"] == "duplicate"
    assert "item 1 of this batch" in result["results"][2]["error"]["message"]
    assert names(api, people) == ["Ada", "Bob"]


def test_bulk_update_folds_repeated_rows_into_one_record(api, people):
    rule(api, people, on_create="update")
    items = [
        {"fields": {"name": "Bob", "email": "bob@x.org"}},
        {"fields": {"email": "BOB@x.org", "city": "Oslo"}},
        {"fields": {"email": "bob@x.org", "phone": "+47 22 12 34 56"}},
    ]
    result = api.post(f"{people['path']}/bulk", {"items": items}, expect=200)
    assert [r["status"] for r in result["results"]] == ["created", "merged", "merged"]
    only = api.get(people["path"])["items"]
    assert len(only) == 1
    assert only[0]["fields"] == {
        "name": "Bob",
        "email": "bob@x.org",
        "phone": "+4722123456",
        "city": "Oslo",
    }


def test_adding_a_rule_keys_the_records_on_file(api, people, ws):
    older = api.post(people["path"], {"fields": {"name": "Old", "email": "same@x.org"}}, expect=201)
    api.post(people["path"], {"fields": {"name": "New", "email": "SAME@x.org"}}, expect=201)
    rule(api, people, on_create="block")
    body = api.post(
        people["path"], {"fields": {"name": "Third", "email": "same@x.org"}}, expect=409
    )
    assert body["error"]["record"] == older["id"]


def test_deleting_frees_the_customer_and_restoring_clashes(api, people):
    rule(api, people, on_create="block")
    ada = api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    api.delete(f"{people['path']}/{ada['id']}", expect=204)
    again = api.post(
        people["path"], {"fields": {"name": "Ada again", "email": "ada@x.org"}}, expect=201
    )
    body = api.post(f"{people['path']}/{ada['id']}/restore", expect=409)
    assert body["error"]["code"] == "duplicate" and body["error"]["record"] == again["id"]
    api.get(f"{people['path']}/{ada['id']}", expect=404)


def test_check_finds_duplicates_without_writing(api, people):
    rule(api, people, on_create="block")
    ada = api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    found = api.post(f"{people['path']}/check", {"fields": {"email": "ADA@x.org"}}, expect=200)
    assert found["duplicates"] == [
        {
            "record": ada["id"],
            "rule": "email",
            "score": 1.0,
            "reasons": ["same email address"],
            "mode": "block",
        }
    ]
    mine = api.post(
        f"{people['path']}/check",
        {"fields": {"email": "ada@x.org"}, "record": ada["id"]},
        expect=200,
    )
    assert mine["duplicates"] == []
    assert names(api, people) == ["Ada"]


@pytest.mark.parametrize(
    "spec, field, reason",
    [
        ({"rule": "nope", "fields": ["email"]}, "rule", "must be one of"),
        ({"rule": "email", "fields": ["city", "name"]}, "fields", "must list 1 to 1 field keys"),
        ({"rule": "email", "fields": ["ghost"]}, "fields", "is not a field"),
        ({"rule": "phone", "fields": ["email"]}, "fields", "is not a"),
        (
            {"rule": "email", "fields": ["email"], "on_create": "maybe"},
            "on_create",
            "must be one of",
        ),
        (
            {"rule": "email", "fields": ["email"], "on_update": "update"},
            "on_update",
            "must be one of",
        ),
        (
            {"rule": "contact", "fields": ["name", "email"], "on_create": "block"},
            "on_create",
            "fuzzy",
        ),
        ({"rule": "email", "fields": ["email"], "threshold": 0.5}, "threshold", "only fuzzy"),
        (
            {"rule": "email", "fields": ["email"], "merge_policy": {"city": "always"}},
            "merge_policy",
            "overwrite",
        ),
    ],
)
def test_bad_rule_configs_name_the_problem(api, people, spec, field, reason):
    body = api.post(people["rules"], spec, expect=422)
    assert reason in body["error"]["fields"][field]
    assert api.get(people["rules"], expect=200) == []


def test_changing_and_deleting_a_rule(api, people):
    made = rule(api, people, on_create="block")
    api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    changed = api.patch(f"{people['rules']}/{made['id']}", {"on_create": "warn"}, expect=200)
    assert changed["on_create"] == "warn"
    api.post(people["path"], {"fields": {"name": "Ada 2", "email": "ada@x.org"}}, expect=201)
    api.patch(f"{people['rules']}/{made['id']}", {"on_create": "block"}, expect=200)
    api.post(people["path"], {"fields": {"name": "Ada 3", "email": "ada@x.org"}}, expect=409)
    api.delete(f"{people['rules']}/{made['id']}", expect=204)
    api.post(people["path"], {"fields": {"name": "Ada 3", "email": "ada@x.org"}}, expect=201)


def test_viewers_and_members_cannot_configure_rules(api, people, ws, make_user, as_user):
    user, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": "member"}, expect=201)
    as_user(token).post(people["rules"], {"rule": "email", "fields": ["email"]}, expect=403)


def test_deleting_a_field_deletes_the_rules_on_it(api, people):
    rule(api, people, on_create="block")
    api.post(people["path"], {"fields": {"name": "Ada", "email": "ada@x.org"}}, expect=201)
    email = next(f for f in people["rt"]["fields"] if f["key"] == "email")
    api.delete(
        f"/workspaces/{people['rt']['workspace']}/types/{people['rt']['id']}/fields/{email['id']}",
        expect=204,
    )
    assert api.get(people["rules"]) == []
    api.post(people["path"], {"fields": {"name": "Ada"}}, expect=201)


def test_an_entry_path_can_bring_its_own_policy_but_not_weaken_enforced_rules(
    api, people, runtime, access
):
    """What a public form does: its duplicate policy replaces the rules' modes for it."""
    made = rule(api, people, on_create="warn")
    first = api.post(
        people["path"],
        {"fields": {"name": "Ada", "email": "ada@x.org", "city": "Oslo"}},
        expect=201,
    )
    _, rt = open_type(runtime, access.principal, access.workspace_id, people["rt"]["id"])
    fill_only = match_keys.Override("update", policy="overwrite", protect=frozenset({"city"}))
    merged = records.create(
        runtime,
        access,
        rt,
        {"name": "Ada L", "email": "ada@x.org", "city": "Paris"},
        override=fill_only,
    )
    assert merged["merged_into"] == first["id"]
    assert merged["fields"]["name"] == "Ada L" and merged["fields"]["city"] == "Oslo"

    api.patch(f"{people['rules']}/{made['id']}", {"on_create": "block"}, expect=200)
    _, rt = open_type(runtime, access.principal, access.workspace_id, people["rt"]["id"])
    with pytest.raises(DuplicateFound):
        records.create(
            runtime,
            access,
            rt,
            {"name": "Ada 3", "email": "ada@x.org"},
            override=match_keys.Override("off"),
        )
    assert names(api, people) == ["Ada L"]
