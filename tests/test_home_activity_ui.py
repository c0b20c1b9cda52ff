"""In the browser: the home feed's times read in the browser's own time zone, and say so."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import log_in, screenshot
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types

ZONE = "America/New_York"


@pytest.fixture
def new_york(browser: Any) -> Iterator[Any]:
    """A tab of a browser set to New York time, the workspace being on Tokyo time."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id=ZONE)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_feed_times_are_in_the_browsers_zone(new_york, live_server, request):
    me = live_server.user("Ann")
    runtime = live_server.runtime
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Shop")["id"]
    acc = workspaces.access(runtime, principal, ws)
    workspaces.update_settings(runtime, acc, {"time_zone": "Asia/Tokyo"})
    spec = {"name": "Customer", "fields": [{"name": "Name", "type": "text"}]}
    type_id = int(record_types.create_type(runtime, acc, spec)["id"])
    records.create(runtime, acc, open_type(runtime, principal, ws, type_id)[1], {"name": "Bob"})

    log_in(new_york, live_server, me["email"])
    new_york.goto(f"{live_server.url}/w/{ws}")
    stamp = new_york.locator("time[data-local-time]").first
    at = dt.datetime.fromisoformat(stamp.get_attribute("datetime").replace("Z", "+00:00"))
    local = at.astimezone(zoneinfo.ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    assert stamp.inner_text() == local
    zone_note = new_york.get_by_test_id("activity-zone").inner_text()
    assert ZONE in zone_note and "Asia/Tokyo" not in zone_note
    assert re.search(r"UTC$", stamp.get_attribute("title"))
    screenshot(new_york, request, "home-activity")
