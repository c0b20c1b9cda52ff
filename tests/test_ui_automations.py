"""In the browser: an admin builds "Status becomes Customer → create a task and call a
webhook" in the automation form, makes a lead a customer on its record page, and sees the
run in the automation's log, on the record's timeline and on the run's page, the webhook
received once; and a run whose webhook answered 500 waits in the dead letter until the
admin replays it from the log, after which it is done with the same idempotency key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import LiveServer, log_in, screenshot, serving
from tests.connectors import loopback_settings
from tests.helpers import field
from tests.test_automation_webhooks import Receiver
from tests.workers import wait_for
from workspace.access import workspaces
from workspace.automations import automations, runs
from workspace.jobs.worker import Worker
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.types import record_types

SECRET = "a-secret-of-twenty-chars"


@pytest.fixture(scope="module")
def auto_server(database_url, tmp_path_factory) -> Iterator[LiveServer]:
    """A live server whose operator lets webhooks reach loopback (the receiver), with a job
    worker as `workspace serve` runs one, and one attempt per step so a failing run goes
    to the dead letter at once."""
    settings = loopback_settings(
        database_url,
        tmp_path_factory.mktemp("ui-auto"),
        worker_poll_ms=100,
        automation_attempts=1,
    )
    with serving(settings) as live:
        worker = Worker(live.runtime)
        worker.start()
        try:
            yield live
        finally:
            worker.stop(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def shop(server: LiveServer) -> tuple[dict[str, Any], Access, int]:
    me = server.user("Ada Admin")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(server.runtime, principal, "Leads")["id"]
    acc = workspaces.access(server.runtime, principal, ws)
    spec = {
        "name": "Lead",
        "fields": [
            {"name": "Name", "type": "text"},
            field("Status", "single_choice", choices=["Lead", "Customer"]),
        ],
    }
    made = record_types.create_type(server.runtime, acc, spec)
    return me, acc, made["id"]


def settled(runtime: Any, acc: Access, automation_id: int, state: str) -> dict[str, Any]:
    """The automation's latest run, once it reached ``state`` (the worker runs it)."""
    found: dict[str, Any] = {}

    def reached() -> bool:
        items = runs.list_runs(runtime, acc, automation_id=automation_id, limit=1)["items"]
        found.update(items[0] if items else {})
        return bool(items) and items[0]["state"] == state

    wait_for(reached, 30, f"a run of automation {automation_id} to be {state}")
    return found


