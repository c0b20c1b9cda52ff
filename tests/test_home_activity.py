"""The workspace home's activity feed reads like people talk: field names instead of keys,
system keys in words, a named and linked source, times in the workspace's zone (named), and
one line for one import instead of one per row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest

from tests.web import log_in, page_user
from workspace import activity
from workspace.access import workspaces
from workspace.access.pages.home_feed import local_text
from workspace.automations import automations
from workspace.automations.engine import zone_of
from workspace.dedupe import merges
from workspace.forms import forms
from workspace.imports import imports
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types


class Home:
    """Ann's workspace with Customers (Name, Next call, Status) and her session."""

    def __init__(self, runtime: Any, client: Any) -> None:
        self.runtime, self.client = runtime, client
        self.ann = page_user(runtime, "Ann")
        self.principal = Principal(self.ann["id"], self.ann["email"])
        self.ws = workspaces.create(runtime, self.principal, "Shop")["id"]
        self.acc = workspaces.access(runtime, self.principal, self.ws)
        spec = {
            "name": "Customer",
            "fields": [
                {"name": "Name", "type": "text"},
                {"name": "Next call", "type": "date"},
                {"name": "Status", "type": "text"},
            ],
        }
        self.type_id = int(record_types.create_type(runtime, self.acc, spec)["id"])
        log_in(client, self.ann)

    def rt(self) -> Any:
        return open_type(self.runtime, self.principal, self.ws, self.type_id)[1]

    def add(self, **values: Any) -> dict[str, Any]:
        return records.create(self.runtime, self.acc, self.rt(), values)

    def lines(self) -> list[str]:
        page = self.client.get(f"/w/{self.ws}")
        assert page.status_code == 200, page.text
        feed = page.text.split('data-testid="activity"', 1)[1].split("</ol>", 1)[0]
        items = re.split(r'<li data-testid="activity-line">', feed)[1:]
        return [" ".join(re.sub(r"<[^>]+>", " ", i).split()) for i in items]


@pytest.fixture
def home(runtime: Any, client: Any) -> Home:
    return Home(runtime, client)


def test_a_change_reads_with_the_field_names_never_the_keys(home: Home) -> None:
    made = home.add(name="Bob Stone")
    records.update_record(
        home.runtime, home.acc, home.rt(), made["id"], {"next_call": "2026-12-24"}
    )
    newest = home.lines()[0]
    assert "Ann changed Customer #" in newest
    assert "Next call" in newest and "next_call" not in newest


def test_a_renamed_field_reads_with_its_new_name_and_a_deleted_one_without_its_key(
    home: Home,
) -> None:
    made = home.add(name="Bob Stone")
    rt = home.rt()
    records.update_record(home.runtime, home.acc, rt, made["id"], {"next_call": "2026-12-24"})
    records.update_record(home.runtime, home.acc, rt, made["id"], {"status": "Won"})
    status = rt.field_by_key("status")
    next_call = rt.field_by_key("next_call")
    record_types.change_field(home.runtime, home.acc, home.type_id, status.id, {"name": "Stage"})
    record_types.delete_field(home.runtime, home.acc, home.type_id, next_call.id)
    newest, older = home.lines()[:2]
    assert "Stage" in newest and "status" not in newest.lower()
    assert "Next call" in older and "next_call" not in older


def test_a_merge_says_which_record_it_went_into(home: Home) -> None:
    survivor = home.add(name="Bob Stone")
    loser = home.add(name="Bob Ston")
    merges.merge(home.runtime, home.acc, home.rt(), survivor["id"], loser["id"])
    lines = home.lines()
    assert f"merged into Bob Stone #{survivor['id']}" in lines[0] + lines[1]
    text = " ".join(lines)
    assert "merged_into" not in text and "merged_record" not in text


def test_one_import_is_one_line_naming_and_linking_its_file(home: Home) -> None:
    rows = "".join(f"Person {n};Active\r\n" for n in range(26))
    made = imports.create_import(
        home.runtime, home.acc, home.rt(), "customers.csv", ("Name;Status\r\n" + rows).encode()
    )
    imports.run_import(home.runtime, home.acc, home.rt(), made["id"], made["mapping"])
    lines = home.lines()
    assert "Ann imported 26 Customer records from customers.csv" in lines[0]
    assert not any("customers.csv" in line for line in lines[1:])
    page = home.client.get(f"/w/{home.ws}").text
    assert f'href="/w/{home.ws}/t/{home.type_id}/imports/{made["id"]}"' in page
    assert "Show the 26 records" in page


def test_times_read_in_the_workspace_zone_and_name_it(home: Home) -> None:
    workspaces.update_settings(home.runtime, home.acc, {"time_zone": "Asia/Tokyo"})
    made = home.add(name="Bob Stone")
    page = home.client.get(f"/w/{home.ws}").text
    assert "Times are in" in page and "Asia/Tokyo" in page
    stamp = re.search(r'<time class="when" datetime="([^"]+)"[^>]*>([^<]+)</time>', page)
    assert stamp is not None and stamp.group(1).endswith("Z"), made
    at = dt.datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00"))
    assert stamp.group(2) == local_text(at, zone_of("Asia/Tokyo"))
    assert "UTC" not in stamp.group(2)


def test_the_source_names_the_form_and_the_automation(home: Home) -> None:
    form = forms.create_form(home.runtime, home.acc, home.type_id, "Contact us")
    greet = automations.create(
        home.runtime,
        home.acc,
        {
            "name": "Greet",
            "record_type": home.type_id,
            "trigger": {"type": "record_created"},
            "actions": [{"type": "set_fields", "values": {"status": "Greeted"}}],
            "enabled": False,
        },
    )
    for source, ref in (
        ("form", forms.source_ref(form["id"])),
        ("automation", f"automation:{greet['id']}"),
    ):
        by = dataclasses.replace(home.principal, source=source, source_ref=ref)
        acc = dataclasses.replace(home.acc, principal=by)
        records.create(home.runtime, acc, home.rt(), {"name": f"From {source}"})
    automated, submitted = home.lines()[:2]
    assert "via automation Greet" in automated
    assert "via form Contact us" in submitted
    page = home.client.get(f"/w/{home.ws}").text
    assert f'href="/w/{home.ws}/forms/{form["id"]}"' in page
    assert f'href="/w/{home.ws}/automations/{greet["id"]}"' in page


def test_an_import_longer_than_the_feed_reads_says_at_least(home: Home) -> None:
    rows = "".join(f"Person {n};Active\r\n" for n in range(activity.PAGE_MAX + 5))
    made = imports.create_import(
        home.runtime, home.acc, home.rt(), "big.csv", ("Name;Status\r\n" + rows).encode()
    )
    imports.run_import(home.runtime, home.acc, home.rt(), made["id"], made["mapping"])
    newest = home.lines()[0]
    assert f"Ann imported at least {activity.PAGE_MAX} Customer records from big.csv" in newest
