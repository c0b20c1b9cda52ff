"""Connectors are plugins: the built-ins register through ``register_connectors`` like a
third party, and a third-party connector (tests/plugins/notebook.py, the example of
docs/plugin_hooks.md) syncs into records with nothing more than that hook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.connectors import (
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
)
from tests.fake_saas.server import FakeServer, Handler, RecordedRequest, Reply
from tests.helpers import field, make_type, records_path
from tests.plugins import notebook
from workspace.boot import build_runtime
from workspace.connectors import connections, engine, mappings
from workspace.plugins import DEFAULT_PLUGINS, make_plugin_manager
from workspace.runtime import Runtime

PEOPLE = [{"id": i, "email": f"p{i}@notebook.example", "name": f"Person {i}"} for i in range(7)]


pytestmark = pytest.mark.usefixtures("disconnect_after")


class NotebookService(FakeServer):
    """The notebook web service: people in pages of 3, a token required."""

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", r"/people", self._people)]

    def authenticate(self, request: RecordedRequest) -> Reply | None:
        if request.header("authorization") != "Token secret":
            return Reply(401, {"message": "bad token"})
        return None

    def _people(self, request: RecordedRequest) -> Reply:
        after = int(request.arg("after", "0") or 0)
        page = PEOPLE[after : after + 3]
        following = after + 3 if after + 3 < len(PEOPLE) else None
        return Reply(200, {"people": page, "next": following})


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


@pytest.fixture
def runtime(settings) -> Iterator[Runtime]:
    """A runtime whose plugin manager has the notebook connector too."""
    pm = make_plugin_manager(settings)
    pm.register(notebook, name="test-notebook")
    built = build_runtime(settings, pm)
    yield built
    built.close()


def test_built_in_connectors_register_like_third_party_ones(runtime):
    for name in (
        "plugins.connectors_hubspot",
        "plugins.connectors_mailchimp",
        "plugins.connectors_stripe",
    ):
        assert name in DEFAULT_PLUGINS
    assert runtime.connectors.names() == ["hubspot", "mailchimp", "notebook", "stripe"]
    kinds = {k["kind"]: k for k in connections.kinds(runtime)}
    assert kinds["notebook"]["objects"][0]["properties"][1] == {
        "name": "name",
        "label": "Name",
        "type": "text",
        "read_only": False,
    }


def test_a_third_party_connector_syncs_through_the_hook(runtime, api, ws, access):
    rt, _ = make_type(api, ws, "Person", field("Name", "text"), field("Email", "email"))
    with NotebookService() as service:
        made = connections.create(
            runtime,
            access,
            {"kind": "notebook", "base_url": service.url, "config": {"token": "secret"}},
        )
        body: dict[str, Any] = {"object": "people", "type": rt["id"]}
        body["properties"] = [
            {"property": "email", "field": "email", "owner": "connection"},
            {"property": "name", "field": "name", "owner": "connection"},
        ]
        mappings.save(runtime, access, made["id"], body)
        run = engine.run_sync(runtime, made["id"])
        assert (run["state"], run["counts"]["created"]) == ("done", 7)
        assert engine.run_sync(runtime, made["id"])["rows"] == 0  # its cursor is kept
        names = sorted(r["fields"]["name"] for r in api.get(records_path(ws, rt))["items"])
        assert names == sorted(p["name"] for p in PEOPLE)
        api.patch(f"/workspaces/{ws}/connections/{made['id']}", {"config": {"token": "wrong"}})
        failed = api.post(f"/workspaces/{ws}/connections/{made['id']}/test", expect=422)
        assert failed["error"]["message"] == (
            "Test failed while listing people: credentials rejected: bad token"
        )
