"""The sync engine against the fake HubSpot, Mailchimp and Stripe: the users' story end to end
(one customer in three tools, no duplicates), incremental pulls, remote deletions, merges
keeping every external id, and cursors that hold where vendors' timestamps collide."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.connectors import (
    connect,
    count,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
    outcomes,
)
from tests.fake_saas import Clock, HubSpotFake, MailchimpFake, StripeFake, people
from tests.helpers import Api, records_path
from workspace import models as m
from workspace.connectors import engine, lease, push
from workspace.db import transaction
from workspace.dedupe import merges
from workspace.jobs.worker import run_until_idle
from workspace.principal import Access
from workspace.schema.definitions import get_type

X = m.external_ids


pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def by_email(api: Api, ws: int, rt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found, cursor = {}, None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(records_path(ws, rt), **params)
        for r in page["items"]:
            found[r["fields"]["email"]] = r
        cursor = page["next_cursor"]
        if not cursor:
            return found


def links_per_record(runtime: Any, type_id: int) -> dict[int, int]:
    with transaction(runtime.control) as conn:
        rows = conn.execute(
            select(X.c.record_id, func.count(func.distinct(X.c.connection_id)))
            .where(X.c.record_type_id == type_id)
            .group_by(X.c.record_id)
        ).all()
    return {record_id: n for record_id, n in rows}


def test_one_customer_in_three_tools_becomes_one_record(runtime, api, ws, access):
    """200 HubSpot contacts (15 already customers here, spelled otherwise), 300 Mailchimp
    members and 80 Stripe customers, the same people where they overlap: 300 records, each
    linked to every tool that has them; an unsubscribe and a bounce reach the record on the
    next pull; a Phone edit goes to HubSpot once; consent stays Mailchimp's."""
    rt = customer_type(api, ws)
    crowd = list(people(300))
    existing = [crowd[i] for i in range(0, 200, 13)]
    made = api.post(
        f"{records_path(ws, rt)}/bulk",
        {
            "items": [
                {"fields": {"name": p.last_name.upper(), "email": p.email.upper()}}
                for p in existing
            ]
        },
        expect=200,
    )
    assert made["created"] == len(existing) == 16
    with HubSpotFake() as hubspot, MailchimpFake() as mailchimp, StripeFake() as stripe:
        hubspot.seed_contacts(200)
        mailchimp.seed_members(300)
        stripe.seed_customers(80)
        ids = {}
        for kind, fake in (("hubspot", hubspot), ("mailchimp", mailchimp), ("stripe", stripe)):
            ids[kind] = connect(runtime, access, fake)
            map_story(runtime, access, ids[kind], kind, rt["id"])
            assert engine.run_sync(runtime, ids[kind])["state"] == "done"

        assert outcomes(runtime, ids["hubspot"]) == {"created": 184, "linked": 16}
        assert outcomes(runtime, ids["mailchimp"]) == {"created": 100, "linked": 200}
        assert outcomes(runtime, ids["stripe"]) == {"linked": 80}
        records = by_email(api, ws, rt)
        assert len(records) == 300  # no duplicates: one record per email
        assert count(runtime, X, X.c.record_type_id == rt["id"]) == 200 + 300 + 80
        linked = links_per_record(runtime, rt["id"])
        assert sorted(linked.values()).count(3) == 80  # every Stripe customer is in all three
        for p in existing:  # on file already: the HubSpot name only fills empty fields
            assert records[p.email.lower()]["fields"]["name"] == p.last_name.upper()

        # Mailchimp owns consent: an unsubscribe and a bounce reach the record.
        subscribed = [p for p in crowd[:80] if mailchimp.member(p.email)["status"] == "subscribed"]
        gone, bounced = subscribed[0], subscribed[1]
        assert records[gone.email.lower()]["fields"]["marketing_consent"] is True
        mailchimp.clock.advance(60)
        mailchimp.unsubscribe(gone.email)
        mailchimp.update_member(bounced.email, status="cleaned")
        incremental = engine.run_sync(runtime, ids["mailchimp"])
        assert incremental["counts"]["updated"] == 2 and incremental["rows"] == 2
        records = by_email(api, ws, rt)
        assert records[gone.email.lower()]["fields"]["marketing_consent"] is False
        assert records[gone.email.lower()]["fields"]["unsubscribed"] is True
        assert records[bounced.email.lower()]["fields"]["email_invalid"] is True

        # Consent is Mailchimp's: the API refuses a change, naming it.
        target = records[gone.email.lower()]
        refused = api.patch(
            f"{records_path(ws, rt)}/{target['id']}",
            {"fields": {"marketing_consent": True}},
            expect=409,
        )
        assert refused["error"]["message"] == (
            "Marketing consent is owned by Mailchimp: change it there"
        )

        # Phone is the workspace's, pushed to HubSpot: an edit goes there exactly once.
        api.patch(
            f"{records_path(ws, rt)}/{target['id']}",
            {"fields": {"phone": "+1 212 555 0199"}},
            expect=200,
        )
        before = len(hubspot.writes)
        pushed = push.push_records(runtime, ids["hubspot"], rt["id"], [target["id"]])
        assert pushed["counts"]["pushed"] == 1
        again = push.push_records(runtime, ids["hubspot"], rt["id"], None)  # everything
        assert again["rows"] == 0
        writes = hubspot.writes[before:]
        assert len(writes) == 1 and writes[0].operation.endswith("/batch/update")
        contact = writes[0].target
        assert hubspot.get("contacts", contact)["properties"]["phone"] == "+12125550199"


