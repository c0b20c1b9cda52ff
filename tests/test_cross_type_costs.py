"""What duplicates cost, on the workspace's home page: records, probable duplicates in the
queue, the share of records that are duplicates, and the monthly cost once an admin enters
what a connected tool charges per record."""

from __future__ import annotations

import re

import pytest

from tests.connectors import (
    CUSTOMER_FIELDS,
    connect,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
)
from tests.fake_saas import StripeFake
from tests.web import csrf, sign_in
from workspace.access import workspaces
from workspace.dedupe import rules as dedupe_rules
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types

pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def row_text(html: str, type_id: int) -> str:
    found = re.search(rf'<tr data-testid="dup-{type_id}">(.*?)</tr>', html, re.S)
    assert found is not None, html
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_the_home_page_counts_duplicates_and_what_they_cost(client, runtime):
    me = sign_in(client, runtime)
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Acme")["id"]
    acc = workspaces.access(runtime, principal, ws)
    spec = {
        "name": "Customer",
        "fields": [{"name": f["name"], "type": f["type"]} for f in CUSTOMER_FIELDS],
    }
    type_id = int(record_types.create_type(runtime, acc, spec)["id"])
    rule = {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"}
    dedupe_rules.add_rule(runtime, acc, type_id, rule)
    rt = open_type(runtime, principal, ws, type_id)[1]
    for email in ("ada@x.org", "ADA@x.org", " ada@X.org", "bob@x.org"):
        records.create(runtime, acc, rt, {"email": email})

    home = client.get(f"/w/{ws}")
    assert home.status_code == 200
    # 3 pairs among the three Adas: two of them would be merged away, of 4 records.
    assert row_text(home.text, type_id) == "Customer 4 3 pairs 2 50.0% no price entered"
    assert f'href="/w/{ws}/t/{type_id}/duplicates#queue"' in home.text

    with StripeFake() as stripe:
        connection = connect(runtime, acc, stripe)
        map_story(runtime, acc, connection, "stripe", type_id)
        post = {"_csrf_token": csrf(client), f"price_{connection}": "abc"}
        refused = client.post(f"/w/{ws}/duplicate-costs", data=post, follow_redirects=False)
        assert refused.status_code == 422
        assert "must be a number, like 0.05" in refused.text
        post[f"price_{connection}"] = "0,25"
        saved = client.post(f"/w/{ws}/duplicate-costs", data=post, follow_redirects=False)
        assert saved.status_code == 303
    home = client.get(f"/w/{ws}")
    assert row_text(home.text, type_id) == "Customer 4 3 pairs 2 50.0% 0.50"
