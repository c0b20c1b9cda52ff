"""The event outbox: every committed record change has its event, written in the same
transaction (a change that rolls back has none), with who made it, the changes, and the chain
of automations behind it; merges, form outcomes and queued duplicates write theirs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import Api, field, make_type, records_path
from workspace import models as m
from workspace.db import transaction
from workspace.dedupe import queue as duplicates
from workspace.forms import forms, intake, tokens
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.web.fields import field_value

OUTBOX = m.event_outbox


def events(runtime: Runtime, ws: int, **where: Any) -> list[dict[str, Any]]:
    query = select(OUTBOX).where(OUTBOX.c.workspace_id == ws).order_by(OUTBOX.c.id)
    for name, value in where.items():
        query = query.where(OUTBOX.c[name] == value)
    with transaction(runtime.control) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


@pytest.fixture
def leads(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(
        api, ws, "Lead", field("Name", "text", required=True), field("Email", "email")
    )
    return {"rt": rt, "path": records_path(ws, rt)}


def test_each_record_change_has_its_event(api, ws, leads, runtime, owner):
    made = api.post(leads["path"], {"fields": {"name": "Ada"}}, expect=201)
    path = f"{leads['path']}/{made['id']}"
    api.patch(path, {"fields": {"name": "Ada L."}}, expect=200)
    api.patch(path, {"fields": {"name": "Ada L."}}, expect=200)  # no change, no event
    api.delete(path, expect=204)
    api.post(f"{path}/restore", expect=200)
    found = events(runtime, ws, record_id=made["id"])
    assert [e["kind"] for e in found] == [
        "record.created",
        "record.updated",
        "record.deleted",
        "record.restored",
    ]
    updated = found[1]
    assert updated["changes"] == [{"field": "name", "old": "Ada", "new": "Ada L."}]
    assert updated["record_type_id"] == leads["rt"]["id"]
    assert (updated["actor_user_id"], updated["source"]) == (owner[0]["id"], "api")
    assert updated["chain"] == [] and updated["dispatched_at"] is None


def test_a_batch_that_rolls_back_leaves_no_event(api, ws, leads, runtime):
    items = [{"fields": {"name": "Ok"}}, {"fields": {"email": "not an email"}}]
    result = api.post(f"{leads['path']}/bulk", {"items": items}, expect=422)
    assert result["written"] is False
    assert events(runtime, ws, record_type_id=leads["rt"]["id"]) == []


def test_a_write_whose_transaction_fails_after_it_leaves_no_event(runtime, access, leads, ws):
    rt = definitions.open_type(runtime, access.principal, ws, leads["rt"]["id"])[1]

    def fail(tx: Any, outcomes: Any) -> None:
        assert outcomes[0].status == "created"  # written, activity and event included...
        raise RuntimeError("...and then the transaction fails")

    with pytest.raises(RuntimeError):
        records.create_from_texts(runtime, access, rt, [{"name": "Bob"}], override=None, after=fail)
    assert events(runtime, ws) == []
    assert api_count(runtime, access, rt) == 0
    records.create_from_texts(
        runtime, access, rt, [{"name": "Bob"}], override=None, after=lambda *_: None
    )
    assert [e["kind"] for e in events(runtime, ws)] == ["record.created"]


def api_count(runtime: Runtime, access: Access, rt: Any) -> int:
    return len(records.list_records(runtime, access, rt)["items"])


def test_the_chain_of_automations_travels_with_the_event(runtime, access, leads, ws):
    rt = definitions.open_type(runtime, access.principal, ws, leads["rt"]["id"])[1]
    p = access.principal
    by_automation = Principal(
        p.user_id, p.email, source="automation", source_ref="automation:7", chain=((7, 1), (9, 2))
    )
    acc = Access(by_automation, ws, access.role, access.phone_region)
    made = records.create(runtime, acc, rt, {"name": "Chained"})
    (event,) = events(runtime, ws, record_id=made["id"])
    assert event["chain"] == [[7, 1], [9, 2]]
    assert (event["source"], event["source_ref"]) == ("automation", "automation:7")


def test_merges_and_queued_duplicates_write_their_events(api, ws, leads, runtime, access):
    base = f"/workspaces/{ws}/types/{leads['rt']['id']}"
    rule = {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"}
    api.post(f"{base}/dedupe-rules", rule, expect=201)
    a = api.post(leads["path"], {"fields": {"name": "Ann", "email": "a@x.org"}}, expect=201)
    b = api.post(leads["path"], {"fields": {"name": "Anne", "email": "a@x.org"}}, expect=201)
    (queued,) = events(runtime, ws, kind="duplicate.queued")
    pair_id = queued["data"]["pair_id"]
    assert queued["data"] == {
        "pair_id": pair_id,
        "record_a": a["id"],
        "record_b": b["id"],
        "score": 1.0,
    }
    done = api.post(f"{base}/merges", {"survivor": a["id"], "loser": b["id"]}, expect=201)
    (merged,) = events(runtime, ws, kind="record.merged")
    assert merged["record_id"] == a["id"]
    assert merged["data"] == {"survivor_id": a["id"], "loser_id": b["id"], "merge_id": done["id"]}


def test_a_scan_writes_an_event_per_pair_it_queues(api, ws, runtime, access):
    rt, _ = make_type(
        api,
        ws,
        "Person",
        field("Name", "text"),
        field("Phone", "phone"),
        rows=[
            {"name": "Jonathan Smith", "phone": "+44 20 7946 0958"},
            {"name": "Jonathon Smith", "phone": "+442079460958"},
            {"name": "Mary Jones", "phone": "+44 20 7946 0000"},
        ],
    )
    rule = {"rule": "contact", "fields": ["name", None, "phone"], "on_create": "warn"}
    api.post(f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules", rule, expect=201)
    assert events(runtime, ws, kind="duplicate.queued") == []  # a fuzzy rule waits for a scan
    rt_def = definitions.open_type(runtime, access.principal, ws, rt["id"])[1]
    assert duplicates.scan(runtime, access, rt_def)["queued"] == 1
    (pair,) = duplicates.list_pairs(runtime, access, rt_def)["items"]
    (event,) = events(runtime, ws, kind="duplicate.queued")
    assert event["data"]["pair_id"] == pair["id"] and event["source"] == "api"
    assert {event["data"]["record_a"], event["data"]["record_b"]} == {
        pair["a"]["id"],
        pair["b"]["id"],
    }


def test_a_form_submission_writes_its_outcome(runtime, access, leads, ws):
    form = forms.create_form(runtime, access, leads["rt"]["id"], "Contact")
    slug = form["slug"]
    raw = {"_form_token": tokens.issue(runtime, form["id"]), "name": "Dee"}
    answer = intake.submit(runtime, slug, raw, "198.51.100.9", field_value)
    assert answer.outcome == "created"
    (event,) = events(runtime, ws, kind="form.submitted")
    assert event["data"] == {
        "form_id": form["id"],
        "submission_id": answer.submission_id,
        "outcome": "created",
        "kind": "submit",
    }
    assert (event["record_id"], event["source"]) == (answer.record_id, "form")
    assert event["source_ref"] == f"form:{form['id']}"
    created = events(runtime, ws, kind="record.created")
    assert created[0]["id"] < event["id"] and created[0]["source"] == "form"
