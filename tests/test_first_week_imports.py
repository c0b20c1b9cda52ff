"""The import pages render every outcome a row can have, and an import matches rows on a key
of its own choosing when the record type has no dedupe rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from tests.web import csrf, log_in, page_user
from workspace.access import auth, workspaces
from workspace.principal import Principal


@pytest.fixture
def crm(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Iris Importer")
    ws = workspaces.create(runtime, Principal(me["id"], me["email"]), "Shop")["id"]
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    rt, _ = make_type(
        api, ws, "Customer", field("Name", "text"), field("Email", "email"), field("City", "text")
    )
    log_in(client, me)
    return {"ws": ws, "rt": rt, "api": api, "base": f"/w/{ws}/t/{rt['id']}/imports"}


def rule(crm: dict[str, Any], on_create: str) -> None:
    crm["api"].post(
        f"/workspaces/{crm['ws']}/types/{crm['rt']['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": on_create, "on_update": "block"},
        expect=201,
    )


def on_file(crm: dict[str, Any], name: str, email: str, city: str = "") -> dict[str, Any]:
    body = {"fields": {"name": name, "email": email} | ({"city": city} if city else {})}
    made: dict[str, Any] = crm["api"].post(records_path(crm["ws"], crm["rt"]), body, expect=201)
    return made


def upload(client: Any, crm: dict[str, Any], text: str) -> str:
    response = client.post(
        crm["base"],
        data={"_csrf_token": csrf(client)},
        files={"file": ("people.csv", text.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def run(client: Any, location: str, policy: str, **extra: str) -> Any:
    data = {"_csrf_token": csrf(client), "column.0": "name", "column.1": "email"}
    data |= {"column.2": "city", "policy": policy, **extra}
    return client.post(location + "/run", data=data, follow_redirects=True)


def test_a_row_flagged_as_a_possible_duplicate_shows_on_the_result_page(client, crm):
    rule(crm, "warn")
    ada = on_file(crm, "Ada", "ada@example.org")
    page = run(client, upload(client, crm, "Name,Email,City\nAda L,ada@example.org,\n"), "rules")
    assert page.status_code == 200, page.text
    assert "Possible duplicate queued for review" in page.text
    assert f"/r/{ada['id']}" in page.text  # the record it may duplicate is one click away


@pytest.mark.parametrize(
    ("on_create", "policy", "row", "shown"),
    [
        (None, "rules", "Alan,alan@example.org,", "Created"),
        ("block", "update", "Ada L,ada@example.org,Paris", "Updated a record on file"),
        ("block", "fill_empty", "Ada,ada@example.org,Paris", "Updated a record on file"),
        ("block", "refuse", "Ada L,ada@example.org,", "matches record"),
        (None, "rules", "Bad,not-an-email,", "Rejected"),
        ("warn", "review", "Ada L,ada@example.org,", "Possible duplicate queued for review"),
    ],
)
def test_every_outcome_renders_on_the_result_page_and_its_filter(
    client, crm, on_create, policy, row, shown
):
    if on_create:
        rule(crm, on_create)
    on_file(crm, "Ada", "ada@example.org", "London")
    location = upload(client, crm, "Name,Email,City\n" + row + "\n")
    pending = client.get(location)
    assert pending.status_code == 200 and "Import 1 row" in pending.text
    page = run(client, location, policy)
    assert page.status_code == 200, page.text
    assert shown in page.text
    for outcome in ("created", "updated", "unchanged", "rejected", "pending"):
        filtered = client.get(location, params={"outcome": outcome})
        assert filtered.status_code == 200, (outcome, filtered.text)
    listed = client.get(crm["base"])  # the type's imports, this one counted
    assert listed.status_code == 200 and "people.csv" in listed.text


# ---- matching on a key of the import's choosing, without dedupe rules ------------------


@pytest.fixture
def unique_email(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(
        api,
        ws,
        "Lead",
        field("Name", "text"),
        field("Email", "email", unique=True),
        field("City", "text"),
    )
    return rt


def api_import(
    api: Api, ws: int, rt: dict[str, Any], text: str, expect: int = 200, **body: Any
) -> Any:
    made = api.client.post(
        f"/api/v1/workspaces/{ws}/types/{rt['id']}/imports",
        content=text.encode(),
        params={"name": "leads.csv"},
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert made.status_code == 201, made.text
    path = f"/workspaces/{ws}/types/{rt['id']}/imports/{made.json()['id']}/run"
    return api.post(path, {"mapping": made.json()["mapping"], **body}, expect=expect)


ADA_THREE_TIMES = (
    "Name,Email,City\nAda,ada@x.org,\nAda L,ADA@x.org,London\nA. Lovelace,Ada@X.Org,Paris\n"
)


def test_rows_differing_only_in_email_case_fill_one_record_without_rules(api, ws, unique_email):
    done = api_import(api, ws, unique_email, ADA_THREE_TIMES, policy="fill_empty", match_on="email")
    assert done["counts"] | {"pending": 0} == {
        "pending": 0,
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "rejected": 0,
    }
    [ada] = api.get(records_path(ws, unique_email), limit=10)["items"]
    assert ada["fields"] == {"name": "Ada", "email": "ada@x.org", "city": "London"}


def test_a_row_matching_a_record_on_file_by_the_key_follows_the_policy(api, ws, unique_email):
    path = records_path(ws, unique_email)
    bob = api.post(path, {"fields": {"name": "Bob", "email": "bob@x.org"}}, expect=201)
    text = "Name,Email,City\nRobert,BOB@x.org,Rome\nCy,cy@x.org,\n"
    done = api_import(api, ws, unique_email, text, policy="update", match_on="email")
    assert (done["counts"]["updated"], done["counts"]["created"]) == (1, 1)
    assert api.get(f"{path}/{bob['id']}")["fields"]["name"] == "Robert"

    refused = api_import(api, ws, unique_email, text, policy="refuse", match_on="email")
    assert refused["counts"]["rejected"] == 2
    rows = api.get(
        f"/workspaces/{ws}/types/{unique_email['id']}/imports/{refused['id']}/rows", expect=200
    )["items"]
    assert (
        rows[0]["detail"]["fields"]["email"] == f"matches record {bob['id']} on file (same Email)"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"match_on": "email", "policy": "rules"}, "needs a policy"),
        ({"match_on": "email", "policy": "create"}, "needs a policy"),
        ({"match_on": "nope", "policy": "update"}, "is not a field of Lead"),
    ],
)
def test_a_match_without_a_policy_or_field_is_refused_naming_match_on(
    api, ws, unique_email, body, reason
):
    refused = api_import(api, ws, unique_email, ADA_THREE_TIMES, expect=422, **body)
    assert reason in refused["error"]["fields"]["match_on"]
    assert api.get(records_path(ws, unique_email), limit=10)["items"] == []


def test_the_import_screen_says_when_the_type_has_no_dedupe_rules(client, crm):
    location = upload(client, crm, ADA_THREE_TIMES)
    page = client.get(location)
    assert 'data-testid="no-rules"' in page.text
    assert f'href="/w/{crm["ws"]}/t/{crm["rt"]["id"]}/duplicates#rules"' in page.text
    done = run(client, location, "fill_empty", match_on="email")
    assert done.status_code == 200 and "Already on file, unchanged" in done.text
    [ada] = crm["api"].get(records_path(crm["ws"], crm["rt"]), limit=10)["items"]
    assert ada["fields"]["city"] == "London"

    rule(crm, "block")
    assert 'data-testid="no-rules"' not in client.get(upload(client, crm, ADA_THREE_TIMES)).text


def test_rows_with_one_phone_number_written_two_ways_are_one_record(api, ws):
    rt, _ = make_type(api, ws, "Caller", field("Name", "text"), field("Phone", "phone"))
    text = "Name,Phone\nAda,+44 20 7946 0958\nAda Lovelace,+442079460958\n"
    done = api_import(api, ws, rt, text, policy="update", match_on="phone")
    assert (done["counts"]["created"], done["counts"]["updated"]) == (1, 1)
    [ada] = api.get(records_path(ws, rt), limit=10)["items"]
    assert ada["fields"] == {"name": "Ada Lovelace", "phone": "+442079460958"}
