"""The race across record types: the same person arriving 50 times at once, half as a Lead and
half as a Contact, at two server processes sharing one MySQL, under a rule that warns on
Leads and blocks on Contacts: one Contact, every Lead created, and each Lead paired with the
Contact in the review queue."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests import test_dedupe_race
from tests.helpers import Api, field, make_type, records_path

two_servers = test_dedupe_race.two_servers
SPELLINGS = ["ada@example.org", " ADA@example.org", "Ada@Example.ORG ", "ada@EXAMPLE.org"]


def _post(url: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


@pytest.mark.mysql_only
def test_fifty_leads_and_contacts_of_one_person_end_as_one_contact(
    api: Api, ws: int, two_servers: list[str]
) -> None:
    lead, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Email", "email"))
    contact, _ = make_type(api, ws, "Contact", field("Full name", "text"), field("Email", "email"))
    body = {
        "rule": "email",
        "types": [
            {"type": lead["id"], "fields": ["email"], "on_create": "warn", "on_update": "warn"},
            {"type": contact["id"], "fields": ["email"], "on_create": "block"},
        ],
    }
    api.post(f"/workspaces/{ws}/dedupe-spans", body, expect=201)
    paths = {"lead": records_path(ws, lead), "contact": records_path(ws, contact)}

    def one(n: int) -> tuple[str, int, dict[str, Any]]:
        kind = "lead" if n % 2 == 0 else "contact"
        name = "name" if kind == "lead" else "full_name"
        fields = {name: f"Ada {n}", "email": SPELLINGS[n % len(SPELLINGS)]}
        url = two_servers[n % 2] + "/api/v1" + paths[kind]
        status, answer = _post(url, api.token, {"fields": fields})
        return kind, status, answer

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))

    statuses = Counter((kind, status) for kind, status, _ in results)
    assert statuses == Counter({("lead", 201): 25, ("contact", 201): 1, ("contact", 409): 24})
    [ada] = api.get(paths["contact"], limit=100)["items"]
    assert ada["fields"]["email"] == "ada@example.org"
    refused = [answer for kind, status, answer in results if status == 409]
    assert {r["error"]["record"] for r in refused} == {ada["id"]}
    leads = {answer["id"]: answer for kind, status, answer in results if kind == "lead"}
    warning = f"a Contact with this email address exists: #{ada['id']}"
    contact_answer = next(a for k, s, a in results if k == "contact" and s == 201)
    named_by_contact = {d["record"] for d in contact_answer.get("duplicates", [])}
    # A Lead written after the Contact carries the warning; a Lead written before it (or at
    # the same instant: neither saw the other) is named by the Contact, or found by the scan.
    warned = {
        lead_id
        for lead_id, answer in leads.items()
        if any(warning in d["reasons"] for d in answer.get("duplicates", []))
    }
    print(  # the figures the README quotes
        f"\nleads warned at creation: {len(warned)}/25, "
        f"named by the Contact's creation: {len(named_by_contact & set(leads))}"
    )
    scan = f"/workspaces/{ws}/types/{lead['id']}/duplicates/scan"
    api.post(scan, {}, expect=200)
    pairs = api.get(f"/workspaces/{ws}/types/{contact['id']}/duplicates", limit=200)["items"]
    cross = {
        (p["a"]["id"] if p["a"]["record_type"] == lead["id"] else p["b"]["id"])
        for p in pairs
        if p["cross_type"]
    }
    assert cross == set(leads)
    assert all(
        {p["a"]["record_type"], p["b"]["record_type"]} == {lead["id"], contact["id"]} for p in pairs
    )
