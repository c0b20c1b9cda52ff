"""Scheduled pulls ("pull every N minutes"): `workspace connectors pull --due` (what cron runs
until background jobs run it) pulls the connections that are due, and only those."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.connectors import (
    connect,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
)
from tests.fake_saas import StripeFake
from workspace.cli import cli
from workspace.connectors import connections, mappings

pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


@pytest.fixture
def env(settings, monkeypatch):
    monkeypatch.setenv("WORKSPACE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WORKSPACE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WORKSPACE_ALLOW_PRIVATE_HOSTS", "true")


def test_due_connections_are_pulled_on_schedule(env, runtime, api, ws, access):
    rt = customer_type(api, ws)
    with StripeFake() as stripe, StripeFake() as other:
        stripe.seed_customers(3)
        other.seed_customers(2)
        scheduled = connect(runtime, access, stripe)
        map_story(runtime, access, scheduled, "stripe", rt["id"])
        manual = connect(runtime, access, other, name="Other Stripe")
        email = [{"property": "email", "field": "email", "direction": "pull"}]
        body = {"object": "customers", "type": rt["id"], "properties": email}
        mappings.save(runtime, access, manual, body)
        connections.update_connection(runtime, access, scheduled, {"pull_every": 5})
        runner = CliRunner()
        first = runner.invoke(cli, ["connectors", "pull", "--due"])
        assert first.exit_code == 0, first.output
        assert f"connection {scheduled}: done (created 3)" in first.output
        assert f"connection {manual}:" not in first.output  # not scheduled
        again = runner.invoke(cli, ["connectors", "pull", "--due"])
        assert again.exit_code == 0 and again.output == ""  # next one in 5 minutes
        one = runner.invoke(cli, ["connectors", "pull", str(manual)])
        assert one.exit_code == 0 and f"connection {manual}: done (linked 2)" in one.output
        usage = runner.invoke(cli, ["connectors", "pull"])
        assert usage.exit_code == 2 and "give CONNECTION_ID, or --due" in usage.output
        missing = runner.invoke(cli, ["connectors", "pull", "999999"])
        assert missing.exit_code == 1 and "connection not found" in missing.output
