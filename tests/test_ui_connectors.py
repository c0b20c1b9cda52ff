"""In the browser: an admin connects Mailchimp (the fake, on loopback), tests it, maps its
audience members to Customer with consent owned by Mailchimp, syncs and reads the run's
payloads; the record shows consent as owned by Mailchimp and read-only; the ownership map
shows who owns what, and the admin takes a field over from the tool."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import LiveServer, log_in, screenshot, serving
from tests.connectors import disconnect_loopback, loopback_settings
from tests.fake_saas import MailchimpFake, people
from workspace.access import workspaces
from workspace.dedupe import rules
from workspace.jobs.worker import Worker
from workspace.principal import Principal
from workspace.records import records
from workspace.types import record_types


@pytest.fixture(scope="module")
def connect_server(database_url, tmp_path_factory) -> Iterator[LiveServer]:
    """A live server whose operator lets admins use hosts on loopback (the fakes), with a
    job worker, as `workspace serve` runs one."""
    settings = loopback_settings(
        database_url, tmp_path_factory.mktemp("ui-conn"), worker_poll_ms=100
    )
    with serving(settings) as live:
        worker = Worker(live.runtime)
        worker.start()
        try:
            yield live
        finally:
            worker.stop(10)
            disconnect_loopback(live.runtime)


def test_admin_maps_a_tool_and_reads_the_ownership_map(page: Any, connect_server, request):
    server = connect_server
    runtime = server.runtime
    me = server.user("Mia Mapper")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Marketing")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {
        "name": "Customer",
        "fields": [
            {"name": "Name", "type": "text"},
            {"name": "Email", "type": "email"},
            {"name": "Marketing consent", "type": "checkbox"},
        ],
    }
    made = record_types.create_type(runtime, acc, spec)
    rule = {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "warn"}
    rules.add_rule(runtime, acc, made["id"], rule)

    with MailchimpFake() as mailchimp:
        mailchimp.seed_members(12)
        log_in(page, server, me["email"])
        page.goto(f"{server.url}/w/{ws}")
        page.get_by_role("link", name="Connections").click()
        page.get_by_role("link", name="Mailchimp").click()
        page.get_by_label("API key").fill(mailchimp.api_key)
        page.get_by_label("Audience ID").fill(mailchimp.list_id)
        page.get_by_label("API address").fill(mailchimp.base_url)
        page.get_by_role("button", name="Connect Mailchimp").click()
        page.wait_for_url(re.compile(r"/settings/connections/\d+\?done=saved$"))
        assert page.get_by_test_id("secret-saved-api_key").is_visible()
        assert mailchimp.api_key not in page.content()
        page.get_by_role("button", name="Test connection").click()
        assert page.get_by_role("status").filter(has_text="The connection works").is_visible()

        page.get_by_test_id("object-members").get_by_role("link", name="Map").click()
        page.get_by_label("Field for Email address").select_option(label="Email")
        page.get_by_label("Field for First name (FNAME)").select_option(label="Name")
        page.get_by_label("Field for Marketing consent (subscribed)").select_option(
            label="Marketing consent"
        )
        page.get_by_label("Owner for Marketing consent (subscribed)").select_option(
            label="Mailchimp"
        )
        page.get_by_label("Field for Last name (LNAME)").select_option(label="Name")
        page.get_by_role("button", name="Save mapping").click()
        assert page.get_by_test_id("mapping-error").is_visible()
        row = page.get_by_test_id("prop-last_name")
        assert "Name is mapped twice" in row.inner_text()
        screenshot(page, request, "mapping-refused")
        row.get_by_label("Field for Last name (LNAME)").select_option(label="Not synced")
        page.get_by_role("button", name="Save mapping").click()
        assert page.get_by_role("status").filter(has_text="Mapping saved").is_visible()
        assert "Marketing consent (subscribed) → Marketing consent" in page.content()
        screenshot(page, request, "mapped")

        page.get_by_role("button", name="Sync now").click()
        progress = page.get_by_test_id("sync-progress")
        progress.get_by_text("Last pull: done").wait_for(timeout=30_000)
        assert "12 payloads kept" in progress.inner_text()
        progress.get_by_role("link", name="12 payloads kept").click()
        assert "done" in page.get_by_test_id("run-summary").inner_text()
        page.get_by_test_id("filter-created").click()
        page.wait_for_url(re.compile(r"outcome=created$"))
        page.wait_for_load_state()
        assert page.locator("tbody tr").count() == 12
        screenshot(page, request, "run")

        # The record: consent is Mailchimp's, shown and not editable.
        first = next(iter(people(1)))
        rt = record_types.get_type(runtime, acc, made["id"])
        match = [{"field": "email", "op": "eq", "value": first.email.lower()}]
        (record,) = records.list_records(runtime, acc, rt, filter=match)["items"]
        page.goto(f"{server.url}/w/{ws}/t/{made['id']}/r/{record['id']}")
        assert page.get_by_test_id("owner-marketing_consent").inner_text() == "owned by Mailchimp"
        assert page.get_by_test_id("copy-mailchimp").is_visible()
        name_row = page.get_by_test_id("field-name")
        consent_row = page.get_by_test_id("field-marketing_consent")
        assert name_row.locator(".editable").count() == 1
        assert consent_row.locator(".editable").count() == 0
        screenshot(page, request, "record")

        # The ownership map: owner, copies, changes by source; take a field over.
        page.goto(f"{server.url}/w/{ws}/t/{made['id']}")
        page.get_by_role("link", name="Ownership map").click()
        assert (
            page.get_by_test_id("owner-of-marketing_consent").inner_text().startswith("Mailchimp")
        )
        assert "Mailchimp: 12 / 12" in page.get_by_test_id("owner-row-email").inner_text()
        assert page.get_by_test_id("differs-marketing_consent").inner_text() == "Mailchimp: 0"
        screenshot(page, request, "ownership-map")
        page.get_by_test_id("owner-row-marketing_consent").get_by_role(
            "link", name="Take over…"
        ).click()
        assert "0 records differ" in page.get_by_test_id("take-over-count").inner_text()
        page.get_by_role("button", name="Take Marketing consent over").click()
        taken = page.get_by_role("status").filter(has_text="The workspace owns the field")
        assert taken.is_visible()
        assert page.get_by_test_id("owner-of-marketing_consent").inner_text() == "Workspace"
        screenshot(page, request, "taken-over")