def test_build_the_customer_automation_in_the_form_and_see_it_run(
    page: Any, auto_server, receiver, request
):
    server = auto_server
    me, acc, lead_type = shop(server)
    rt = record_types.get_type(server.runtime, acc, lead_type)
    ada = records.create(server.runtime, acc, rt, {"name": "Ada", "status": "Lead"})

    log_in(page, server, me["email"])
    page.goto(f"{server.url}/w/{acc.workspace_id}")
    page.get_by_role("link", name="Automations").click()
    page.get_by_role("link", name="New automation").click()
    page.get_by_label("Which records does it work on?").select_option(label="Lead")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Name").fill("Customer welcome")
    with page.expect_response(lambda answer: "/trigger-options" in answer.url):
        page.get_by_label("Trigger").select_option(label="A record is updated")  # htmx swaps
    page.get_by_label("Only when this field…").select_option(label="Status")
    page.get_by_label("…becomes").fill("Customer")
    page.get_by_label("Action 1: what it does").select_option(label="Create a task on the record")
    page.get_by_label("Task title").fill("Welcome {{ record.name }}")  # swapped in by htmx
    page.get_by_label("Due in days").fill("2")
    page.get_by_role("button", name="+ Add an action").click()
    page.get_by_label("Action 2: what it does").select_option(label="Call a webhook")
    page.get_by_label("Webhook URL").fill("not a url")
    page.get_by_label("Signing secret").fill(SECRET)
    page.get_by_role("button", name="Save automation").click()
    problem = page.get_by_test_id("input-action.1.url")
    assert "must be an http:// or https:// URL" in problem.inner_text()
    assert page.get_by_label("Task title").input_value() == "Welcome {{ record.name }}"
    screenshot(page, request, "refused")
    page.get_by_label("Webhook URL").fill(receiver.url)
    assert page.get_by_test_id("secret-retype").is_visible()  # never sent back: asked again
    page.get_by_label("Signing secret").fill(SECRET)
    page.get_by_role("button", name="Save automation").click()
    page.wait_for_url(re.compile(r"/automations/\d+\?done=saved$"))
    automation_id = int(re.findall(r"/automations/(\d+)", page.url)[0])
    assert page.get_by_test_id("trigger-words").inner_text() == (
        "A record is updated: Status becomes Customer"
    )
    screenshot(page, request, "saved")
    page.get_by_label("Record", exact=True).select_option(label="Ada")
    page.get_by_role("button", name="Dry run").click()
    rehearsal = page.get_by_test_id("dry-run")
    assert "Welcome Ada" in rehearsal.get_by_test_id("dry-step-0").inner_text()
    assert receiver.url in rehearsal.get_by_test_id("dry-step-1").inner_text()
    screenshot(page, request, "dry-run")
    assert receiver.got == [] and runs.list_runs(server.runtime, acc)["items"] == []

    record_url = f"{server.url}/w/{acc.workspace_id}/t/{lead_type}/r/{ada['id']}"
    page.goto(record_url)
    status = page.get_by_test_id("field-status")
    status.locator(".editable").click()
    status.get_by_role("combobox").select_option("Customer")
    status.get_by_role("combobox").press("Enter")
    status.locator(".chip", has_text="Customer").wait_for()
    run = settled(server.runtime, acc, automation_id, "done")

    page.goto(f"{server.url}/w/{acc.workspace_id}/automations/{automation_id}")
    row = page.get_by_test_id(f"run-{run['id']}")
    assert "done" in row.inner_text() and "record.updated" in row.inner_text()
    page.goto(record_url)
    on_record = page.get_by_test_id(f"automation-run-{run['id']}")
    assert "Customer welcome run" in on_record.inner_text() and "done" in on_record.inner_text()
    made = page.get_by_test_id("timeline").get_by_text("by automation Customer welcome")
    assert made.is_visible()  # the task it created, said to be the automation's
    screenshot(page, request, "record")
    on_record.get_by_role("link").click()
    assert page.get_by_test_id("run-state").inner_text() == "done"
    assert "Create a task on the record" in page.get_by_test_id("step-0").inner_text()
    assert "Call a webhook" in page.get_by_test_id("step-1").inner_text()
    assert page.get_by_test_id("step-1").get_by_test_id("attempt").inner_text() == "1"
    screenshot(page, request, "run")
    assert len(receiver.got) == 1
    assert receiver.got[0]["headers"]["Idempotency-Key"]


def test_a_dead_run_is_replayed_from_the_log_once_the_receiver_answers(
    page: Any, auto_server, receiver, request
):
    server = auto_server
    me, acc, lead_type = shop(server)
    body = {
        "name": "Tell marketing",
        "record_type": lead_type,
        "trigger": {"type": "record_created"},
        "actions": [{"type": "webhook", "url": receiver.url, "secret": SECRET}],
    }
    automation = automations.create(server.runtime, acc, body)
    receiver.script = [500]  # the receiver fails until told otherwise
    rt = record_types.get_type(server.runtime, acc, lead_type)
    records.create(server.runtime, acc, rt, {"name": "Bob"})
    dead = settled(server.runtime, acc, automation["id"], "dead")

    log_in(page, server, me["email"])
    page.goto(f"{server.url}/w/{acc.workspace_id}/automations")
    page.get_by_test_id(f"automation-{automation['id']}").get_by_role("link", name="1 dead").click()
    row = page.get_by_test_id(f"run-{dead['id']}")
    assert "dead" in row.inner_text() and "500" in row.inner_text()
    screenshot(page, request, "dead-letter")
    row.get_by_label(f"Select run {dead['id']}").check()
    page.get_by_role("button", name="Replay selected").click()
    assert page.get_by_role("status").filter(has_text="Replayed").is_visible()
    settled(server.runtime, acc, automation["id"], "done")
    page.goto(f"{server.url}/w/{acc.workspace_id}/automations/{automation['id']}/runs/{dead['id']}")
    assert page.get_by_test_id("run-state").inner_text() == "done"
    failed = page.get_by_test_id("step-0").inner_text()
    assert "failed" in failed and "answered 500" in failed
    assert "done" in page.get_by_test_id("step-1").inner_text()
    assert page.get_by_test_id("step-1").get_by_test_id("attempt").inner_text() == "1"
    screenshot(page, request, "replayed")
    keys = {hit["headers"]["Idempotency-Key"] for hit in receiver.got}
    assert len(receiver.got) == 2 and len(keys) == 1  # the repeat carries the same key