def test_a_record_deleted_in_the_tool_stays_with_its_context(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe:
        ids = stripe.seed_customers(5)
        connection = connect(runtime, access, stripe)
        map_story(runtime, access, connection, "stripe", rt["id"])
        engine.run_sync(runtime, connection)
        stripe.clock.advance(10)
        stripe.delete_customer(ids[0])
        result = engine.run_sync(runtime, connection)
    assert result["counts"]["deleted"] == 1
    with transaction(runtime.control) as conn:
        link = conn.execute(
            select(X).where(X.c.remote_id == ids[0], X.c.connection_id == connection)
        ).one()
    assert link.deleted_at is not None
    record = api.get(f"{records_path(ws, rt)}/{link.record_id}")  # still there
    history = api.get(f"{records_path(ws, rt)}/{link.record_id}/activity")["items"]
    assert history[0]["action"] == "remote_deleted"
    assert history[0]["changes"][0]["new"] == "deleted in Stripe"
    assert record["fields"]["legal_name"]


def test_a_merge_keeps_every_external_id_on_the_survivor(runtime, api, ws, access):
    rt = customer_type(api, ws, email_rule="warn")
    with HubSpotFake() as hubspot:
        first = hubspot.create("contacts", {"email": "ann@one.example", "firstname": "Ann"})
        second = hubspot.create("contacts", {"email": "ann@two.example", "firstname": "Ann"})
        connection = connect(runtime, access, hubspot)
        map_story(runtime, access, connection, "hubspot", rt["id"])
        engine.run_sync(runtime, connection)
        definition = get_type(runtime, access, rt["id"])
        with transaction(runtime.control) as conn:
            record_of = dict(
                conn.execute(
                    select(X.c.remote_id, X.c.record_id).where(X.c.connection_id == connection)
                ).all()
            )
        api.patch(
            f"{records_path(ws, rt)}/{record_of[first]}", {"fields": {"phone": "+12125550111"}}
        )
        push.push_records(runtime, connection, rt["id"], None)
        done = merges.merge(runtime, access, definition, record_of[first], record_of[second])
        # The survivor's values go to every row that is it now, the loser's contact too.
        pushed = push.push_records(runtime, connection, rt["id"], [record_of[first]])
        assert pushed["counts"]["pushed"] == 1
        assert hubspot.get("contacts", second)["properties"]["phone"] == "+12125550111"
        assert links_per_record(runtime, rt["id"]) == {record_of[first]: 1}
        mine = X.c.record_type_id == rt["id"]
        assert count(runtime, X, mine, X.c.record_id == record_of[first]) == 2
        hubspot.update("contacts", second, {"company": "Two Ltd"})
        engine.run_sync(runtime, connection)  # the loser's contact updates the survivor
        survivor = api.get(f"{records_path(ws, rt)}/{record_of[first]}")
        assert survivor["fields"]["company"] == "Two Ltd"
        assert api.get(records_path(ws, rt), limit=10)["items"] == [survivor]
        merges.undo(runtime, access, definition, done["id"], force=True)
    assert count(runtime, X, mine, X.c.record_id == record_of[second]) == 1


def test_mailchimp_members_changed_in_the_same_second_are_each_read_once(runtime, api, ws, access):
    """Mailchimp keeps whole seconds and ``since_last_changed`` means strictly after: 250
    members stamped in one second, then 30 more in that same second, then one later."""
    rt = customer_type(api, ws)
    with MailchimpFake(clock=Clock(resolution_ms=1000, strictly_increasing=False)) as mc:
        mc.seed_members(250)
        connection = connect(runtime, access, mc)
        map_story(runtime, access, connection, "mailchimp", rt["id"])
        first = engine.run_sync(runtime, connection)
        assert first["rows"] == 250
        for p in list(people(280))[250:]:
            mc.add_member(p.email)
        assert engine.run_sync(runtime, connection)["rows"] == 30
        assert engine.run_sync(runtime, connection)["rows"] == 0
        mc.clock.advance(1)
        mc.unsubscribe(next(iter(people(1))).email)
        assert engine.run_sync(runtime, connection)["rows"] == 1
    with transaction(runtime.control) as conn:
        repeats = conn.execute(
            select(m.sync_rows.c.remote_id)
            .where(m.sync_rows.c.connection_id == connection)
            .group_by(m.sync_rows.c.remote_id)
            .having(func.count() > 1)
        ).all()
    assert len(repeats) == 1  # only the member changed later, read a second time


def test_hubspot_changes_sharing_a_millisecond_are_each_read_once(runtime, api, ws, access):
    rt = customer_type(api, ws)
    with HubSpotFake(clock=Clock(strictly_increasing=False)) as hubspot:
        ids = hubspot.seed_contacts(30)
        connection = connect(runtime, access, hubspot)
        map_story(runtime, access, connection, "hubspot", rt["id"])
        engine.run_sync(runtime, connection)
        hubspot.clock.advance(1)
        for contact in ids[:25]:  # 25 changes in one millisecond, read in pages of 100...
            hubspot.update("contacts", contact, {"company": "Moved Inc"})
        changed = engine.run_sync(runtime, connection)
        # Read once each; the company is filled only while empty, so nothing changes here.
        assert changed["rows"] == 25 and changed["counts"]["unchanged"] == 25
        assert engine.run_sync(runtime, connection)["rows"] == 0


def test_one_sync_per_connection_at_a_time(runtime, api, ws, access):
    """Outside the queue (the command line) a sync holds the connection's lease: another
    one is refused while it runs, and the queue holds at most one sync job per connection."""
    rt = customer_type(api, ws)
    with HubSpotFake() as hubspot:
        hubspot.seed_contacts(3)
        connection = connect(runtime, access, hubspot)
        map_story(runtime, access, connection, "hubspot", rt["id"])
        lease.claim(runtime, connection, "another-process")
        with pytest.raises(engine.SyncBusy):
            engine.run_sync(runtime, connection)
        lease.release(runtime, connection, "another-process")
        assert api.post(f"/workspaces/{ws}/connections/{connection}/sync", expect=202)["queued"]
        api.post(f"/workspaces/{ws}/connections/{connection}/sync", expect=409)
        assert engine.waiting(runtime, connection)
        assert run_until_idle(runtime) >= 1
        assert not engine.waiting(runtime, connection)
        (run,) = api.get(f"/workspaces/{ws}/connections/{connection}/runs")
    assert (run["state"], run["trigger"], run["counts"]["created"]) == ("done", "manual", 3)


def test_pulls_write_as_the_connection_in_the_history(runtime, api, ws, access: Access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe:
        stripe.seed_customers(1)
        connection = connect(runtime, access, stripe, name="Billing")
        map_story(runtime, access, connection, "stripe", rt["id"])
        engine.run_sync(runtime, connection)
    record = api.get(records_path(ws, rt))["items"][0]
    entry = api.get(f"{records_path(ws, rt)}/{record['id']}/activity")["items"][-1]
    assert (entry["source"], entry["source_ref"]) == ("connector", f"connection:{connection}")
    definition = get_type(runtime, access, rt["id"])
    owned, free = (definition.field_by_key(k) for k in ("legal_name", "name"))
    assert owned is not None and free is not None
    assert definition.owner_of(owned.id).name == "Billing"  # type: ignore[union-attr]
    assert definition.owner_of(free.id) is None
