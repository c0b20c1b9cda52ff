"""Restrictive fields: a status or consent that only tightens on every automatic path, and
that only an admin editing the record, with a reason, may loosen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from tests.test_automations import add, runs_of
from tests.test_field_ownership import add_connection, as_connection
from tests.test_forms import configure, send, stored
from tests.test_imports import run, upload
from workspace.connectors import ownership
from workspace.forms import forms
from workspace.jobs.worker import run_until_idle
from workspace.records import records
from workspace.schema.definitions import get_type

STATUSES = ["Active", "Marketing suspended", "Email invalid", "Blacklisted"]


@pytest.fixture
def contacts(api: Api, ws: int) -> dict[str, Any]:
    """Contacts with a restrictive status and consent, an email rule that updates the record
    on file, and Ada on file: Blacklisted, consent off."""
    rt, made = make_type(
        api,
        ws,
        "Contact",
        field("Name", "text"),
        field("Email", "email"),
        field("City", "text"),
        field("Status", "single_choice", choices=STATUSES, restrictive=True),
        field("Consent", "checkbox", restrictive=True),
        rows=[
            {
                "name": "Ada",
                "email": "ada@example.org",
                "status": "Blacklisted",
                "consent": False,
            }
        ],
    )
    base = f"/workspaces/{ws}/types/{rt['id']}"
    api.post(
        f"{base}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "block"},
        expect=201,
    )
    return {"rt": rt, "ws": ws, "base": base, "path": records_path(ws, rt), "ada": made[0]}


def fields_of(api: Api, contacts: dict[str, Any], record_id: int) -> dict[str, Any]:
    return api.get(f"{contacts['path']}/{record_id}", expect=200)["fields"]


def field_id(api: Api, contacts: dict[str, Any], key: str) -> int:
    found = [f["id"] for f in api.get(contacts["base"])["fields"] if f["key"] == key]
    return int(found[0])


def member_api(api: Api, ws: int, make_user: Any, as_user: Any, role: str = "member") -> Api:
    user, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": role}, expect=201)
    return as_user(token)  # type: ignore[no-any-return]


# ---- the config ------------------------------------------------------------------------


def test_the_config_says_which_fields_can_be_restrictive(api, ws, contacts):
    types = f"/workspaces/{ws}/types"
    body = api.post(
        types,
        {"name": "Bad", "fields": [field("Note", "text", restrictive=True)]},
        expect=422,
    )
    reason = body["error"]["fields"]["fields[0].config.restrictive"]
    assert "cannot be restrictive" in reason and "single choice" in reason
    body = api.post(
        types,
        {"name": "Bad", "fields": [field("S", "single_choice", choices=["A"], restrictive=True)]},
        expect=422,
    )
    assert "at least two choices" in body["error"]["fields"]["fields[0].config.restrictive"]
    body = api.post(
        types,
        {"name": "Bad", "fields": [field("S", "checkbox", restrictive="yes")]},
        expect=422,
    )
    assert body["error"]["fields"]["fields[0].config.restrictive"] == "must be true or false"
    assert [t["name"] for t in api.get(types) if t["name"] == "Bad"] == []
    # Marking an existing field works the same way, through a field change.
    city = f"{contacts['base']}/fields/{field_id(api, contacts, 'city')}"
    body = api.patch(city, {"config": {"restrictive": True}}, expect=422)
    assert "cannot be restrictive" in body["error"]["fields"]["config.restrictive"]
    status = f"{contacts['base']}/fields/{field_id(api, contacts, 'status')}"
    api.patch(status, {"config": {"restrictive": None}}, expect=200)
    api.patch(status, {"config": {"restrictive": True}}, expect=200)
    assert api.get(contacts["base"])["fields"][3]["config"]["restrictive"] is True


# ---- automatic paths keep the value on file and say so ---------------------------------


def test_a_returning_form_post_keeps_blacklisted_and_consent_off(runtime, access, api, contacts):
    form = forms.create_form(runtime, access, contacts["rt"]["id"], "Newsletter")
    shown = [{"key": k, "label": k.title()} for k in ("name", "email", "city", "status")]
    shown.append({"key": "consent", "label": "Yes, send me news"})
    configure(runtime, access, form, fields=shown, policy="update")
    answer = send(
        runtime,
        form["slug"],
        {
            "name": "Ada",
            "email": "ADA@example.org",
            "city": "Paris",
            "status": "Active",
            "consent": ["false", "true"],
        },
    )
    assert answer.outcome == "updated"
    ada = fields_of(api, contacts, contacts["ada"]["id"])
    assert (ada["status"], ada["consent"], ada["city"]) == ("Blacklisted", False, "Paris")
    [sub] = stored(runtime, access, form)
    assert sub["outcome"] == "updated"
    assert "kept Status Blacklisted" in sub["reason"]
    assert "kept Consent unticked" in sub["reason"]
    assert sub["payload"]["status"] == "Active"  # the payload is kept as it came


def test_an_import_row_keeps_blacklisted_and_the_row_says_so(api, ws, contacts):
    csv = "Name,Email,City,Status,Consent\nAda,ada@example.org,Paris,Active,yes\n"
    made = upload(api, ws, contacts["rt"], csv)
    done = run(api, ws, contacts["rt"], made, policy="update")
    assert done["counts"]["updated"] == 1
    ada = fields_of(api, contacts, contacts["ada"]["id"])
    assert (ada["status"], ada["consent"], ada["city"]) == ("Blacklisted", False, "Paris")
    path = f"{contacts['base']}/imports/{made['id']}/rows"
    [row] = api.get(path, expect=200)["items"]
    assert row["outcome"] == "updated" and row["record"] == contacts["ada"]["id"]
    assert "kept Status Blacklisted" in row["detail"]["message"]
    assert row["detail"]["kept"] == {"status": "Blacklisted", "consent": False}


def test_an_api_create_merged_by_an_update_rule_reports_what_it_kept(api, contacts):
    body = {"fields": {"email": "ada@example.org", "status": "Email invalid", "consent": True}}
    answer = api.post(contacts["path"], body, expect=200)
    assert answer["merged_into"] == contacts["ada"]["id"]
    assert answer["kept"] == {"status": "Blacklisted", "consent": False}
    assert fields_of(api, contacts, contacts["ada"]["id"])["status"] == "Blacklisted"


def test_automatic_paths_still_tighten(api, contacts):
    bob = api.post(
        contacts["path"],
        {"fields": {"email": "bob@example.org", "status": "Active", "consent": True}},
        expect=201,
    )
    body = {"fields": {"email": "bob@example.org", "status": "Email invalid", "consent": False}}
    answer = api.post(contacts["path"], body, expect=200)
    assert answer["merged_into"] == bob["id"] and "kept" not in answer
    bob_now = fields_of(api, contacts, bob["id"])
    assert (bob_now["status"], bob_now["consent"]) == ("Email invalid", False)


# ---- people: members are refused, admins give a reason --------------------------------


def test_a_member_cannot_loosen_and_is_told_who_can(api, ws, contacts, make_user, as_user):
    member = member_api(api, ws, make_user, as_user)
    path = f"{contacts['path']}/{contacts['ada']['id']}"
    body = member.patch(path, {"fields": {"status": "Active", "city": "Rome"}}, expect=409)
    error = body["error"]
    assert error["code"] == "field_restrictive"
    assert "Status is Blacklisted" in error["message"] and "only an admin" in error["message"]
    assert error["restrictive"]["status"] == {"current": "Blacklisted", "sent": "Active"}
    member.patch(path, {"fields": {"status": "Active"}, "reason": "asked"}, expect=409)
    body = member.patch(path, {"fields": {"consent": True}}, expect=409)
    assert "Consent is unticked" in body["error"]["message"]
    assert fields_of(api, contacts, contacts["ada"]["id"])["city"] is None  # nothing written
    bob = member.post(contacts["path"], {"fields": {"status": "Active"}}, expect=201)
    bob_path = f"{contacts['path']}/{bob['id']}"
    member.patch(bob_path, {"fields": {"status": "Marketing suspended"}}, expect=200)


def test_bulk_updates_cannot_loosen_even_for_an_admin(api, contacts):
    body = {
        "mode": "update",
        "items": [{"id": contacts["ada"]["id"], "fields": {"status": "Active"}}],
    }
    result = api.post(f"{contacts['path']}/bulk", body, expect=422)
    assert result["results"][0]["error"]["code"] == "field_restrictive"


def test_an_admin_loosens_with_a_reason_kept_in_the_history(api, contacts):
    path = f"{contacts['path']}/{contacts['ada']['id']}"
    body = api.patch(path, {"fields": {"status": "Active"}}, expect=422)
    assert (
        "is needed to loosen Status from Blacklisted to Active" in body["error"]["fields"]["reason"]
    )
    why = "confirmed by phone: the customer asked to be contacted again"
    record = api.patch(
        path, {"fields": {"status": "Active", "consent": True}, "reason": why}, expect=200
    )
    assert (record["fields"]["status"], record["fields"]["consent"]) == ("Active", True)
    [latest, *_] = api.get(f"{path}/activity")["items"]
    changes = {c["field"]: c for c in latest["changes"]}
    assert changes["status"]["old"] == "Blacklisted" and changes["status"]["reason"] == why
    assert changes["consent"]["reason"] == why


# ---- connectors -----------------------------------------------------------------------


def test_a_connection_that_owns_the_field_may_loosen_it_and_others_may_not(
    api, ws, runtime, access, contacts
):
    mailchimp = add_connection(runtime, ws, "Mailchimp")
    hubspot = add_connection(runtime, ws, "HubSpot", "hubspot")
    rt = get_type(runtime, access, contacts["rt"]["id"])
    ownership.set_owner(runtime, access, rt, "consent", mailchimp)
    rt = get_type(runtime, access, contacts["rt"]["id"])
    ada = contacts["ada"]["id"]
    # HubSpot does not own Status: its sync keeps Blacklisted and says so.
    synced = records.update_record(
        runtime, as_connection(access, hubspot), rt, ada, {"status": "Active", "city": "Oslo"}
    )
    assert synced["kept"] == {"status": "Blacklisted"}
    assert (synced["fields"]["status"], synced["fields"]["city"]) == ("Blacklisted", "Oslo")
    # Mailchimp owns consent: the person opted in again there, and that is the authority.
    done = records.update_record(
        runtime, as_connection(access, mailchimp), rt, ada, {"consent": True}
    )
    assert done["fields"]["consent"] is True and "kept" not in done


# ---- merges --------------------------------------------------------------------------


def test_a_merge_keeps_the_most_restrictive_values_and_undo_restores_both(api, contacts):
    # A second Ada kept apart by a person (the rule would have merged her on create).
    api.patch(
        f"{contacts['base']}/dedupe-rules/" + str(rules(api, contacts)[0]["id"]),
        {"on_create": "warn", "on_update": "warn"},
        expect=200,
    )
    active = api.post(
        contacts["path"],
        {
            "fields": {
                "name": "Ada L.",
                "email": "ada@example.org",
                "status": "Active",
                "consent": True,
            }
        },
        expect=201,
    )
    blacklisted = contacts["ada"]
    done = api.post(
        f"{contacts['base']}/merges",
        {"survivor": active["id"], "loser": blacklisted["id"]},
        expect=201,
    )
    survivor = fields_of(api, contacts, active["id"])
    assert (survivor["status"], survivor["consent"]) == ("Blacklisted", False)
    api.post(f"{contacts['base']}/merges/{done['id']}/undo", expect=200)
    back = fields_of(api, contacts, active["id"])
    assert (back["status"], back["consent"], back["name"]) == ("Active", True, "Ada L.")
    loser = fields_of(api, contacts, blacklisted["id"])
    assert (loser["status"], loser["consent"], loser["name"]) == ("Blacklisted", False, "Ada")


def test_a_merge_override_cannot_loosen(api, contacts):
    api.patch(
        f"{contacts['base']}/dedupe-rules/" + str(rules(api, contacts)[0]["id"]),
        {"on_create": "warn", "on_update": "warn"},
        expect=200,
    )
    active = api.post(contacts["path"], {"fields": {"status": "Active"}}, expect=201)
    body = {
        "survivor": contacts["ada"]["id"],
        "loser": active["id"],
        "values": {"status": "loser"},
    }
    error = api.post(f"{contacts['base']}/merges", body, expect=409)["error"]
    assert error["code"] == "field_restrictive"
    assert fields_of(api, contacts, active["id"])["status"] == "Active"  # nothing merged


def rules(api: Api, contacts: dict[str, Any]) -> list[dict[str, Any]]:
    return api.get(f"{contacts['base']}/dedupe-rules")


# ---- automations -----------------------------------------------------------------------


def test_an_automation_cannot_loosen_and_its_run_says_why(api, ws, contacts, runtime):
    auto = add(
        api,
        ws,
        contacts["rt"],
        {"type": "record_updated"},
        {"type": "set_fields", "values": {"status": "Active"}},
        name="Reactivate",
    )
    path = f"{contacts['path']}/{contacts['ada']['id']}"
    api.patch(path, {"fields": {"city": "Oslo"}}, expect=200)
    run_until_idle(runtime)
    assert fields_of(api, contacts, contacts["ada"]["id"])["status"] == "Blacklisted"
    (done,) = runs_of(api, ws, auto)
    detail = api.get(f"/workspaces/{ws}/automations/runs/{done['id']}")
    text = str(detail)
    assert done["state"] != "done"
    assert "Status is Blacklisted" in text and "only an admin" in text


# ---- propagation across duplicates kept apart ------------------------------------------


def keep_apart(api: Api, contacts: dict[str, Any], **option: Any) -> Any:
    rule = rules(api, contacts)[0]
    body = {"on_create": "warn", "on_update": "warn", **option}
    return api.patch(f"{contacts['base']}/dedupe-rules/{rule['id']}", body)


def test_a_tightened_value_propagates_to_every_record_of_the_person(api, contacts):
    changed = keep_apart(api, contacts, propagate_restrictive=True)
    assert changed["propagate_restrictive"] is True
    ada = contacts["ada"]
    at_acme = api.post(
        contacts["path"],
        {"fields": {"email": "Grace@Example.org", "status": "Active", "consent": True}},
        expect=201,
    )
    at_globex = api.post(
        contacts["path"],
        {"fields": {"email": "grace@example.org", "status": "Active", "consent": True}},
        expect=201,
    )
    other = api.post(
        contacts["path"], {"fields": {"email": "bob@example.org", "consent": True}}, expect=201
    )
    # Grace opts out on one record: her other record follows; Bob does not.
    api.patch(f"{contacts['path']}/{at_acme['id']}", {"fields": {"consent": False}}, expect=200)
    assert fields_of(api, contacts, at_globex["id"])["consent"] is False
    assert fields_of(api, contacts, other["id"])["consent"] is True
    # A tighter status travels; a record already tighter keeps its own value.
    api.patch(f"{contacts['path']}/{at_globex['id']}", {"fields": {"status": "Email invalid"}})
    assert fields_of(api, contacts, at_acme["id"])["status"] == "Email invalid"
    assert fields_of(api, contacts, at_globex["id"])["status"] == "Email invalid"
    assert fields_of(api, contacts, ada["id"])["status"] == "Blacklisted"  # not Grace
    history = api.get(f"{contacts['path']}/{at_globex['id']}/activity")["items"]
    [change] = [c for h in history for c in h["changes"] if c["field"] == "consent"][:1]
    assert change["old"] is True and not change["new"]
    assert change["reason"] == f"propagated from #{at_acme['id']} by rule Email address"


def test_a_new_record_of_a_person_on_file_takes_their_tightest_values(api, contacts):
    keep_apart(api, contacts, propagate_restrictive=True)
    ada = contacts["ada"]
    at_globex = api.post(
        contacts["path"],
        {"fields": {"email": "ada@example.org", "status": "Active", "consent": True}},
        expect=201,
    )
    assert (at_globex["fields"]["status"], at_globex["fields"]["consent"]) == ("Blacklisted", False)
    [created] = api.get(f"{contacts['path']}/{at_globex['id']}/activity")["items"]
    reasons = {c["field"]: c.get("reason") for c in created["changes"]}
    assert reasons["status"] == f"propagated from #{ada['id']} by rule Email address"
    assert reasons["email"] is None  # (an unticked box is no change on a create: not listed)


def test_without_the_option_nothing_propagates(api, contacts):
    keep_apart(api, contacts)
    twin = api.post(
        contacts["path"], {"fields": {"email": "ada@example.org", "consent": True}}, expect=201
    )
    api.patch(f"{contacts['path']}/{twin['id']}", {"fields": {"status": "Blacklisted"}}, expect=200)
    other = api.post(
        contacts["path"],
        {"fields": {"email": "ada@example.org", "status": "Active", "consent": True}},
        expect=201,
    )
    api.patch(f"{contacts['path']}/{twin['id']}", {"fields": {"consent": False}}, expect=200)
    assert fields_of(api, contacts, other["id"])["consent"] is True


def test_the_propagation_option_is_validated(api, ws, contacts):
    body = keep_apart(api, contacts, propagate_restrictive="yes")
    assert api.last.status_code == 422
    assert body["error"]["fields"]["propagate_restrictive"] == "must be true or false"
    plain, _ = make_type(api, ws, "Lead", field("Email", "email"), field("Phone", "phone"))
    base = f"/workspaces/{ws}/types/{plain['id']}/dedupe-rules"
    body = api.post(
        base, {"rule": "email", "fields": ["email"], "propagate_restrictive": True}, expect=422
    )
    assert "no restrictive field" in body["error"]["fields"]["propagate_restrictive"]
    body = api.post(
        base, {"rule": "phone", "fields": ["phone"], "propagate_restrictive": True}, expect=422
    )
    assert "email field" in body["error"]["fields"]["propagate_restrictive"]
    assert api.get(base) == []
