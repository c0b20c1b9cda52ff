"""The automation pages on the TestClient: the list under the workspace's navigation, the
form (create, edit, refusals shown beside their input with what was typed kept, htmx
fragments and their no-JavaScript twins), on/off, duplicate, delete with confirmation, the
dry run, the run log in every state a run can have with the dead letter replayed and
dismissed, one by one and in bulk, and the runs on a record's timeline. Plus the service's
overview of runs per automation."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import insert, select

from tests.helpers import Api, field, make_type, records_path
from tests.web import HX, csrf, log_in, page_user
from workspace import models as m
from workspace.access import auth, workspaces
from workspace.automations import runs
from workspace.automations.kinds import registries
from workspace.automations.pages import form_input, screens
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.principal import Principal

R, S = m.automation_runs, m.automation_steps
HOOK = "https://hooks.example.com/customer"


@pytest.fixture
def crm(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Ada Admin")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Shop")["id"]
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    rt, _ = make_type(
        api,
        ws,
        "Lead",
        field("Name", "text"),
        field("Status", "single_choice", choices=["Lead", "Customer"]),
        field("In nurture", "checkbox"),
        field("Next call", "date"),
    )
    log_in(client, me)
    return {
        "ws": ws,
        "rt": rt,
        "api": api,
        "base": f"/w/{ws}/automations",
        "acc": workspaces.access(runtime, principal, ws),
        "me": me,
    }


def form(crm: dict[str, Any], client: Any, **extra: Any) -> dict[str, Any]:
    """The form as a user fills it in for "Status becomes Customer → task + webhook"."""
    data = {
        "_csrf_token": csrf(client),
        "record_type": str(crm["rt"]["id"]),
        "name": "Customer welcome",
        "trigger.type": "record_updated",
        "trigger.to_field": "status",
        "trigger.to_value": "Customer",
        "conditions.filter": "",
        "action.0.type": "create_task",
        "action.0.title": "Welcome {{ record.name }}",
        "action.0.due_in_days": "2",
        "action.1.type": "webhook",
        "action.1.url": HOOK,
        "action.1.body": '{"name": "{{ record.name }}"}',
        "action.1.secret": "a-secret-of-twenty-chars",
        "enabled": "on",
    }
    data.update(extra)
    return data


def create(client: Any, crm: dict[str, Any], **extra: Any) -> int:
    response = client.post(
        crm["base"] + "/new", data=form(crm, client, **extra), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    found = re.search(r"/automations/(\d+)\?done=saved$", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def lead(crm: dict[str, Any], **fields: Any) -> dict[str, Any]:
    path = records_path(crm["ws"], crm["rt"])
    return crm["api"].post(path, {"fields": fields}, expect=201)  # type: ignore[no-any-return]


def test_the_navigation_leads_to_automations_and_a_new_one_starts_with_its_record_type(client, crm):
    home = client.get(f"/w/{crm['ws']}")
    assert f'href="{crm["base"]}"' in home.text
    listing = client.get(crm["base"])
    assert listing.status_code == 200 and "No automation yet" in listing.text
    chooser = client.get(crm["base"] + "/new")
    assert chooser.status_code == 200 and "Which records does it work on?" in chooser.text
    new = client.get(crm["base"] + f"/new?type={crm['rt']['id']}")
    assert new.status_code == 200
    assert "New automation on Lead" in new.text
    assert 'name="trigger.type"' in new.text and 'name="action.0.type"' in new.text


def test_a_saved_automation_is_listed_with_its_trigger_and_its_page_says_what_it_does(client, crm):
    automation = create(client, crm)
    page = client.get(f"{crm['base']}/{automation}?done=saved")
    assert page.status_code == 200
    assert "A record is updated: Status becomes Customer" in page.text
    assert "Create a task on the record" in page.text and "Call a webhook" in page.text
    assert "a-secret-of-twenty-chars" not in page.text
    listing = client.get(crm["base"])
    row = re.search(rf'data-testid="automation-{automation}">(.*?)</tr>', listing.text, re.S)
    assert row is not None
    assert "Customer welcome" in row.group(1) and "Status becomes Customer" in row.group(1)
    assert ">on<" in row.group(1) and "never" in row.group(1)
    saved = crm["api"].get(f"/workspaces/{crm['ws']}/automations/{automation}")
    assert saved["trigger"] == {
        "type": "record_updated",
        "fields": [],
        "to": {"status": "Customer"},
    }
    assert saved["actions"][0] == {
        "type": "create_task",
        "title": "Welcome {{ record.name }}",
        "assignee": None,
        "due_in_days": 2,
    }
    assert saved["actions"][1]["body"] == {"name": "{{ record.name }}"}
    assert "secret_sealed" in saved["actions"][1]


@pytest.mark.parametrize(
    ("extra", "input_name", "reason"),
    [
        (
            {"action.2.type": "set_fields", "action.2.values": '{"gone": 1}'},
            "action.2.values",
            "no such field in Lead",
        ),
        ({"action.0.title": "Hi {{ record.name "}, "action.0.title", "template"),
        ({"action.1.body": "{not json"}, "action.1.body", "is not valid JSON"),
        ({"action.1.type": "teleport"}, "action.1.type", "unknown action"),
        ({"trigger.to_field": "gone"}, "trigger.to_field", "no such field"),
        ({"conditions.filter": '{"field": "nope", "op": "eq", "value": 1}'}, None, None),
        ({"conditions.changed": '[{"field": "gone"}]'}, "conditions.changed", "no such field"),
        ({"name": ""}, "name", None),
    ],
)
def test_a_refused_save_shows_the_reason_beside_its_input_and_keeps_what_was_typed(
    client, crm, extra, input_name, reason
):
    before = crm["api"].get(f"/workspaces/{crm['ws']}/automations")
    data = form(crm, client, **extra)
    response = client.post(crm["base"] + "/new", data=data, follow_redirects=False)
    assert response.status_code == 422, response.text
    assert 'data-testid="automation-error"' in response.text
    if input_name is None:  # the condition's field: shown beside the conditions
        input_name = "conditions.filter"
    block = re.search(
        rf'data-testid="input-{re.escape(input_name)}">(.*?)</div>', response.text, re.S
    )
    assert block is not None, response.text
    assert 'class="field-error"' in block.group(1)
    if reason:
        assert reason in block.group(1)
    assert "Welcome {{ record.name }}" in response.text or "Hi {{ record.name" in response.text
    assert HOOK in response.text or "teleport" in response.text  # what was typed is kept
    assert "a-secret-of-twenty-chars" not in response.text  # a secret is never sent back
    assert 'data-testid="secret-retype"' in response.text or "teleport" in response.text
    assert crm["api"].get(f"/workspaces/{crm['ws']}/automations") == before


def test_htmx_swaps_a_triggers_options_and_adds_action_rows(client, crm):
    rt = crm["rt"]["id"]
    options = client.get(
        f"{crm['base']}/trigger-options",
        params={"record_type": rt, "trigger.type": "date_reached"},
        headers=HX,
    )
    assert options.status_code == 200
    assert 'id="trigger-options"' in options.text and 'name="trigger.field"' in options.text
    assert '<option value="next_call">Next call</option>' in options.text
    plain = client.get(
        f"{crm['base']}/trigger-options",
        params={"record_type": rt, "trigger.type": "record_created"},
        headers=HX,
    )
    assert "This trigger has no settings" in plain.text
    added = client.get(
        f"{crm['base']}/action-row", params={"record_type": rt, "index": 3, "more": "true"}
    )
    assert 'id="action-3"' in added.text and 'name="action.3.type"' in added.text
    assert 'hx-swap-oob="true"' in added.text and "index=4&more=true" in added.text
    chosen = client.get(
        f"{crm['base']}/action-row",
        params={"record_type": rt, "index": 3, "action.3.type": "email"},
    )
    assert 'name="action.3.subject"' in chosen.text and "hx-swap-oob" not in chosen.text


def test_without_javascript_the_form_adds_and_removes_action_rows_unsaved(client, crm):
    before = crm["api"].get(f"/workspaces/{crm['ws']}/automations")
    added = client.post(crm["base"] + "/new", data=form(crm, client, _add="1"))
    assert added.status_code == 200
    assert 'name="action.2.type"' in added.text and HOOK in added.text
    assert 'data-testid="secret-retype"' in added.text  # a typed secret is asked for again
    removed = client.post(crm["base"] + "/new", data=form(crm, client, _remove="0"))
    assert removed.status_code == 200
    assert 'name="action.0.type"' not in removed.text and 'name="action.1.type"' in removed.text
    moved = client.post(crm["base"] + "/new", data=form(crm, client, _up="1"))
    assert moved.status_code == 200
    first = moved.text.index('id="action-0"')
    assert 'value="webhook" selected' in moved.text[first : moved.text.index('id="action-1"')]
    shown = client.post(
        crm["base"] + "/new",
        data=form(crm, client, **{"_refresh": "1", "trigger.type": "schedule"}),
    )
    assert 'name="trigger.cron"' in shown.text
    assert crm["api"].get(f"/workspaces/{crm['ws']}/automations") == before


def test_editing_shows_the_saved_automation_and_keeps_the_secret_unless_retyped(client, crm):
    automation = create(client, crm)
    api_path = f"/workspaces/{crm['ws']}/automations/{automation}"
    sealed = crm["api"].get(api_path)["actions"][1]["secret_sealed"]
    page = client.get(f"{crm['base']}/{automation}/edit")
    assert page.status_code == 200
    assert 'value="Welcome {{ record.name }}"' in page.text
    assert '<option value="status" selected>' in page.text
    assert 'data-testid="secret-saved"' in page.text
    data = form(crm, client, **{"name": "Renamed", "action.1.secret": ""})
    data["action.1.secret_sealed"] = sealed
    saved = client.post(f"{crm['base']}/{automation}/edit", data=data, follow_redirects=False)
    assert saved.status_code == 303
    after = crm["api"].get(api_path)
    assert after["name"] == "Renamed" and after["actions"][1]["secret_sealed"] == sealed
    assert after["version"] == 2


def test_turn_off_and_on_duplicate_and_delete_after_confirming(client, crm):
    automation = create(client, crm)
    one = f"{crm['base']}/{automation}"
    token = {"_csrf_token": csrf(client)}
    off = client.post(one + "/disable", data=token, follow_redirects=False)
    assert off.headers["location"] == f"{one}?done=disabled"
    assert 'data-testid="automation-state">off<' in client.get(one).text
    client.post(one + "/enable", data=token)
    assert 'data-testid="automation-state">on<' in client.get(one).text
    copy = client.post(one + "/duplicate", data=token, follow_redirects=False)
    copy_url = copy.headers["location"]
    assert copy_url.endswith("?done=duplicated") and copy_url != one
    copied = client.get(copy_url)
    assert "Customer welcome (copy)" in copied.text and ">off<" in copied.text
    confirm = client.get(one + "/delete")
    assert confirm.status_code == 200 and "Delete Customer welcome?" in confirm.text
    gone = client.post(one + "/delete", data=token, follow_redirects=False)
    assert gone.headers["location"] == f"{crm['base']}?done=deleted"
    assert client.get(one).status_code == 404
    assert "Customer welcome (copy)" in client.get(crm["base"]).text


def test_a_dry_run_shows_what_each_step_would_do_and_does_nothing(client, crm, runtime):
    automation = create(client, crm)
    ada = lead(crm, name="Ada", status="Lead")
    page = client.get(f"{crm['base']}/{automation}")
    assert f'<option value="{ada["id"]}">Ada</option>' in page.text
    token = csrf(client)
    tried = client.post(
        f"{crm['base']}/{automation}/dry-run", data={"_csrf_token": token, "record": ada["id"]}
    )
    assert tried.status_code == 200
    assert 'data-testid="dry-run"' in tried.text
    assert "Welcome Ada" in tried.text and HOOK in tried.text
    none = client.post(f"{crm['base']}/{automation}/dry-run", data={"_csrf_token": token})
    assert none.status_code == 422 and "choose a record" in none.text
    assert runs.list_runs(runtime, crm["acc"], automation_id=automation)["items"] == []
    tasks = crm["api"].get(
        f"/workspaces/{crm['ws']}/tasks", record_type=crm["rt"]["id"], record=ada["id"]
    )
    assert tasks["items"] == []


def _runs_in_every_state(runtime: Any, crm: dict[str, Any], automation: int, record: int) -> dict:
    """One run per state a run can have, each with a step logged in a matching state."""
    now = utcnow()
    made = {}
    step_state = {
        "dead": "failed",
        "retrying": "failed",
        "waiting": "waiting",
        "stopped": "stopped",
    }
    with transaction(runtime.control, write=True) as conn:
        for state in runs.STATES:
            finished = now if state in ("done", "skipped", "stopped", "dead", "dismissed") else None
            run_id = inserted_id(
                conn.execute(
                    insert(R).values(
                        automation_id=automation,
                        workspace_id=crm["ws"],
                        record_type_id=crm["rt"]["id"],
                        record_id=record,
                        trigger={"kind": "record.updated", "changes": [{"field": "status"}]},
                        chain=[[automation, record]] if state == "stopped" else [],
                        state=state,
                        step=1,
                        error=f"<b>why {state}</b>" if state in ("dead", "stopped") else None,
                        created_at=now,
                        started_at=None if state == "queued" else now,
                        finished_at=finished,
                    )
                )
            )
            conn.execute(
                insert(S).values(
                    run_id=run_id,
                    position=0,
                    action="create_task",
                    attempt=3,
                    state=step_state.get(state, "done"),
                    input={"title": "Welcome"},
                    output=None if state in step_state else {"task": 1},
                    error="HTTP 500 from the receiver" if state in ("dead", "retrying") else None,
                    started_at=now - dt.timedelta(milliseconds=40),
                    finished_at=now,
                )
            )
            made[state] = run_id
    return made


def test_the_run_log_renders_every_state_and_each_run_with_its_steps(client, crm, runtime):
    automation = create(client, crm)
    ada = lead(crm, name="Ada")
    made = _runs_in_every_state(runtime, crm, automation, ada["id"])
    one = f"{crm['base']}/{automation}"
    everything = client.get(one)
    assert everything.status_code == 200
    record_link = f'href="/w/{crm["ws"]}/t/{crm["rt"]["id"]}/r/{ada["id"]}">Ada</a>'
    assert record_link in everything.text  # each run names its record
    for state, run_id in made.items():
        assert f'data-testid="run-{run_id}"' in everything.text
        filtered = client.get(one, params={"state": state})
        assert filtered.status_code == 200
        assert f'data-testid="run-{run_id}"' in filtered.text
        others = [r for s, r in made.items() if s != state]
        assert not any(f'data-testid="run-{r}"' in filtered.text for r in others)
        page = client.get(f"{one}/runs/{run_id}")
        assert page.status_code == 200, (state, page.text)
        assert f'data-testid="run-state">{state}<' in page.text
        assert "record.updated" in page.text and 'data-testid="attempt">3<' in page.text
    dead = client.get(f"{one}/runs/{made['dead']}")
    assert "&lt;b&gt;why dead&lt;/b&gt;" in dead.text and "<b>why dead</b>" not in dead.text
    assert "HTTP 500 from the receiver" in dead.text and "Replay from the failed step" in dead.text
    assert 'data-testid="dead-count">1 in the dead letter' in everything.text
    listing = client.get(crm["base"])
    assert "1 dead" in listing.text
    assert client.get(f"{one}/runs/999999999").status_code == 404


def test_dead_runs_are_replayed_or_dismissed_singly_and_in_bulk(client, crm, runtime):
    automation = create(client, crm)
    ada = lead(crm, name="Ada")
    first = _runs_in_every_state(runtime, crm, automation, ada["id"])
    second = _runs_in_every_state(runtime, crm, automation, ada["id"])
    one = f"{crm['base']}/{automation}"
    token = csrf(client)
    single = client.post(
        f"{one}/runs/replay",
        data={
            "_csrf_token": token,
            "run": str(first["dead"]),
            "back": f"{one}/runs/{first['dead']}",
        },
        follow_redirects=False,
    )
    assert single.headers["location"] == f"{one}/runs/{first['dead']}?done=replayed&moved=1"
    assert "Replayed 1 run:" in client.get(single.headers["location"]).text
    bulk = client.post(
        f"{one}/runs/dismiss",
        data={"_csrf_token": token, "run": [str(second["dead"]), str(second["stopped"])]},
        follow_redirects=False,
    )
    assert bulk.headers["location"] == f"{one}?state=dead&done=dismissed&moved=2"
    assert "Dismissed 2 runs:" in client.get(bulk.headers["location"]).text
    again = client.post(
        f"{one}/runs/replay", data={"_csrf_token": token, "run": str(first["done"])}
    )
    assert "Replayed 0 runs:" in again.text  # a run that is not dead is left alone
    states = _states(runtime, [first["dead"], second["dead"], second["stopped"], first["done"]])
    assert states == ["retrying", "dismissed", "dismissed", "done"]
    nothing = client.post(f"{one}/runs/replay", data={"_csrf_token": token})
    assert nothing.status_code == 422 and "must list from 1 to" in nothing.text


def _states(runtime: Any, ids: list[int]) -> list[str]:
    with transaction(runtime.control) as conn:
        found = dict(conn.execute(select(R.c.id, R.c.state).where(R.c.id.in_(ids))).all())
    return [found[i] for i in ids]


def test_the_record_timeline_lists_its_automation_runs_linking_to_each(client, crm, runtime):
    automation = create(client, crm)
    ada = lead(crm, name="Ada")
    made = _runs_in_every_state(runtime, crm, automation, ada["id"])
    page = client.get(f"/w/{crm['ws']}/t/{crm['rt']['id']}/r/{ada['id']}")
    assert page.status_code == 200
    assert 'data-testid="automation-runs"' in page.text
    link = f'href="{crm["base"]}/{automation}/runs/{made["dead"]}"'
    assert link in page.text and "Customer welcome run #" in page.text


def test_the_overview_counts_each_automations_dead_runs_and_its_latest(client, crm, runtime):
    automation = create(client, crm)
    other = create(client, crm, name="Other")
    quiet = create(client, crm, name="Quiet")
    ada = lead(crm, name="Ada")
    made = _runs_in_every_state(runtime, crm, automation, ada["id"])
    _runs_in_every_state(runtime, crm, automation, ada["id"])
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            insert(R).values(
                automation_id=other,
                workspace_id=crm["ws"],
                record_type_id=crm["rt"]["id"],
                record_id=ada["id"],
                trigger={},
                chain=[],
                state="done",
                step=0,
                created_at=utcnow(),
            )
        )
    found = runs.overview(runtime, crm["acc"])
    assert found[automation]["dead"] == 2
    assert found[automation]["last"]["state"] == runs.STATES[-1]
    assert found[other] == {"last": {"state": "done", "at": found[other]["last"]["at"]}, "dead": 0}
    assert quiet not in found
    assert made["dead"] > 0


ROUND_TRIPS = [
    ({"type": "record_created"}, [{"type": "add_comment", "text": "Hi {{ record.name }}"}]),
    (
        {"type": "record_deleted"},
        [{"type": "email", "to": "a@example.org", "subject": "S", "text": "T"}],
    ),
    (
        {"type": "records_merged"},
        [{"type": "wait", "hours": 2}, {"type": "set_fields", "values": {"in_nurture": False}}],
    ),
    (
        {"type": "duplicate_queued"},
        [{"type": "stop_if", "filter": {"field": "status", "op": "eq", "value": "Lead"}}],
    ),
    (
        {"type": "form_submitted", "form": None, "outcomes": ["updated"]},
        [{"type": "webhook", "url": HOOK}],
    ),
    (
        {"type": "date_reached", "field": "next_call", "time": "08:30", "days_before": 1},
        [
            {
                "type": "related_records",
                "relation": "account",
                "values": {"status": "Lead"},
                "create": False,
            }
        ],
    ),
    (
        {"type": "schedule", "cron": "0 9 * * 1-5"},
        [{"type": "upsert_record", "values": {"name": "{{ record.name }}"}}],
    ),
    (
        {"type": "webhook"},
        [
            {
                "type": "create_task",
                "title": "Look",
                "assignee": "{{ record.owner }}",
                "due_in_days": None,
            }
        ],
    ),
    (
        {"type": "record_updated", "fields": ["name", "status"], "to": {"in_nurture": True}},
        [{"type": "add_comment", "text": "x"}],
    ),
]


@pytest.mark.parametrize(("trigger", "actions"), ROUND_TRIPS)
def test_every_trigger_and_action_renders_in_the_form_and_saves_back_unchanged(
    client, crm, trigger, actions
):
    api, ws = crm["api"], crm["ws"]
    relation = field("Account", "relation", target=crm["rt"]["id"])
    api.post(f"/workspaces/{ws}/types/{crm['rt']['id']}/fields", relation, expect=201)
    body = {
        "name": "Round trip",
        "record_type": crm["rt"]["id"],
        "trigger": trigger,
        "conditions": {
            "filter": {"or": [{"field": "name", "op": "contains", "value": "a"}]},
            "changed": [{"field": "status", "from": "Lead", "to": "Customer"}],
        },
        "actions": actions,
    }
    made = api.post(f"/workspaces/{ws}/automations", body, expect=201)
    one = f"{crm['base']}/{made['id']}"
    shown = client.get(one)
    assert shown.status_code == 200
    if trigger["type"] == "webhook":
        assert 'data-testid="hook-path"' in shown.text
    edit = client.get(one + "/edit")
    assert edit.status_code == 200
    plain = screens.plain_triggers(registries(client.app.state.runtime.pm))
    data = {**form_input.form_of(made, plain), "_csrf_token": csrf(client)}
    saved = client.post(one + "/edit", data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    after = api.get(f"/workspaces/{ws}/automations/{made['id']}")
    same = ("trigger", "conditions", "actions", "enabled", "name")
    assert {k: after[k] for k in same} == {k: made[k] for k in same}
    assert after["version"] == made["version"] + 1


def test_a_member_reads_automations_and_their_log_but_cannot_change_them(client, crm, runtime):
    automation = create(client, crm)
    carl = page_user(runtime, "Carl Member")
    workspaces.add_member(runtime, crm["acc"], carl["email"], "member")
    log_in(client, carl)
    listing = client.get(crm["base"])
    assert listing.status_code == 200 and "Customer welcome" in listing.text
    assert "New automation" not in listing.text
    page = client.get(f"{crm['base']}/{automation}")
    assert page.status_code == 200 and "Turn off" not in page.text
    refused = client.post(
        crm["base"] + "/new", data=form(crm, client, name="Mine"), follow_redirects=False
    )
    assert refused.status_code == 403 and "admin" in refused.text
    off = client.post(f"{crm['base']}/{automation}/disable", data={"_csrf_token": csrf(client)})
    assert off.status_code == 403
    log_in(client, crm["me"])
    forged = client.post(f"{crm['base']}/{automation}/disable", data={})  # no CSRF token
    assert forged.status_code == 403
    assert crm["api"].get(f"/workspaces/{crm['ws']}/automations/{automation}")["enabled"] is True


def test_a_field_deleted_since_stays_chosen_in_the_form_and_is_named_on_save(client, crm):
    api, ws = crm["api"], crm["ws"]
    body = {
        "name": "Nurture",
        "record_type": crm["rt"]["id"],
        "trigger": {"type": "record_updated", "fields": ["in_nurture"], "to": {"in_nurture": True}},
        "actions": [{"type": "set_fields", "values": {"name": "x"}}],
    }
    made = api.post(f"/workspaces/{ws}/automations", body, expect=201)
    (gone,) = [f for f in crm["rt"]["fields"] if f["key"] == "in_nurture"]
    api.delete(f"/workspaces/{ws}/types/{crm['rt']['id']}/fields/{gone['id']}", expect=204)
    one = f"{crm['base']}/{made['id']}"
    assert client.get(one).status_code == 200
    edit = client.get(one + "/edit")
    assert edit.status_code == 200
    assert edit.text.count('<option value="in_nurture" selected>in_nurture (no such field)') == 2
    plain = screens.plain_triggers(registries(client.app.state.runtime.pm))
    data = {**form_input.form_of(made, plain), "_csrf_token": csrf(client)}
    refused = client.post(one + "/edit", data=data)
    assert refused.status_code == 422
    block = re.search(r'data-testid="input-trigger.fields">(.*?)</div>', refused.text, re.S)
    assert block is not None and "no such field in Lead" in block.group(1)
