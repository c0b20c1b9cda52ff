"""Dedupe rules across record types: a Lead and a Contact of the same person, through every
entry path (API single, bulk and upsert, a public form, a CSV import), the records on file
when the rule is added, the review queue, and bad rule configs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import PREFIX, Api, field, make_type, records_path
from workspace.forms import forms, intake, tokens
from workspace.web.fields import field_value

SAME = "ada.lovelace@gmail.com"
SAME_SPELT_OTHERWISE = " AdaLovelace+crm@GoogleMail.com "


@pytest.fixture
def crm(api: Api, ws: int) -> dict[str, Any]:
    lead, _ = make_type(
        api, ws, "Lead", field("Name", "text"), field("Email", "email"), field("Phone", "phone")
    )
    contact, _ = make_type(
        api,
        ws,
        "Contact",
        field("Full name", "text"),
        field("Email", "email"),
        field("Mobile", "phone"),
        field("Notes", "text"),
    )
    return {
        "ws": ws,
        "lead": lead,
        "contact": contact,
        "leads": records_path(ws, lead),
        "contacts": records_path(ws, contact),
        "spans": f"/workspaces/{ws}/dedupe-spans",
    }


def span(api: Api, crm: dict[str, Any], lead: str = "warn", contact: str = "block") -> Any:
    body = {
        "rule": "email",
        "types": [
            {
                "type": crm["lead"]["id"],
                "fields": ["email"],
                "on_create": lead,
                "on_update": "warn",
            },
            {
                "type": crm["contact"]["id"],
                "fields": ["email"],
                "on_create": contact,
                "on_update": "block",
            },
        ],
    }
    return api.post(crm["spans"], body, expect=201)


def warning(crm: dict[str, Any], contact_id: int) -> dict[str, Any]:
    return {
        "record": contact_id,
        "record_type": crm["contact"]["id"],
        "rule": "email",
        "score": 1.0,
        "reasons": [f"a Contact with this email address exists: #{contact_id}"],
    }


def queue(api: Api, crm: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    path = f"/workspaces/{crm['ws']}/types/{crm[kind]['id']}/duplicates"
    return api.get(path, limit=200)["items"]


def test_a_lead_with_a_contacts_email_is_created_with_a_warning(api, crm):
    span(api, crm)
    ada = api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    lead = api.post(
        crm["leads"], {"fields": {"name": "Ada L", "email": SAME_SPELT_OTHERWISE}}, expect=201
    )
    assert lead["duplicates"] == [warning(crm, ada["id"])]
    check = f"/workspaces/{crm['ws']}/types/{crm['lead']['id']}/records/check"
    found = api.post(check, {"fields": {"email": SAME}}, expect=200)["duplicates"]
    assert {**warning(crm, ada["id"]), "mode": "warn"} in found
    # The pair is in the queue of both types, naming both types.
    for kind in ("lead", "contact"):
        [pair] = queue(api, crm, kind)
        sides = {
            (pair["a"]["record_type"], pair["a"]["id"]),
            (pair["b"]["record_type"], pair["b"]["id"]),
        }
        assert sides == {(crm["lead"]["id"], lead["id"]), (crm["contact"]["id"], ada["id"])}
        assert pair["cross_type"] is True


def test_a_contact_with_another_contacts_email_is_refused_naming_it(api, crm):
    span(api, crm)
    ada = api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    body = api.post(
        crm["contacts"],
        {"fields": {"full_name": "Ada 2", "email": SAME_SPELT_OTHERWISE}},
        expect=409,
    )
    message = f"a Contact with this email address exists: #{ada['id']}"
    assert body["error"]["code"] == "duplicate"
    assert body["error"]["record"] == ada["id"]
    assert body["error"]["fields"] == {"email": message}
    assert len(api.get(crm["contacts"])["items"]) == 1


def test_a_contact_is_created_over_a_lead_and_names_it(api, crm):
    """Only an enforcing type's record refuses a Contact: a Lead on file is a pair to review
    (converting it is the way to one record)."""
    span(api, crm)
    lead = api.post(crm["leads"], {"fields": {"name": "Ada", "email": SAME}}, expect=201)
    ada = api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    assert ada["duplicates"] == [
        {
            "record": lead["id"],
            "record_type": crm["lead"]["id"],
            "rule": "email",
            "score": 1.0,
            "reasons": [f"a Lead with this email address exists: #{lead['id']}"],
        }
    ]
    assert len(queue(api, crm, "contact")) == 1


def test_an_edit_of_a_contact_to_another_contacts_email_is_refused(api, crm):
    span(api, crm)
    api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    bob = api.post(
        crm["contacts"], {"fields": {"full_name": "Bob", "email": "bob@x.org"}}, expect=201
    )
    api.patch(f"{crm['contacts']}/{bob['id']}", {"fields": {"email": SAME}}, expect=409)
    api.patch(f"{crm['contacts']}/{bob['id']}", {"fields": {"full_name": "Robert"}}, expect=200)


def test_bulk_checks_each_item_across_types(api, crm):
    span(api, crm)
    ada = api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    items = [
        {"fields": {"full_name": "Ada again", "email": SAME_SPELT_OTHERWISE}},
        {"fields": {"full_name": "Grace", "email": "grace@x.org"}},
        {"fields": {"full_name": "Grace twin", "email": "GRACE@x.org"}},
    ]
    result = api.post(f"{crm['contacts']}/bulk", {"items": items, "atomic": False}, expect=200)
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["error", "created", "error"]
    assert result["results"][0]["error"]["record"] == ada["id"]
    assert "item 1 of this batch" in result["results"][2]["error"]["message"]
    leads = api.post(
        f"{crm['leads']}/bulk",
        {"items": [{"fields": {"name": "Ada", "email": SAME}}]},
        expect=200,
    )
    [made] = leads["results"]
    assert made["status"] == "created" and made["duplicates"] == [warning(crm, ada["id"])]


def test_upsert_refuses_a_second_contact_and_queues_a_lead(api, crm):
    span(api, crm)
    for kind in ("lead", "contact"):
        path = f"/workspaces/{crm['ws']}/types/{crm[kind]['id']}/fields"
        api.post(path, field("Ref", "text", unique=True), expect=201)
    ada = api.post(crm["contacts"], {"fields": {"ref": "c1", "email": SAME}}, expect=201)
    body = {"match_on": "ref", "fields": {"ref": "c2", "email": SAME}}
    api.post(f"{crm['contacts']}/upsert", body, expect=409)
    body = {"match_on": "ref", "fields": {"ref": "l1", "email": SAME}}
    made = api.post(f"{crm['leads']}/upsert", body)
    # An upsert answers with the record alone (as under a type's own rules); the pair is queued.
    [pair] = queue(api, crm, "lead")
    assert {pair["a"]["id"], pair["b"]["id"]} == {made["id"], ada["id"]} and pair["cross_type"]


def test_a_form_post_for_a_contact_on_file_is_refused_and_kept(runtime, access, api, crm):
    span(api, crm)
    api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    form = forms.create_form(runtime, access, crm["contact"]["id"], "Contact us")
    config = {**form["config"], "fields": [{"key": "full_name"}, {"key": "email"}]}
    form = forms.update_form(runtime, access, form["id"], {"config": config})
    raw = {"_form_token": tokens.issue(runtime, form["id"]), "full_name": "Ada", "email": SAME}
    answer = intake.submit(runtime, form["slug"], raw, "198.51.100.7", field_value)
    assert answer.outcome == "refused"
    assert len(api.get(crm["contacts"])["items"]) == 1
    lead_form = forms.create_form(runtime, access, crm["lead"]["id"], "Newsletter")
    config = {**lead_form["config"], "fields": [{"key": "name"}, {"key": "email"}]}
    lead_form = forms.update_form(runtime, access, lead_form["id"], {"config": config})
    raw = {"_form_token": tokens.issue(runtime, lead_form["id"]), "name": "Ada", "email": SAME}
    answer = intake.submit(runtime, lead_form["slug"], raw, "198.51.100.7", field_value)
    assert answer.outcome == "created"
    assert len(queue(api, crm, "lead")) == 1


def test_an_import_row_for_a_contact_on_file_is_rejected_naming_it(api, crm):
    span(api, crm)
    ada = api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    lead = api.post(crm["leads"], {"fields": {"name": "Grace", "email": "grace@x.org"}})
    text = f"Full name,Email\nAda L,{SAME}\nGrace H,grace@x.org\n"
    response = api.client.post(
        f"{PREFIX}/workspaces/{crm['ws']}/types/{crm['contact']['id']}/imports",
        content=text.encode(),
        params={"name": "contacts.csv"},
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    made = response.json()
    base = f"/workspaces/{crm['ws']}/types/{crm['contact']['id']}/imports/{made['id']}"
    done = api.post(f"{base}/run", {"mapping": made["mapping"]}, expect=200)
    assert done["counts"]["created"] == 1
    rows = api.get(f"{base}/rows")["items"]
    refused = next(r for r in rows if r["record"] is None)
    assert f"a Contact with this email address exists: #{ada['id']}" in refused["detail"]["message"]
    assert any(
        {p["a"]["id"], p["b"]["id"]} >= {lead["id"]} and p["cross_type"]
        for p in queue(api, crm, "contact")
    )


def test_adding_the_rule_keys_the_records_on_file_and_queues_pairs(api, crm):
    lead = api.post(crm["leads"], {"fields": {"name": "Ada", "email": SAME}}, expect=201)
    ada = api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    twin = api.post(crm["contacts"], {"fields": {"full_name": "Ada 2", "email": SAME}}, expect=201)
    span(api, crm)
    pairs = queue(api, crm, "contact")
    found = {
        frozenset({(p["a"]["record_type"], p["a"]["id"]), (p["b"]["record_type"], p["b"]["id"])})
        for p in pairs
    }
    c, l_ = crm["contact"]["id"], crm["lead"]["id"]
    assert frozenset({(c, ada["id"]), (c, twin["id"])}) in found
    assert frozenset({(c, ada["id"]), (l_, lead["id"])}) in found
    # From now on, a third is refused, naming the oldest Contact on file.
    body = api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=409)
    assert body["error"]["record"] == ada["id"]


def test_changing_a_types_mode_and_deleting_the_rule(api, crm):
    made = span(api, crm)
    api.post(crm["contacts"], {"fields": {"full_name": "Ada", "email": SAME}}, expect=201)
    changed = api.patch(
        f"{crm['spans']}/{made['id']}",
        {"types": [{"type": crm["contact"]["id"], "on_create": "warn"}]},
        expect=200,
    )
    assert [t["on_create"] for t in changed["types"]] == ["warn", "warn"]
    second = api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=201)
    assert second["duplicates"][0]["reasons"][0].startswith("a Contact with this email")
    api.delete(f"{crm['spans']}/{made['id']}", expect=204)
    assert api.get(crm["spans"]) == []
    third = api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=201)
    assert "duplicates" not in third or third["duplicates"] == []


def test_the_rule_lists_its_types_and_field_mapping(api, crm):
    made = span(api, crm)
    assert made["rule"] == "email"
    assert [(t["name"], t["fields"], t["on_create"]) for t in made["types"]] == [
        ("Lead", ["email"], "warn"),
        ("Contact", ["email"], "block"),
    ]
    assert api.get(crm["spans"]) == [made]


@pytest.mark.parametrize(
    ("types", "where", "reason"),
    [
        (
            [("lead", ["email"]), ("contact", ["notes"])],
            "types",
            "Lead.email (email) and Contact.notes (text) are fields of different types",
        ),
        (
            [("lead", ["email"]), ("contact", ["mobile"])],
            "types[1].fields",
            "Contact.mobile is a phone field; the email rule reads email, text",
        ),
        ([("lead", ["email"])], "types", "must list at least two record types"),
        ([("lead", ["email"]), ("lead", ["email"])], "types", "lists a record type twice"),
        ([("lead", ["email"]), ("contact", ["nope"])], "types[1].fields", "'nope' is not a field"),
    ],
)
def test_bad_rule_configs_are_refused_naming_the_fields(api, crm, types, where, reason):
    body = {
        "rule": "email",
        "types": [{"type": crm[kind]["id"], "fields": keys} for kind, keys in types],
    }
    error = api.post(crm["spans"], body, expect=422)["error"]
    assert error["fields"][where].startswith(reason), error
    assert api.get(crm["spans"]) == []


def test_a_type_of_another_workspace_and_a_fuzzy_rule_are_refused(api, crm):
    other_ws = int(api.post("/workspaces", {"name": "Other"}, expect=201)["id"])
    stranger, _ = make_type(api, other_ws, "Contact", field("Email", "email"))
    body = {
        "rule": "email",
        "types": [
            {"type": crm["lead"]["id"], "fields": ["email"]},
            {"type": stranger["id"], "fields": ["email"]},
        ],
    }
    error = api.post(crm["spans"], body, expect=422)["error"]
    assert error["fields"]["types[1].type"] == (
        f"record type {stranger['id']} is not a record type of this workspace"
    )
    body["rule"] = "contact"
    error = api.post(crm["spans"], body, expect=422)["error"]
    assert error["fields"]["rule"].startswith("a rule across types must be exact")


def test_members_cannot_configure_rules_across_types(api, crm, make_user, as_user):
    user, token = make_user()
    api.post(f"/workspaces/{crm['ws']}/members", {"email": user["email"], "role": "member"})
    body = {"rule": "email", "types": [{"type": crm["lead"]["id"], "fields": ["email"]}] * 2}
    as_user(token).post(crm["spans"], body, expect=403)


def test_a_block_holds_across_two_enforcing_types_until_one_is_deleted(api, crm):
    customer, _ = make_type(api, crm["ws"], "Customer", field("Email", "email"))
    body = {
        "rule": "email",
        "types": [
            {"type": crm["lead"]["id"], "fields": ["email"], "on_create": "warn"},
            {"type": crm["contact"]["id"], "fields": ["email"], "on_create": "block"},
            {"type": customer["id"], "fields": ["email"], "on_create": "block"},
        ],
    }
    api.post(crm["spans"], body, expect=201)
    bought = api.post(records_path(crm["ws"], customer), {"fields": {"email": SAME}}, expect=201)
    error = api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=409)["error"]
    assert error["fields"]["email"] == (
        f"a Customer with this email address exists: #{bought['id']}"
    )
    api.delete(f"/workspaces/{crm['ws']}/types/{customer['id']}", expect=204)
    # The deleted type's keys neither block nor hold the index against the Contact.
    api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=201)


def test_a_field_a_rule_across_types_reads_is_not_deleted_under_it(api, crm):
    span(api, crm)
    fields = api.get(f"/workspaces/{crm['ws']}/types/{crm['contact']['id']}")["fields"]
    email = next(f for f in fields if f["key"] == "email")
    path = f"/workspaces/{crm['ws']}/types/{crm['contact']['id']}/fields/{email['id']}"
    error = api.delete(path, expect=409)["error"]
    assert error["message"].startswith("Email is read by a dedupe rule across Lead and Contact")
    api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=201)
    api.post(crm["contacts"], {"fields": {"email": SAME}}, expect=409)


def test_a_workspace_with_rules_across_types_is_not_moved_without_their_keys(api, crm):
    span(api, crm)
    path = f"/workspaces/{crm['ws']}/database/moves"
    error = api.post(path, {"target": "managed"}, expect=409)["error"]
    assert error["message"].startswith("a move does not take the keys of dedupe rules across")
