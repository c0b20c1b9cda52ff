"""Automations end to end through the API and the worker: triggers, conditions, actions,
the run log, the activity "by automation", retries and the dead letter, the loop guard,
the rate cap, bad definitions refused on save, a field deleted later, a dry run, inbound
webhooks, time triggers, and a third-party action plugin. The issue's scenarios without a
browser: nurture stops when a lead becomes a customer or is merged, restrictive statuses
stay in sync across a relation without looping, and a form post matched to a customer
creates a task for its owner and no record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from tests.helpers import Api, field, make_type, records_path
from tests.plugins import automation_stamp
from tests.workers import stop, wait_for, worker_process
from workspace import models as m
from workspace.access import auth, users
from workspace.app import create_app
from workspace.automations import timers
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.forms import forms, intake, tokens
from workspace.jobs.worker import run_until_idle
from workspace.plugins import make_plugin_manager
from workspace.records.pages import record_timeline
from workspace.schema import definitions
from workspace.web.fields import field_value

R = m.automation_runs


def automations_path(ws: int) -> str:
    return f"/workspaces/{ws}/automations"


def add(
    api: Api, ws: int, rt: dict[str, Any], trigger: dict[str, Any], *actions: Any, **kw: Any
) -> Any:
    body = {"name": kw.pop("name", "Test"), "record_type": rt["id"], "trigger": trigger}
    body.update(actions=list(actions), **kw)
    return api.post(automations_path(ws), body, expect=201)


def runs_of(api: Api, ws: int, automation: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    found = api.get(f"{automations_path(ws)}/runs", automation=automation["id"], **params)
    return list(reversed(found["items"]))


@pytest.fixture
def leads(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(
        api,
        ws,
        "Lead",
        field("Name", "text"),
        field("Email", "email"),
        field("Status", "single_choice", choices=["Lead", "Customer", "Lost"]),
        field("In nurture", "checkbox"),
        field("Note", "text"),
        field("N", "number"),
    )
    return {"rt": rt, "path": records_path(ws, rt)}


def lead(api: Api, leads: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return api.post(leads["path"], {"fields": fields}, expect=201)


def patch(api: Api, leads: dict[str, Any], record: dict[str, Any], **fields: Any) -> Any:
    return api.patch(f"{leads['path']}/{record['id']}", {"fields": fields}, expect=200)


def get(api: Api, leads: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    return api.get(f"{leads['path']}/{record['id']}")["fields"]


NURTURE_OFF = {
    "type": "set_fields",
    "values": {"in_nurture": False, "note": "Customer on {{ today }} ({{ record.name }})"},
}


# ---- the nurture scenario ----------------------------------------------------------------


def test_a_lead_that_becomes_a_customer_leaves_nurture_by_automation(
    api, ws, leads, runtime, access
):
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "record_updated", "to": {"status": "Customer"}},
        NURTURE_OFF,
        name="Stop nurture",
    )
    ada = lead(api, leads, name="Ada", status="Lead", in_nurture=True)
    patch(api, leads, ada, name="Ada L.")  # not the change the trigger waits for
    run_until_idle(runtime)
    assert get(api, leads, ada)["in_nurture"] is True and runs_of(api, ws, auto) == []
    patch(api, leads, ada, status="Customer")
    run_until_idle(runtime)
    fields = get(api, leads, ada)
    assert fields["in_nurture"] is False
    assert fields["note"] == f"Customer on {dt.datetime.now(dt.UTC).date()} (Ada L.)"
    (run,) = runs_of(api, ws, auto)
    assert (run["state"], run["record"], run["automation_name"]) == (
        "done",
        ada["id"],
        "Stop nurture",
    )
    assert run["trigger"]["kind"] == "record.updated"
    detail = api.get(f"{automations_path(ws)}/runs/{run['id']}")
    (step,) = detail["steps"]
    assert (step["action"], step["state"], step["attempt"]) == ("set_fields", "done", 1)
    assert step["output"]["values"]["in_nurture"] is False and step["ms"] >= 0
    history = api.get(f"{leads['path']}/{ada['id']}/activity")["items"]
    by_automation = [h for h in history if h["source"] == "automation"]
    assert by_automation[0]["source_ref"] == f"automation:{auto['id']}"
    assert by_automation[0]["source_name"] == "Stop nurture"
    rt = definitions.open_type(runtime, access.principal, ws, leads["rt"]["id"])[1]
    events = record_timeline.timeline(runtime, access, rt, ada["id"], {})["events"]
    assert events[0].source == "by automation Stop nurture"
    assert {c["field"] for c in by_automation[0]["changes"]} == {"in_nurture", "note"}
    # The run shows on the record's own run log too.
    mine = api.get(f"{automations_path(ws)}/runs", record_type=leads["rt"]["id"], record=ada["id"])
    assert [r["id"] for r in mine["items"]] == [run["id"]]


def test_a_merged_lead_leaves_nurture_and_its_tombstone_never_triggers_again(
    api, ws, leads, runtime
):
    auto = add(api, ws, leads["rt"], {"type": "records_merged"}, NURTURE_OFF)
    a = lead(api, leads, name="Ann", in_nurture=True)
    b = lead(api, leads, name="Anne", in_nurture=True)
    base = f"/workspaces/{ws}/types/{leads['rt']['id']}"
    api.post(f"{base}/merges", {"survivor": a["id"], "loser": b["id"]}, expect=201)
    run_until_idle(runtime)
    assert get(api, leads, a)["in_nurture"] is False
    (run,) = runs_of(api, ws, auto)
    assert run["record"] == a["id"] and run["trigger"]["data"]["loser_id"] == b["id"]
    api.patch(f"{leads['path']}/{b['id']}", {"fields": {"name": "x"}}, expect=404)
    run_until_idle(runtime)
    assert len(runs_of(api, ws, auto)) == 1


# ---- restrictive statuses in sync, without looping --------------------------------------


def test_a_restrictive_status_spreads_across_a_relation_without_looping(api, ws, runtime):
    rt = api.post(
        f"/workspaces/{ws}/types",
        {
            "name": "Contact",
            "fields": [
                field("Name", "text"),
                field("Status", "single_choice", choices=["Active", "Suspended", "Blacklisted"]),
            ],
        },
        expect=201,
    )
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/fields",
        field("Related", "relation", target=rt["id"]),
        expect=201,
    )
    path = records_path(ws, rt)
    a, b, c = (
        api.post(path, {"fields": {"name": n, "status": "Active"}}, expect=201) for n in "ABC"
    )
    api.patch(f"{path}/{a['id']}", {"fields": {"related": [b["id"]]}}, expect=200)
    api.patch(f"{path}/{b['id']}", {"fields": {"related": [a["id"], c["id"]]}}, expect=200)
    api.patch(f"{path}/{c['id']}", {"fields": {"related": [b["id"]]}}, expect=200)
    auto = add(
        api,
        ws,
        rt,
        {"type": "record_updated", "fields": ["status"]},
        {
            "type": "related_records",
            "relation": "related",
            "values": {"status": "{{ record.status }}"},
        },
        conditions={
            "filter": {"field": "status", "op": "in", "value": ["Suspended", "Blacklisted"]}
        },
    )
    api.patch(f"{path}/{a['id']}", {"fields": {"status": "Blacklisted"}}, expect=200)
    run_until_idle(runtime)
    statuses = {r["fields"]["name"]: r["fields"]["status"] for r in api.get(path)["items"]}
    assert statuses == {"A": "Blacklisted", "B": "Blacklisted", "C": "Blacklisted"}
    runs = runs_of(api, ws, auto)
    assert [r["record"] for r in runs] == [a["id"], b["id"], c["id"]]
    assert all(r["state"] == "done" for r in runs)
    assert runs[2]["chain"] == [[auto["id"], a["id"]], [auto["id"], b["id"]]]


def test_the_loop_guard_stops_an_automation_that_feeds_itself(api, ws, leads, runtime):
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "record_updated"},
        {"type": "set_fields", "values": {"n": "{{ (record.n or 0) + 1 }}"}},
    )
    ada = lead(api, leads, name="Ada", n=0)
    patch(api, leads, ada, name="Ada L.")
    run_until_idle(runtime)
    runs = runs_of(api, ws, auto)
    assert [r["state"] for r in runs] == ["done", "done", "done", "stopped"]
    assert "loop guard" in runs[-1]["error"] and "3 times" in runs[-1]["error"]
    assert get(api, leads, ada)["n"] == 3


# ---- a form post matched to a customer -----------------------------------------------------


def test_a_form_post_matched_to_a_customer_gives_its_owner_a_task_and_no_record(
    api, ws, runtime, access, make_user
):
    member, _ = make_user(name="Olive Owner")
    api.post(f"/workspaces/{ws}/members", {"email": member["email"], "role": "member"}, expect=201)
    rt, (ada,) = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text"),
        field("Email", "email"),
        field("Owner", "user"),
        rows=[{"name": "Ada", "email": "ada@example.org", "owner": member["id"]}],
    )
    rule = {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"}
    api.post(f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules", rule, expect=201)
    form = forms.create_form(runtime, access, rt["id"], "Contact us")
    config = {**forms.get_form(runtime, access, form["id"])["config"], "policy": "update"}
    forms.update_form(runtime, access, form["id"], {"config": config})
    add(
        api,
        ws,
        rt,
        {"type": "form_submitted", "outcomes": ["updated"]},
        {
            "type": "create_task",
            "title": "Call back {{ record.name }}",
            "assignee": "{{ record.owner }}",
            "due_in_days": 2,
        },
    )
    raw = {
        "_form_token": tokens.issue(runtime, form["id"]),
        "name": "Ada",
        "email": "ADA@example.org",
    }
    answer = intake.submit(runtime, form["slug"], raw, "198.51.100.20", field_value)
    assert (answer.outcome, answer.record_id) == ("updated", ada["id"])
    run_until_idle(runtime)
    (task,) = api.get(f"/workspaces/{ws}/tasks")["items"]
    assert (task["record"], task["assignee"], task["title"]) == (
        ada["id"],
        member["id"],
        "Call back Ada",
    )
    assert task["due"] == (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    assert len(api.get(records_path(ws, rt))["items"]) == 1


# ---- bad input, and fields deleted later ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        ({"trigger": {"type": "record_renamed"}}, "trigger.type", "unknown trigger"),
        ({"actions": [{"type": "teleport"}]}, "actions[0].type", "unknown action"),
        (
            {"actions": [{"type": "set_fields", "values": {"nope": 1}}]},
            "actions[0].values.nope",
            "no such field",
        ),
        (
            {"actions": [{"type": "set_fields", "values": {"note": "{{ record.name"}}]},
            "actions[0].values.note",
            "invalid template",
        ),
        ({"actions": [{"type": "set_fields", "values": {"n": "many"}}]}, "actions[0].values.n", ""),
        (
            {"conditions": {"filter": {"field": "status", "op": "gt", "value": 1}}},
            "conditions.filter.status",
            "supports",
        ),
        ({"trigger": {"type": "schedule", "cron": "61 * * * *"}}, "trigger.cron", "invalid cron"),
        (
            {"trigger": {"type": "record_updated", "fields": ["gone"]}},
            "trigger.fields[0]",
            "no such field",
        ),
        ({"actions": []}, "actions", "at least one"),
    ],
)
def test_bad_definitions_are_refused_naming_the_step_and_field(
    api, ws, leads, change, where, reason
):
    body = {
        "name": "Bad",
        "record_type": leads["rt"]["id"],
        "trigger": {"type": "record_created"},
        "actions": [NURTURE_OFF],
        **change,
    }
    found = api.post(automations_path(ws), body, expect=422)["error"]
    assert where in found["fields"], found
    assert reason in found["fields"][where]
    assert api.get(automations_path(ws)) == []


def test_a_field_deleted_later_turns_the_automation_off_with_a_notice(api, ws, leads, runtime):
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "record_created"},
        {"type": "set_fields", "values": {"note": "hello"}},
    )
    fields = api.get(f"/workspaces/{ws}/types/{leads['rt']['id']}")["fields"]
    note = next(f for f in fields if f["key"] == "note")
    api.delete(f"/workspaces/{ws}/types/{leads['rt']['id']}/fields/{note['id']}", expect=204)
    lead(api, leads, name="Ada")
    run_until_idle(runtime)
    now = api.get(f"{automations_path(ws)}/{auto['id']}")
    assert now["enabled"] is False and "note" in now["notice"]
    (run,) = runs_of(api, ws, auto)
    assert run["state"] == "stopped" and "turned off" in run["error"]
    lead(api, leads, name="Bob")
    run_until_idle(runtime)
    assert len(runs_of(api, ws, auto)) == 1  # off: no more runs, no crash loop
    refused = api.post(f"{automations_path(ws)}/{auto['id']}/enable", expect=422)
    assert "actions[0].values.note" in refused["error"]["fields"]


# ---- managing automations, dry runs ----------------------------------------------------------


def test_enable_disable_duplicate_and_delete(api, ws, leads, runtime):
    auto = add(api, ws, leads["rt"], {"type": "record_created"}, NURTURE_OFF, name="Welcome")
    off = api.post(f"{automations_path(ws)}/{auto['id']}/disable", expect=200)
    assert off["enabled"] is False
    lead(api, leads, name="Ada", in_nurture=True)
    run_until_idle(runtime)
    assert runs_of(api, ws, auto) == []
    copy = api.post(f"{automations_path(ws)}/{auto['id']}/duplicate", expect=201)
    assert (copy["name"], copy["enabled"], copy["actions"]) == (
        "Welcome (copy)",
        False,
        auto["actions"],
    )
    assert api.post(f"{automations_path(ws)}/{auto['id']}/enable", expect=200)["enabled"] is True
    renamed = api.patch(f"{automations_path(ws)}/{auto['id']}", {"name": "Hello"}, expect=200)
    assert renamed["name"] == "Hello" and renamed["version"] == auto["version"] + 3
    api.delete(f"{automations_path(ws)}/{auto['id']}", expect=204)
    assert [a["id"] for a in api.get(automations_path(ws))] == [copy["id"]]


def test_a_dry_run_says_what_each_step_would_do_and_does_nothing(api, ws, leads, runtime):
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "record_created"},
        NURTURE_OFF,
        {"type": "create_task", "title": "Call {{ record.name }}", "due_in_days": 1},
        {"type": "stop_if", "filter": {"field": "status", "op": "eq", "value": "Customer"}},
        {"type": "add_comment", "text": "never reached"},
    )
    ada = lead(api, leads, name="Ada", status="Customer", in_nurture=True)
    with transaction(runtime.control, write=True) as conn:  # no run for this test's create
        conn.execute(
            m.automations.update().where(m.automations.c.id == auto["id"]).values(enabled=False)
        )
    result = api.post(
        f"{automations_path(ws)}/{auto['id']}/dry-run", {"record": ada["id"]}, expect=200
    )
    would = [s["would"] for s in result["steps"]]
    assert would[0]["values"]["in_nurture"] is False and would[0]["would_update"] == ada["id"]
    assert would[1]["would_create_task"]["title"] == "Call Ada"
    assert would[2] == {"would_stop": "the record matched the stop condition"}
    assert len(result["steps"]) == 3 and result["conditions_met"] is True
    assert get(api, leads, ada)["in_nurture"] is True
    assert api.get(f"/workspaces/{ws}/tasks")["items"] == []
    api.post(f"{automations_path(ws)}/{auto['id']}/dry-run", {"record": 10**12}, expect=404)


# ---- failures, the dead letter, waits, the rate cap -----------------------------------------


@pytest.fixture
def stamped(settings) -> Iterator[tuple[Api, Any]]:
    """An app whose plugins include the third-party ``test_stamp`` action."""
    pm = make_plugin_manager(settings)
    pm.register(automation_stamp, name="test-automation-stamp")
    runtime = build_runtime(settings, pm)
    user = users.create_user(runtime, f"stamp{id(pm)}@example.com", password=None)
    _, token = auth.create_token(runtime, user["id"], "t")
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
        yield Api(client, token), runtime
    runtime.close()


def test_a_plugin_action_fails_retries_dies_and_is_replayed_from_the_failed_step(stamped):
    api, runtime = stamped
    ws = api.post("/workspaces", {"name": "w"}, expect=201)["id"]
    rt, _ = make_type(
        api,
        ws,
        "Lead",
        field("Name", "text"),
        field("Ready", "checkbox"),
        field("Stamp", "text"),
        field("Note", "text"),
    )
    path = records_path(ws, rt)
    auto = add(
        api,
        ws,
        rt,
        {"type": "record_created"},
        {"type": "set_fields", "values": {"note": "first step"}},
        {"type": "test_stamp", "field": "stamp", "text": "by {{ automation.name }}"},
        name="Stamper",
    )
    ada = api.post(path, {"fields": {"name": "Ada"}}, expect=201)
    run_until_idle(runtime)
    now = utcnow()
    (run,) = runs_of(api, ws, auto)
    assert run["state"] == "retrying" and run["error"] == "the record is not ready"
    assert run["step"] == 1
    for hours in range(1, 8):  # past every backoff
        run_until_idle(runtime, now=now + dt.timedelta(hours=hours))
    (run,) = runs_of(api, ws, auto, state="dead")
    detail = api.get(f"{automations_path(ws)}/runs/{run['id']}")
    failed = [s for s in detail["steps"] if s["state"] == "failed"]
    assert [s["attempt"] for s in failed] == [1, 2, 3, 4, 5]
    assert [s["action"] for s in detail["steps"] if s["state"] == "done"] == ["set_fields"]
    api.patch(f"{path}/{ada['id']}", {"fields": {"ready": True}}, expect=200)
    assert api.post(f"{automations_path(ws)}/runs/replay", {"runs": [run["id"]]}, expect=200) == {
        "replayed": [run["id"]]
    }
    run_until_idle(runtime, now=now + dt.timedelta(hours=9))
    fields = api.get(f"{path}/{ada['id']}")["fields"]
    assert (fields["stamp"], fields["note"]) == ("by Stamper", "first step")
    assert runs_of(api, ws, auto)[0]["state"] == "done"
    history = api.get(f"{path}/{ada['id']}/activity")["items"]
    assert (
        sum(
            1
            for h in history
            if h["source"] == "automation" and any(c["field"] == "note" for c in h["changes"])
        )
        == 1
    )
    assert api.post(f"{automations_path(ws)}/runs/dismiss", {"runs": [run["id"]]}, expect=200) == {
        "dismissed": []
    }


def test_an_unexpected_error_of_a_step_keeps_its_class_for_the_bug_report(stamped, monkeypatch):
    api, runtime = stamped

    def broken(self: Any, step: Any) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(automation_stamp.Stamp, "run", broken)
    ws = api.post("/workspaces", {"name": "w"}, expect=201)["id"]
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Stamp", "text"))
    auto = add(api, ws, rt, {"type": "record_created"}, {"type": "test_stamp", "field": "stamp"})
    api.post(records_path(ws, rt), {"fields": {"name": "a"}}, expect=201)
    run_until_idle(runtime)
    (run,) = runs_of(api, ws, auto)
    assert run["error"] == "ZeroDivisionError: division by zero"


def test_dead_runs_are_dismissed_in_bulk(stamped):
    api, runtime = stamped
    ws = api.post("/workspaces", {"name": "w"}, expect=201)["id"]
    rt, _ = make_type(
        api, ws, "Lead", field("Name", "text"), field("Ready", "checkbox"), field("Stamp", "text")
    )
    auto = add(api, ws, rt, {"type": "record_created"}, {"type": "test_stamp", "field": "stamp"})
    for name in ("a", "b"):
        api.post(records_path(ws, rt), {"fields": {"name": name}}, expect=201)
    run_until_idle(runtime)
    now = utcnow()
    for hours in range(1, 8):
        run_until_idle(runtime, now=now + dt.timedelta(hours=hours))
    dead = [r["id"] for r in runs_of(api, ws, auto, state="dead")]
    assert len(dead) == 2
    assert sorted(
        api.post(f"{automations_path(ws)}/runs/dismiss", {"runs": dead}, expect=200)["dismissed"]
    ) == sorted(dead)
    assert runs_of(api, ws, auto, state="dead") == []
    api.post(f"{automations_path(ws)}/runs/dismiss", {"runs": ["x"]}, expect=422)


def test_a_wait_is_durable_and_the_run_goes_on_after_it(api, ws, leads, runtime):
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "record_created"},
        {"type": "wait", "hours": 2},
        {"type": "set_fields", "values": {"note": "after the wait"}},
    )
    ada = lead(api, leads, name="Ada")
    run_until_idle(runtime)
    now = utcnow()
    (run,) = runs_of(api, ws, auto)
    assert run["state"] == "waiting" and run["step"] == 1 and get(api, leads, ada)["note"] is None
    run_until_idle(runtime, now=now + dt.timedelta(hours=1))
    assert get(api, leads, ada)["note"] is None
    run_until_idle(runtime, now=now + dt.timedelta(hours=2, minutes=1))
    assert get(api, leads, ada)["note"] == "after the wait"
    assert runs_of(api, ws, auto)[0]["state"] == "done"


def test_the_rate_cap_queues_the_excess_instead_of_dropping_it(settings, runtime, api, ws, leads):
    capped = build_runtime(dataclasses.replace(settings, automation_runs_per_minute=2), runtime.pm)
    try:
        auto = add(
            api,
            ws,
            leads["rt"],
            {"type": "record_created"},
            {"type": "set_fields", "values": {"note": "seen"}},
        )
        for i in range(5):
            lead(api, leads, name=f"L{i}")
        run_until_idle(capped)
        now = utcnow()
        states = [r["state"] for r in runs_of(api, ws, auto)]
        assert states.count("done") == 2 and states.count("queued") == 3
        for minutes in range(1, 5):
            run_until_idle(capped, now=now + dt.timedelta(minutes=minutes, seconds=1))
        assert [r["state"] for r in runs_of(api, ws, auto)] == ["done"] * 5
    finally:
        capped.close()


# ---- inbound webhooks and time triggers ----------------------------------------------------


def test_an_inbound_webhook_creates_or_updates_a_record_through_dedupe(
    api, ws, leads, runtime, client
):
    rule = {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"}
    api.post(f"/workspaces/{ws}/types/{leads['rt']['id']}/dedupe-rules", rule, expect=201)
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "webhook"},
        {
            "type": "upsert_record",
            "values": {
                "name": "{{ trigger.payload.name }}",
                "email": "{{ trigger.payload.email }}",
            },
        },
    )
    hook = auto["hook_path"]
    assert hook.startswith("/api/v1/hooks/automations/") and len(hook) > 50
    for name in ("Ada", "Ada Lovelace"):
        answer = client.post(hook, json={"name": name, "email": "ada@example.org"})
        assert answer.status_code == 202, answer.text
        run_until_idle(runtime)
    (record,) = api.get(leads["path"])["items"]
    assert record["fields"]["name"] == "Ada Lovelace"
    assert [r["state"] for r in runs_of(api, ws, auto)] == ["done", "done"]
    assert client.post(hook, content=b"not json").status_code == 422
    assert client.post("/api/v1/hooks/automations/nope", json={}).status_code == 404
    api.post(f"{automations_path(ws)}/{auto['id']}/disable", expect=200)
    assert client.post(hook, json={}).status_code == 409
    with transaction(runtime.control) as conn:
        kept = (
            conn.execute(
                select(m.automation_inbound.c.outcome)
                .where(m.automation_inbound.c.automation_id == auto["id"])
                .order_by(m.automation_inbound.c.id)
            )
            .scalars()
            .all()
        )
    assert kept == ["accepted", "accepted", "refused", "refused"]


def test_a_date_field_reached_fires_at_its_time_in_the_workspace_time_zone(api, ws, runtime):
    api.patch(f"/workspaces/{ws}", {"time_zone": "Europe/Berlin"}, expect=200)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    rt, _ = make_type(
        api, ws, "Lead", field("Name", "text"), field("Next call", "date"), field("Note", "text")
    )
    auto = add(
        api,
        ws,
        rt,
        {"type": "date_reached", "field": "next_call", "time": "09:00"},
        {"type": "set_fields", "values": {"note": "call today"}},
    )
    fires = dt.datetime.fromisoformat(auto["next_fire_at"].replace("Z", "+00:00"))
    local = fires.astimezone(berlin)
    assert (local.hour, local.minute) == (9, 0) and fires > utcnow()
    day = local.date()
    path = records_path(ws, rt)
    for name, when in (("Due", day), ("Later", day + dt.timedelta(days=3))):
        api.post(path, {"fields": {"name": name, "next_call": when.isoformat()}}, expect=201)
    run_until_idle(runtime)  # the creates trigger nothing
    assert timers.fire_due(runtime, now=fires - dt.timedelta(minutes=1)) == 0
    assert timers.fire_due(runtime, now=fires) == 1
    assert timers.fire_due(runtime, now=fires) == 0  # once per firing
    run_until_idle(runtime, now=fires)
    notes = {r["fields"]["name"]: r["fields"]["note"] for r in api.get(path)["items"]}
    assert notes == {"Due": "call today", "Later": None}
    following = api.get(f"{automations_path(ws)}/{auto['id']}")["next_fire_at"]
    next_local = dt.datetime.fromisoformat(following.replace("Z", "+00:00")).astimezone(berlin)
    assert (next_local.date(), next_local.hour) == (day + dt.timedelta(days=1), 9)


def test_a_schedule_fires_on_the_records_the_conditions_pick(api, ws, leads, runtime):
    lead(api, leads, name="Ada", status="Lead")
    lead(api, leads, name="Bob", status="Lost")
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "schedule", "cron": "0 9 * * *"},
        {"type": "add_comment", "text": "Morning check"},
        conditions={"filter": {"field": "status", "op": "eq", "value": "Lead"}},
    )
    fires = dt.datetime.fromisoformat(auto["next_fire_at"].replace("Z", "+00:00"))
    assert timers.fire_due(runtime, now=fires) == 1
    run_until_idle(runtime, now=fires)
    (run,) = runs_of(api, ws, auto)
    assert run["state"] == "done" and run["trigger"]["kind"] == "schedule"


def test_the_api_document_lists_the_automation_endpoints(client):
    paths = client.get("/api/v1/schema/openapi.json").json()["paths"]
    assert "/api/v1/workspaces/{workspace_id}/automations" in paths
    assert "/api/v1/workspaces/{workspace_id}/automations/{automation_id}/dry-run" in paths
    assert "/api/v1/hooks/automations/{secret}" in paths


# ---- a worker killed among a thousand runs ------------------------------------------------


def test_a_worker_killed_among_a_thousand_runs_leaves_each_effect_once(
    api, ws, leads, runtime, settings, tmp_path
):
    auto = add(
        api,
        ws,
        leads["rt"],
        {"type": "record_created"},
        {"type": "set_fields", "values": {"note": "seen by {{ automation.name }}"}},
    )
    items = [{"fields": {"name": f"Lead {i}"}} for i in range(1000)]
    api.post(f"{leads['path']}/bulk", {"items": items}, expect=200)
    J = m.jobs

    def tally() -> dict[str, int]:
        with transaction(runtime.control) as conn:
            return dict(
                conn.execute(
                    select(R.c.state, func.count())
                    .where(R.c.automation_id == auto["id"])
                    .group_by(R.c.state)
                ).all()
            )

    def claimed() -> bool:
        with transaction(runtime.control) as conn:
            query = select(func.count()).where(
                J.c.kind == "automation.run", J.c.state == "running", J.c.workspace_id == ws
            )
            return bool(conn.execute(query).scalar_one())

    first = worker_process(settings, tmp_path, "first", plugins="")
    try:
        wait_for(lambda: tally().get("done", 0) >= 100, 180, "the first runs")
        wait_for(claimed, 30, "a claimed batch")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        stop(first)
    assert tally().get("done", 0) < 1000
    second = worker_process(settings, tmp_path, "second", plugins="")
    try:
        wait_for(lambda: tally() == {"done": 1000}, 600, "every run")
    finally:
        stop(second)
    A = m.activity
    with transaction(runtime.control) as conn:
        per_record = conn.execute(
            select(A.c.record_id, func.count())
            .where(A.c.record_type_id == leads["rt"]["id"], A.c.source == "automation")
            .group_by(A.c.record_id)
        ).all()
        steps = conn.execute(
            select(func.count())
            .select_from(m.automation_steps.join(R, R.c.id == m.automation_steps.c.run_id))
            .where(R.c.automation_id == auto["id"], m.automation_steps.c.state == "done")
        ).scalar_one()
    assert len(per_record) == 1000 and {n for _, n in per_record} == {1}
    assert steps == 1000
    notes = {r["fields"]["note"] for r in api.get(leads["path"], limit=200)["items"]}
    assert notes == {"seen by Test"}
