"""The fake SaaS servers of tests/fake_saas speak their vendors' documented formats.

Everything goes through plain httpx against the running fake, as a connector would. Webhook
signatures are checked by verifiers written here from the vendors' documentation, not by the
helpers that produced them, so a wrong algorithm in the fake cannot verify itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.fake_saas import Clock, HubSpotFake, MailchimpFake, Sink, StripeFake, people
from tests.fake_saas.faults import Fault
from tests.fake_saas.forms import FormError, encode, parse
from tests.fake_saas.hubspot import signature_v3

pytest_plugins = ["tests.fake_saas.fixtures"]
_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def client(**options: Any) -> httpx.Client:
    """An httpx client closed after the test (filterwarnings=error turns leaks into errors)."""
    _clients.append(httpx.Client(**options))
    return _clients[-1]


def hubspot(fake: HubSpotFake) -> httpx.Client:
    return client(base_url=fake.url, headers={"Authorization": f"Bearer {fake.token}"})


def mailchimp(fake: MailchimpFake) -> httpx.Client:
    return client(base_url=fake.base_url, auth=("anystring", fake.api_key))


def stripe(fake: StripeFake) -> httpx.Client:
    return client(base_url=fake.url, auth=(fake.secret_key, ""))


# -- independent verifiers, written from the vendors' docs ------------------------------------


def hubspot_v3_is_valid(secret: str, method: str, uri: str, body: bytes, headers: Any) -> bool:
    """HubSpot docs: reject timestamps older than 5 minutes; base64 HMAC-SHA256 of
    method + URI + body + timestamp with the client secret."""
    timestamp = headers["x-hubspot-request-timestamp"]
    if time.time() * 1000 - int(timestamp) > 5 * 60 * 1000:
        return False
    message = f"{method}{uri}{body.decode()}{timestamp}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return hmac.compare_digest(expected.decode(), headers["x-hubspot-signature-v3"])


def stripe_is_valid(secret: str, payload: bytes, header: str, tolerance: int = 300) -> bool:
    """Stripe docs: t=timestamp, v1=hex HMAC-SHA256 of "<t>.<payload>"; reject old ones."""
    items = [item.split("=", 1) for item in header.split(",")]
    timestamp = int(next(value for key, value in items if key == "t"))
    signed = f"{timestamp}.{payload.decode()}".encode()
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - timestamp) <= tolerance
    return fresh and any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")


# -- the shared parts -------------------------------------------------------------------------


def test_clock_stamps_strictly_increase_unless_told_otherwise() -> None:
    clock = Clock(resolution_ms=1000)
    first, second = clock.stamp(), clock.stamp()
    assert second == first + 1000
    clock.advance(60)
    assert clock.stamp() == second + 60_000
    loose = Clock(resolution_ms=1000, strictly_increasing=False)
    assert loose.stamp() == loose.stamp()
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_people_are_deterministic_unique_and_formatted() -> None:
    crowd = list(people(2000, seed=7))
    assert crowd[:50] == list(people(50, seed=7))
    assert crowd[:50] != list(people(50, seed=8))
    assert len({p.email.lower() for p in crowd}) == 2000
    assert any(p.email != p.email.lower() for p in crowd)
    assert any(not p.last_name.isascii() for p in crowd)
    national = {
        "US": r"\(\d{3}\) 555-01\d\d",
        "GB": r"(020 7946 0\d{3}|07700 900\d{3})",
        "DE": r"030 23125\d{3}",
        "FR": r"0[16] \d\d \d\d \d\d \d\d",
    }
    for person in crowd:
        assert re.fullmatch(r"\+[1-9]\d{7,14}", person.phone), person
        assert re.fullmatch(national[person.country], person.phone_national), person
        digits = re.sub(r"\D", "", person.phone_national).lstrip("0")
        assert person.phone.endswith(digits), person
        assert person.email.lower().endswith(".example")
    assert len({p.company.name for p in crowd}) > 50


def test_forms_read_and_write_bracket_notation() -> None:
    params = parse("address[city]=Paris&metadata[plan]=pro&types[]=a&types[]=b&name=")
    assert params == {
        "address": {"city": "Paris"},
        "metadata": {"plan": "pro"},
        "types": ["a", "b"],
        "name": "",
    }
    assert parse(encode(params)) == params
    with pytest.raises(FormError):
        parse("a=1&a[b]=2")


def test_fault_routes_match_method_and_glob() -> None:
    fault = Fault("rate_limit", "POST /crm/v3/objects/*/search", 1)
    assert fault.matches("POST", "/crm/v3/objects/companies/search")
    assert not fault.matches("GET", "/crm/v3/objects/companies/search")
    assert not fault.matches("POST", "/crm/v3/objects/companies")
    assert Fault("error", "/v1/*", 1).matches("DELETE", "/v1/customers/cus_1")


def test_request_log_keeps_what_the_client_sent(hubspot_fake: HubSpotFake) -> None:
    body = {"filterGroups": [], "limit": 5}
    hubspot(hubspot_fake).post(
        "/crm/v3/objects/contacts/search", params={"hapikey": "x"}, json=body
    )
    logged = hubspot_fake.requests[-1]
    assert (logged.method, logged.path, logged.query) == (
        "POST",
        "/crm/v3/objects/contacts/search",
        {"hapikey": ["x"]},
    )
    assert logged.header("Authorization") == f"Bearer {hubspot_fake.token}"
    assert logged.json == body
    assert logged.status == 200
    assert hubspot_fake.requests_to("POST /crm/v3/objects/*/search") == [logged]


def test_a_hung_request_times_out_and_the_next_one_is_answered(
    hubspot_fake: HubSpotFake,
) -> None:
    hubspot_fake.hang("GET /crm/v3/objects/contacts", seconds=2)
    api = hubspot(hubspot_fake)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/crm/v3/objects/contacts", timeout=0.3)
    assert api.get("/crm/v3/objects/contacts", timeout=2).status_code == 200


def test_gateway_errors_are_html_and_stop_after_their_count(stripe_fake: StripeFake) -> None:
    stripe_fake.fail("/v1/customers", status=503, times=2)
    api = stripe(stripe_fake)
    answers = [api.get("/v1/customers") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["content-type"].startswith("text/html")
    stripe_fake.fail(status=500)
    assert api.get("/v1/customers").json()["error"]["type"] == "api_error"


# -- HubSpot --------------------------------------------------------------------------------


def test_hubspot_paging_returns_every_contact_once(hubspot_fake: HubSpotFake) -> None:
    ids = hubspot_fake.seed_contacts(250)
    api, seen, params = hubspot(hubspot_fake), [], {"limit": 100}
    while True:
        page = api.get("/crm/v3/objects/contacts", params=params).json()
        seen += [r["id"] for r in page["results"]]
        if "paging" not in page:
            break
        params = {"limit": 100, "after": page["paging"]["next"]["after"]}
        link = page["paging"]["next"]["link"]
    assert seen == ids
    assert api.get(link).json()["results"][0]["id"] == ids[200]
    assert api.get("/crm/v3/objects/contacts", params={"limit": 101}).status_code == 400


def test_hubspot_returns_default_and_requested_properties(hubspot_fake: HubSpotFake) -> None:
    contact = hubspot_fake.seed_contacts(1)[0]
    company = hubspot_fake.seed_companies(1)[0]
    api = hubspot(hubspot_fake)
    plain = api.get(f"/crm/v3/objects/contacts/{contact}").json()
    assert set(plain["properties"]) == {
        "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"
    }  # fmt: skip
    asked = api.get(
        f"/crm/v3/objects/contacts/{contact}", params={"properties": "phone,mobilephone,nope"}
    ).json()["properties"]
    assert asked["phone"].startswith("+") and asked["mobilephone"] is None
    assert "nope" not in asked and asked["hs_object_id"] == contact
    assert plain["createdAt"].endswith("Z") and plain["archived"] is False
    firm = api.get(f"/crm/v3/objects/companies/{company}").json()["properties"]
    assert "hs_lastmodifieddate" in firm and "lastmodifieddate" not in firm


def test_hubspot_archived_records_are_listed_only_when_asked(hubspot_fake: HubSpotFake) -> None:
    ids = hubspot_fake.seed_contacts(5)
    api = hubspot(hubspot_fake)
    assert api.delete(f"/crm/v3/objects/contacts/{ids[1]}").status_code == 204
    hubspot_fake.archive("contacts", ids[3])
    live = api.get("/crm/v3/objects/contacts").json()["results"]
    gone = api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()["results"]
    assert [r["id"] for r in live] == [ids[0], ids[2], ids[4]]
    assert [(r["id"], r["archived"]) for r in gone] == [(ids[1], True), (ids[3], True)]
    assert "archivedAt" in gone[0]
    assert api.get(f"/crm/v3/objects/contacts/{ids[1]}").status_code == 404


def since_filter(prop: str, op: str, value: int) -> dict[str, Any]:
    return {
        "filterGroups": [{"filters": [{"propertyName": prop, "operator": op, "value": value}]}],
        "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
        "limit": 100,
    }


def search(fake: HubSpotFake, kind: str, body: dict[str, Any]) -> httpx.Response:
    return hubspot(fake).post(f"/crm/v3/objects/{kind}/search", json=body)


def changed_since(fake: HubSpotFake, kind: str, prop: str, op: str, since: int) -> list[str]:
    answer = search(fake, kind, since_filter(prop, op, since))
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()["results"]]


def test_hubspot_search_returns_only_what_changed(hubspot_fake: HubSpotFake) -> None:
    ids = hubspot_fake.seed_contacts(300)
    companies = hubspot_fake.seed_companies(20)
    hubspot_fake.clock.advance(3600)
    since = hubspot_fake.clock.now_ms()
    hubspot_fake.update("contacts", ids[250], {"jobtitle": "CFO"})
    hubspot_fake.update("contacts", ids[7], {"firstname": "Zoë"})
    hubspot_fake.update("companies", companies[3], {"industry": "RETAIL_X"})
    new = hubspot_fake.create("contacts", {"email": "late@new.example"})
    found = search(hubspot_fake, "contacts", since_filter("lastmodifieddate", "GTE", since))
    assert found.json()["total"] == 3
    assert changed_since(hubspot_fake, "contacts", "lastmodifieddate", "GTE", since) == [
        ids[250],
        ids[7],
        new,
    ]
    # The first change happened at exactly `since`: GT leaves it out.
    assert changed_since(hubspot_fake, "contacts", "lastmodifieddate", "GT", since) == [
        ids[7],
        new,
    ]
    # Companies keep their last-modified date in hs_lastmodifieddate.
    wrong = search(hubspot_fake, "companies", since_filter("lastmodifieddate", "GTE", since))
    assert wrong.status_code == 400
    assert changed_since(hubspot_fake, "companies", "hs_lastmodifieddate", "GTE", since) == [
        companies[3]
    ]


def test_hubspot_search_index_agrees_with_a_full_scan(hubspot_fake: HubSpotFake) -> None:
    ids = hubspot_fake.seed_contacts(400)
    for position in range(0, 400, 37):
        hubspot_fake.clock.advance(1)
        hubspot_fake.update("contacts", ids[position], {"jobtitle": f"T{position}"})
    since = hubspot_fake.clock.now_ms() - 5_000
    indexed = search(hubspot_fake, "contacts", since_filter("lastmodifieddate", "GTE", since))
    scan = since_filter("lastmodifieddate", "GTE", since)  # a second filter forces a scan
    scan["filterGroups"][0]["filters"].append({"propertyName": "email", "operator": "HAS_PROPERTY"})
    scanned = search(hubspot_fake, "contacts", scan)
    assert indexed.json()["total"] == scanned.json()["total"] == 6  # the last six updates
    assert indexed.json()["results"] == scanned.json()["results"]
    newest_first = since_filter("lastmodifieddate", "GTE", since)
    newest_first["sorts"][0]["direction"] = "DESCENDING"
    reversed_ids = [
        r["id"] for r in search(hubspot_fake, "contacts", newest_first).json()["results"]
    ]
    assert reversed_ids == [r["id"] for r in indexed.json()["results"]][::-1]


def test_hubspot_search_stops_at_ten_thousand_results(hubspot_fake: HubSpotFake) -> None:
    hubspot_fake.seed_contacts(10_050)
    api = hubspot(hubspot_fake)
    body = {"sorts": ["hs_object_id"], "limit": 200, "after": "9900"}
    last = api.post("/crm/v3/objects/contacts/search", json=body).json()
    assert last["total"] == 10_050
    assert len(last["results"]) == 100
    assert last["paging"]["next"]["after"] == "10000"
    beyond = api.post("/crm/v3/objects/contacts/search", json=body | {"after": "10000"})
    assert beyond.status_code == 400
    assert beyond.json()["category"] == "VALIDATION_ERROR"
    too_big = api.post("/crm/v3/objects/contacts/search", json={"limit": 201})
    assert too_big.status_code == 400


def test_hubspot_search_has_its_own_rate_limit_without_headers() -> None:
    with HubSpotFake(search_rate_limit=(2, 60.0)) as fake:
        api = hubspot(fake)
        answers = [api.post("/crm/v3/objects/contacts/search", json={}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["message"] == "You have reached your secondly limit."
        assert answers[2].json()["category"] == "RATE_LIMITS"
        assert not any(h.startswith("x-hubspot-ratelimit") for h in answers[2].headers)
        listed = api.get("/crm/v3/objects/contacts")
        assert listed.status_code == 200
        assert listed.headers["X-HubSpot-RateLimit-Max"] == "100"


def test_hubspot_batch_upsert_by_email_creates_and_updates(hubspot_fake: HubSpotFake) -> None:
    existing = hubspot_fake.seed_contacts(1)[0]
    email = hubspot_fake.get("contacts", existing)["properties"]["email"]
    before = hubspot_fake.get("contacts", existing)["updatedAt"]
    inputs = [
        {"idProperty": "email", "id": email.upper(), "properties": {"jobtitle": "CEO"}},
        {"idProperty": "email", "id": "fresh@new.example", "properties": {"firstname": "F"}},
    ]
    answer = hubspot(hubspot_fake).post(
        "/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}
    )
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [(r["id"], r["new"]) for r in results] == [(existing, False), (results[1]["id"], True)]
    assert hubspot_fake.get("contacts", existing)["properties"]["jobtitle"] == "CEO"
    assert hubspot_fake.get("contacts", existing)["updatedAt"] > before
    created = hubspot_fake.get("contacts", results[1]["id"])
    assert created["properties"]["email"] == "fresh@new.example"
    assert [(w.target, w.payload) for w in hubspot_fake.writes] == [
        (existing, {"jobtitle": "CEO"}),
        (results[1]["id"], {"firstname": "F", "email": "fresh@new.example"}),
    ]
    assert {w.operation for w in hubspot_fake.writes} == {
        "POST /crm/v3/objects/contacts/batch/upsert"
    }


def test_hubspot_batch_rules(hubspot_fake: HubSpotFake) -> None:
    ids = hubspot_fake.seed_contacts(3)
    api = hubspot(hubspot_fake)
    update = [{"id": ids[0], "properties": {"city": "Oslo"}}, {"id": "999999", "properties": {}}]
    partial = api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": update})
    assert partial.status_code == 207
    assert partial.json()["errors"][0]["context"] == {"ids": ["999999"]}
    assert hubspot_fake.get("contacts", ids[0])["properties"]["city"] == "Oslo"
    email = hubspot_fake.get("contacts", ids[2])["properties"]["email"]
    by_email = {"idProperty": "email", "properties": ["email"], "inputs": [{"id": email}]}
    read = api.post("/crm/v3/objects/contacts/batch/read", json=by_email)
    assert [r["id"] for r in read.json()["results"]] == [ids[2]]
    twice = [{"id": ids[1], "properties": {}}, {"id": ids[1], "properties": {}}]
    many = [{"properties": {"firstname": str(n)}} for n in range(101)]
    bad = [{"id": ids[1], "properties": {"favourite_colour": "blue"}}]
    batch = "/crm/v3/objects/contacts/batch/"
    assert api.post(batch + "update", json={"inputs": twice}).status_code == 400
    assert api.post(batch + "create", json={"inputs": many}).status_code == 400
    refused = api.post(batch + "update", json={"inputs": bad})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["error"] == "PROPERTY_DOESNT_EXIST"


def test_hubspot_errors_have_hubspot_shape(hubspot_fake: HubSpotFake) -> None:
    ids = hubspot_fake.seed_contacts(1)
    email = hubspot_fake.get("contacts", ids[0])["properties"]["email"]
    api, contacts = hubspot(hubspot_fake), "/crm/v3/objects/contacts"
    stranger = client(base_url=hubspot_fake.url, headers={"Authorization": "Bearer nope"})
    answers = {
        401: stranger.get(contacts),
        404: api.get(f"{contacts}/424242"),
        409: api.post(contacts, json={"properties": {"email": email}}),
        400: api.patch(f"{contacts}/{ids[0]}", json={"properties": {"createdate": "x"}}),
    }
    categories = {"INVALID_AUTHENTICATION", "OBJECT_NOT_FOUND", "CONFLICT", "VALIDATION_ERROR"}
    assert {code: a.status_code for code, a in answers.items()} == {c: c for c in answers}
    for answer in answers.values():
        body = answer.json()
        assert body["status"] == "error" and body["message"] and body["correlationId"]
        assert body["category"] in categories
    assert answers[409].json()["message"] == f"Contact already exists. Existing ID: {ids[0]}"


def test_hubspot_rate_limit_fault_uses_the_documented_body(hubspot_fake: HubSpotFake) -> None:
    hubspot_fake.rate_limit("GET /crm/v3/objects/*", times=2, retry_after=3)
    api = hubspot(hubspot_fake)
    first, second, third = (api.get("/crm/v3/objects/contacts") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.json()["errorType"] == "RATE_LIMIT"
    assert first.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert first.headers["Retry-After"] == "3"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in third.headers


def test_hubspot_webhooks_are_signed_with_v3(hubspot_fake: HubSpotFake, webhook_sink: Sink) -> None:
    ids = hubspot_fake.seed_contacts(2)
    hubspot_fake.update("contacts", ids[0], {"firstname": "Ada", "city": "Bergen"})
    hubspot_fake.archive("contacts", ids[1])
    url = f"{webhook_sink.url}/hooks/hubspot?portal=1"
    [delivery] = hubspot_fake.deliver_webhooks(url)
    assert delivery.ok
    received = webhook_sink.requests[0]
    events = received.json
    assert [(e["subscriptionType"], e.get("propertyName")) for e in events] == [
        ("contact.propertyChange", "firstname"),
        ("contact.propertyChange", "city"),
        ("contact.deletion", None),
    ]
    assert events[0]["objectId"] == int(ids[0]) and events[0]["changeSource"] == "CRM_UI"
    uri = f"{webhook_sink.url}{received.path}?{received.raw_query}"
    secret = hubspot_fake.client_secret

    def valid(number: int, key: str = secret, extra: bytes = b"") -> bool:
        request = webhook_sink.requests[number]
        return hubspot_v3_is_valid(key, "POST", uri, request.body + extra, request.headers)

    assert valid(0)
    assert not valid(0, key="other-secret")
    assert not valid(0, extra=b" ")
    hubspot_fake.deliver(url, events, timestamp_ms=int((time.time() - 600) * 1000))
    assert not valid(1)  # older than 5 minutes
    forged = signature_v3("guessed-secret", "POST", uri, received.body, int(time.time() * 1000))
    hubspot_fake.deliver(url, events, signature=forged)
    assert not valid(2)


def test_hubspot_failed_webhook_deliveries_stay_queued(hubspot_fake: HubSpotFake) -> None:
    hubspot_fake.create("companies", {"name": "Queued Ltd"})
    with Sink(status=500) as down:
        assert not hubspot_fake.deliver_webhooks(down.url)[0].ok
    assert [e["attemptNumber"] for e in hubspot_fake.pending_events] == [1]
    with Sink() as up:
        assert hubspot_fake.deliver_webhooks(up.url)[0].ok
        assert up.requests[0].json[0]["subscriptionType"] == "company.creation"
    assert hubspot_fake.pending_events == []


# -- Mailchimp ------------------------------------------------------------------------------


def members_path(fake: MailchimpFake) -> str:
    return f"lists/{fake.list_id}/members"


def test_mailchimp_offset_paging_returns_every_member_once(mailchimp_fake: MailchimpFake) -> None:
    hashes = mailchimp_fake.seed_members(2345)
    api, seen, offset = mailchimp(mailchimp_fake), [], 0
    while True:
        page = api.get(members_path(mailchimp_fake), params={"count": 1000, "offset": offset})
        body = page.json()
        assert body["total_items"] == 2345 and body["list_id"] == mailchimp_fake.list_id
        if not body["members"]:
            break
        seen += [m["id"] for m in body["members"]]
        offset += len(body["members"])
    assert seen == hashes
    assert api.get(members_path(mailchimp_fake), params={"count": 1001}).status_code == 400
    members = mailchimp_fake.audiences[mailchimp_fake.list_id].members.values()
    assert {m["status"] for m in members} == {"subscribed", "unsubscribed", "cleaned", "pending"}


def test_mailchimp_member_shape(mailchimp_fake: MailchimpFake) -> None:
    key = mailchimp_fake.add_member("Ada.Lovelace@Example.org", merge_fields={"FNAME": "Ada"})
    assert key == hashlib.md5(b"ada.lovelace@example.org").hexdigest()
    member = mailchimp(mailchimp_fake).get(f"{members_path(mailchimp_fake)}/{key}").json()
    assert member["id"] == key and member["email_address"] == "Ada.Lovelace@Example.org"
    assert member["status"] == "subscribed" and member["full_name"] == "Ada"
    assert set(member["merge_fields"]) >= {"FNAME", "LNAME", "PHONE", "ADDRESS"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", member["last_changed"])
    assert re.fullmatch(r"[0-9a-f]{10}", member["unique_email_id"])
    assert member["timestamp_opt"] == member["last_changed"]
    by_address = f"{members_path(mailchimp_fake)}/ada.lovelace@example.org"
    assert mailchimp(mailchimp_fake).get(by_address).json()["id"] == key


def test_mailchimp_since_last_changed_returns_only_changes(
    mailchimp_fake: MailchimpFake,
) -> None:
    hashes = mailchimp_fake.seed_members(500)
    mailchimp_fake.clock.advance(3600)
    since = mailchimp_fake.clock.now().isoformat()
    mailchimp_fake.update_member(hashes[3], merge_fields={"FNAME": "Changed-at-since"})
    mailchimp_fake.clock.advance(5)
    mailchimp_fake.update_member(hashes[420], merge_fields={"LNAME": "Later"})
    mailchimp_fake.unsubscribe(hashes[10])
    params = {"since_last_changed": since, "fields": "members.id,total_items"}
    body = mailchimp(mailchimp_fake).get(members_path(mailchimp_fake), params=params).json()
    # "changed after": the change stamped exactly at `since` is not included.
    assert body == {"members": [{"id": hashes[420]}, {"id": hashes[10]}], "total_items": 2}
    earlier = (mailchimp_fake.clock.now() - timedelta(seconds=10)).isoformat()
    params = {"since_last_changed": earlier, "sort_dir": "DESC", "fields": "members.id"}
    body = mailchimp(mailchimp_fake).get(members_path(mailchimp_fake), params=params).json()
    assert [m["id"] for m in body["members"]] == [hashes[10], hashes[420], hashes[3]]


def test_mailchimp_put_is_an_upsert_and_writes_are_recorded(
    mailchimp_fake: MailchimpFake,
) -> None:
    api, path = mailchimp(mailchimp_fake), members_path(mailchimp_fake)
    email = "new.person@shop.example"
    key = hashlib.md5(email.encode()).hexdigest()
    missing = api.put(f"{path}/{key}", json={"email_address": email})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "status_if_new"
    created = api.put(f"{path}/{key}", json={"email_address": email, "status_if_new": "pending"})
    assert created.status_code == 200 and created.json()["status"] == "pending"
    changed_at = created.json()["last_changed"]
    mailchimp_fake.clock.advance(2)
    update: dict[str, Any] = {"email_address": email, "status_if_new": "subscribed"}
    update["merge_fields"] = {"FNAME": "N"}
    updated = api.put(f"{path}/{key}", json=update).json()
    assert updated["status"] == "pending" and updated["merge_fields"]["FNAME"] == "N"
    assert updated["last_changed"] > changed_at
    patched = api.patch(f"{path}/{key}", json={"status": "subscribed"}).json()
    assert patched["status"] == "subscribed"
    assert [(w.operation.split()[0], w.target) for w in mailchimp_fake.writes] == [
        ("PUT", key),
        ("PUT", key),
        ("PATCH", key),
    ]
    assert api.patch(f"{path}/{'0' * 32}", json={}).status_code == 404
    duplicate = api.post(path, json={"email_address": email, "status": "subscribed"})
    assert duplicate.json()["title"] == "Member Exists"


def test_mailchimp_unsubscribed_members_cannot_be_resubscribed(
    mailchimp_fake: MailchimpFake,
) -> None:
    key = mailchimp_fake.add_member("gone@shop.example")
    mailchimp_fake.unsubscribe(key)
    api, path = mailchimp(mailchimp_fake), f"{members_path(mailchimp_fake)}/{key}"
    refused = api.patch(path, json={"status": "subscribed"})
    assert refused.status_code == 400
    assert refused.json()["title"] == "Member In Compliance State"
    assert api.patch(path, json={"status": "pending"}).json()["status"] == "pending"


def test_mailchimp_errors_are_problem_documents(mailchimp_fake: MailchimpFake) -> None:
    path = members_path(mailchimp_fake)
    other_dc = client(base_url=mailchimp_fake.base_url, auth=("x", "0" * 32 + "-us7"))
    anonymous = client(base_url=mailchimp_fake.base_url)
    api = mailchimp(mailchimp_fake)
    answers = {
        "API Key Invalid": other_dc.get(path),
        "API Key Missing": anonymous.get(path),
        "Wrong Datacenter": api.get(path, headers={"Host": "us7.api.mailchimp.com"}),
        "Resource Not Found": api.get("lists/nope/members"),
        "Requested Fields Invalid": api.get(path, params={"fields": "members.nope"}),
        "Invalid Resource": api.post(path, json={"email_address": "nope", "status": "pending"}),
    }
    for title, answer in answers.items():
        body = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert body["title"] == title and body["status"] == answer.status_code
        assert body["type"].startswith("https://mailchimp.com/developer/")
        assert body["detail"] and body["instance"]
    assert answers["API Key Invalid"].status_code == 401
    assert answers["Wrong Datacenter"].status_code == 403
    assert api.get("ping").json() == {"health_status": "Everything's Chimpy!"}


def test_mailchimp_limits_simultaneous_connections() -> None:
    with MailchimpFake(max_connections=2) as fake:
        fake.hang("GET /3.0/lists/*", seconds=1.5, times=2)
        slow = [
            threading.Thread(target=mailchimp(fake).get, args=(members_path(fake),))
            for _ in range(2)
        ]
        for thread in slow:
            thread.start()
        deadline = time.monotonic() + 5
        while fake.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        third = mailchimp(fake).get("ping")
        for thread in slow:
            thread.join()
        assert third.status_code == 429
        assert third.json()["title"] == "Too Many Requests"
        assert "simultaneous connections" in third.json()["detail"]
        assert "Retry-After" not in third.headers
        assert mailchimp(fake).get("ping").status_code == 200


def test_mailchimp_webhooks_are_form_encoded_with_the_secret_in_the_url(
    mailchimp_fake: MailchimpFake, webhook_sink: Sink
) -> None:
    key = mailchimp_fake.add_member("hook@shop.example", merge_fields={"FNAME": "Hook"})
    mailchimp_fake.unsubscribe(key)
    mailchimp(mailchimp_fake).patch(
        f"{members_path(mailchimp_fake)}/{key}", json={"merge_fields": {"LNAME": "Api"}}
    )
    url = f"{webhook_sink.url}/hooks/mailchimp?secret=s3cr3t"
    assert mailchimp_fake.validate_webhook(url).ok
    deliveries = mailchimp_fake.deliver_webhooks(url)
    assert [d.status for d in deliveries] == [200, 200]  # the API change is not reported
    posts = webhook_sink.requests_to("POST /hooks/mailchimp")
    assert [p.query for p in posts] == [{"secret": ["s3cr3t"]}] * 2
    assert posts[0].header("content-type") == "application/x-www-form-urlencoded"
    form = [parse_qs(p.text) for p in posts]
    assert [f["type"] for f in form] == [["subscribe"], ["unsubscribe"]]
    assert form[1]["data[email]"] == ["hook@shop.example"]
    assert form[1]["data[action]"] == ["unsub"] and form[1]["data[merges][FNAME]"] == ["Hook"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", form[1]["fired_at"][0])
    assert [e["type"] for e in mailchimp_fake.pending_hooks] == []


# -- Stripe ---------------------------------------------------------------------------------


def test_stripe_paging_is_newest_first_and_complete(stripe_fake: StripeFake) -> None:
    ids = stripe_fake.seed_customers(250)
    api, seen, params = stripe(stripe_fake), [], {"limit": 100}
    while True:
        page = api.get("/v1/customers", params=params).json()
        assert page["object"] == "list" and page["url"] == "/v1/customers"
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        params = {"limit": 100, "starting_after": page["data"][-1]["id"]}
    assert seen == ids[::-1]
    before = api.get("/v1/customers", params={"limit": 3, "ending_before": ids[10]}).json()
    assert [c["id"] for c in before["data"]] == [ids[13], ids[12], ids[11]]
    assert before["has_more"] is True
    assert api.get("/v1/customers", params={"limit": 0}).status_code == 400
    unknown = api.get("/v1/customers", params={"starting_after": "cus_nope"})
    assert unknown.status_code == 404


def test_stripe_created_filters(stripe_fake: StripeFake) -> None:
    ids = stripe_fake.seed_customers(30)
    cut = stripe_fake.customer(ids[20])["created"]
    api = stripe(stripe_fake)
    newer = api.get("/v1/customers", params={"created[gte]": cut, "limit": 100}).json()
    assert [c["id"] for c in newer["data"]] == ids[20:][::-1]
    window = {"created[gt]": cut - 5, "created[lt]": cut, "limit": 100}
    in_window = api.get("/v1/customers", params=window).json()["data"]
    assert [c["id"] for c in in_window] == ids[16:20][::-1]  # one customer a second


def test_stripe_updates_are_form_encoded_with_brackets(stripe_fake: StripeFake) -> None:
    customer = stripe_fake.create_customer(email="a@b.example", metadata={"keep": "1", "drop": "2"})
    api = stripe(stripe_fake)
    form = {"address[city]": "Paris", "address[country]": "FR", "name": "Émile"}
    form |= {"metadata[drop]": "", "metadata[new]": "x"}  # an empty value removes the key
    answer = api.post(f"/v1/customers/{customer}", data=form)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["address"]["city"] == "Paris" and body["address"]["line1"] is None
    assert body["metadata"] == {"keep": "1", "new": "x"} and body["name"] == "Émile"
    as_json = api.post(f"/v1/customers/{customer}", json={"name": "x"})
    assert as_json.status_code == 400  # Stripe takes form encoding only
    unknown = api.post(f"/v1/customers/{customer}", data={"nickname": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Received unknown parameter: nickname",
        "param": "nickname",
    }


def test_stripe_idempotency_keys_replay_or_refuse(stripe_fake: StripeFake) -> None:
    customer = stripe_fake.seed_customers(1)[0]
    api = stripe(stripe_fake)
    key = {"Idempotency-Key": "sync-42"}
    first = api.post(f"/v1/customers/{customer}", data={"phone": "+12125550101"}, headers=key)
    again = api.post(f"/v1/customers/{customer}", data={"phone": "+12125550101"}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    changed = api.post(f"/v1/customers/{customer}", data={"phone": "+12125550199"}, headers=key)
    assert changed.status_code == 400
    assert changed.json()["error"]["type"] == "idempotency_error"
    assert changed.json()["error"]["message"].startswith(
        "Keys for idempotent requests can only be used with the same parameters"
    )
    elsewhere = api.post("/v1/customers", data={"phone": "+12125550101"}, headers=key)
    assert elsewhere.json()["error"]["type"] == "idempotency_error"
    assert [(w.target, w.idempotency_key) for w in stripe_fake.writes] == [(customer, "sync-42")]
    updates = api.get("/v1/events", params={"type": "customer.updated"}).json()["data"]
    assert [e["request"]["idempotency_key"] for e in updates] == ["sync-42"]


def test_stripe_retry_while_the_first_request_runs_is_a_conflict(
    stripe_fake: StripeFake,
) -> None:
    customer = stripe_fake.seed_customers(1)[0]
    stripe_fake.hang(f"POST /v1/customers/{customer}", seconds=1)
    api, key = stripe(stripe_fake), {"Idempotency-Key": "slow-1"}
    with pytest.raises(httpx.ReadTimeout):
        api.post(f"/v1/customers/{customer}", data={"name": "Slow"}, headers=key, timeout=0.2)
    conflict = api.post(f"/v1/customers/{customer}", data={"name": "Slow"}, headers=key)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["type"] == "idempotency_error"
    deadline = time.monotonic() + 5
    while not stripe_fake.writes and time.monotonic() < deadline:
        time.sleep(0.02)
    replay = api.post(f"/v1/customers/{customer}", data={"name": "Slow"}, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["name"] == "Slow" and len(stripe_fake.writes) == 1


def test_stripe_events_tell_what_changed(stripe_fake: StripeFake) -> None:
    ids = stripe_fake.seed_customers(3)
    api = stripe(stripe_fake)
    assert api.get("/v1/events").json()["data"] == []  # seeding is history, not events
    stripe_fake.clock.advance(60)
    since = stripe_fake.clock.now_ms() // 1000
    stripe_fake.update_customer(ids[0], email="moved@new.example", metadata={"tier": "gold"})
    stripe_fake.delete_customer(ids[1])
    created = stripe_fake.create_customer(name="Fresh")
    events = api.get("/v1/events", params={"created[gte]": since}).json()["data"]
    assert [(e["type"], e["data"]["object"]["id"]) for e in events] == [
        ("customer.created", created),
        ("customer.deleted", ids[1]),
        ("customer.updated", ids[0]),
    ]
    update = events[2]
    old_email = update["data"]["previous_attributes"]["email"]
    assert old_email != "moved@new.example" and old_email.endswith(".example")
    assert update["data"]["previous_attributes"]["metadata"] == {"tier": None}
    assert update["object"] == "event"
    assert update["request"] == {"id": None, "idempotency_key": None}  # a dashboard change
    only = {"types[]": ["customer.deleted", "customer.created"]}
    assert [e["type"] for e in api.get("/v1/events", params=only).json()["data"]] == [
        "customer.created",
        "customer.deleted",
    ]
    wildcard = api.get("/v1/events", params={"type": "customer.*", "limit": 1}).json()
    assert wildcard["has_more"] is True
    both = api.get("/v1/events", params={"type": "customer.created", "types[]": ["x"]})
    assert both.status_code == 400
    later = api.get("/v1/events", params={"created[gt]": events[0]["created"]}).json()["data"]
    assert later == []


def test_stripe_deleted_customers(stripe_fake: StripeFake) -> None:
    ids = stripe_fake.seed_customers(3)
    api = stripe(stripe_fake)
    assert api.delete(f"/v1/customers/{ids[1]}").json() == {
        "id": ids[1],
        "object": "customer",
        "deleted": True,
    }
    assert api.get(f"/v1/customers/{ids[1]}").json()["deleted"] is True
    listed = [c["id"] for c in api.get("/v1/customers").json()["data"]]
    assert listed == [ids[2], ids[0]]
    after_deleted = api.get("/v1/customers", params={"starting_after": ids[1]}).json()
    assert [c["id"] for c in after_deleted["data"]] == [ids[0]]
    missing = api.post(f"/v1/customers/{ids[1]}", data={"name": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


def test_stripe_auth_and_rate_limit_errors(stripe_fake: StripeFake) -> None:
    wrong = client(base_url=stripe_fake.url, auth=("sk_test_wrong_9876", ""))
    refused = wrong.get("/v1/customers")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Invalid API Key provided: sk_test_******9876"
    assert client(base_url=stripe_fake.url).get("/v1/customers").status_code == 401
    stripe_fake.rate_limit("GET /v1/customers", retry_after=1)
    limited = stripe(stripe_fake).get("/v1/customers")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limit"
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["Request-Id"].startswith("req_")
    stripe_fake.reject_credentials(times=1)
    assert stripe(stripe_fake).get("/v1/customers").status_code == 401
    assert stripe(stripe_fake).get("/v1/customers").status_code == 200


def test_stripe_webhooks_carry_a_verifiable_signature(
    stripe_fake: StripeFake, webhook_sink: Sink
) -> None:
    customer = stripe_fake.create_customer(email="hook@pay.example")
    stripe_fake.update_customer(customer, name="Hooked")
    deliveries = stripe_fake.deliver_webhooks(f"{webhook_sink.url}/stripe")
    assert [d.status for d in deliveries] == [200, 200]
    first = webhook_sink.requests[0]
    header = first.header("stripe-signature") or ""
    assert stripe_is_valid(stripe_fake.webhook_secret, first.body, header)
    assert not stripe_is_valid("whsec_other", first.body, header)
    reserialised = json.dumps(json.loads(first.body)).encode()
    assert not stripe_is_valid(stripe_fake.webhook_secret, reserialised, header)
    assert first.json["type"] == "customer.created"
    event = stripe_fake.events[deliveries[1].events[0]]
    stripe_fake.deliver(f"{webhook_sink.url}/stripe", event, timestamp=int(time.time()) - 3600)
    stale = webhook_sink.requests[-1]
    stale_header = stale.header("stripe-signature") or ""
    assert not stripe_is_valid(stripe_fake.webhook_secret, stale.body, stale_header)
