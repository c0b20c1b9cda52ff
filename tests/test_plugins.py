"""The plugin manager: built-ins load as plugins, third-party plugins extend field types and
receive events, and a failing plugin is reported without breaking the request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import Api, field, make_type, records_path
from tests.plugins import iban
from tests.plugins.recorder import Recorder
from workspace.access import auth, users
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.events import RecordCreated, RecordTypeChanged, RecordUpdated
from workspace.plugins import CORE_PLUGINS, DEFAULT_PLUGINS, make_plugin_manager
from workspace.settings import Settings


def test_built_in_plugins_are_registered_by_name(settings):
    pm = make_plugin_manager(settings)
    names = {name for name, _ in pm.list_name_plugin()}
    assert set(DEFAULT_PLUGINS) <= names


def test_allow_list_limits_the_plugins(settings, tmp_path):
    pm = make_plugin_manager(
        Settings(
            database_url=settings.database_url, data_dir=tmp_path, plugins="plugins.fields_basic"
        )
    )
    names = {name for name, _ in pm.list_name_plugin()}
    assert names == {"plugins.fields_basic", *CORE_PLUGINS}


def test_every_builtin_field_type_is_registered(runtime):
    assert runtime.field_types.names() == sorted(
        [
            "text",
            "long_text",
            "number",
            "money",
            "date",
            "datetime",
            "checkbox",
            "email",
            "phone",
            "url",
            "single_choice",
            "multiple_choice",
            "relation",
            "user",
            "file",
        ]
    )


@pytest.fixture
def plugged(settings: Settings) -> Iterator[tuple[Api, list[Recorder]]]:
    """An app with the IBAN field type, a working event recorder and a failing one."""
    pm = make_plugin_manager(settings)
    recorders = [Recorder(), Recorder(fail=True)]
    pm.register(iban, name="test-iban")
    for index, recorder in enumerate(recorders):
        pm.register(recorder, name=f"test-recorder-{index}")
    runtime = build_runtime(settings, pm)
    user = users.create_user(runtime, f"plug{id(pm)}@example.com", password=None)
    _, token = auth.create_token(runtime, user["id"], "t")
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
        yield Api(client, token), recorders
    runtime.close()


def test_third_party_field_type_works_through_the_api(plugged):
    api, _ = plugged
    ws = api.post("/workspaces", {"name": "w"}, expect=201)["id"]
    rt, rows = make_type(
        api,
        ws,
        "Payee",
        field("Account", "iban"),
        rows=[{"account": "de44 5001 0517 5407 3249 31"}],
    )
    assert rows[0]["fields"]["account"] == "DE44500105175407324931"
    body = api.post(records_path(ws, rt), {"fields": {"account": "12345"}}, expect=422)
    assert body["error"]["fields"] == {"account": "must start with a country code"}


def test_events_reach_plugins_and_a_failing_plugin_is_logged(plugged, caplog):
    api, (recorder, _broken) = plugged
    ws = api.post("/workspaces", {"name": "w"}, expect=201)["id"]
    with caplog.at_level(logging.ERROR, logger="workspace.plugins"):
        rt, rows = make_type(api, ws, "Lead", field("Name", "text"), rows=[{"name": "Ada"}])
        api.patch(
            f"{records_path(ws, rt)}/{rows[0]['id']}", {"fields": {"name": "Ada L."}}, expect=200
        )
    kinds = [type(e) for e in recorder.events]
    assert kinds == [RecordTypeChanged, RecordCreated, RecordUpdated]
    assert recorder.events[-1].record_id == rows[0]["id"]
    assert "plugin test-recorder-1 failed in hook track_event" in caplog.text


def test_plugins_can_add_routes(settings):
    from litestar import get

    from workspace import hookimpl

    @get("/-/hello", sync_to_thread=False)
    def hello() -> dict[str, Any]:
        return {"hello": "plugin"}

    class Routes:
        @hookimpl
        def register_routes(self, runtime: Any) -> list[Any]:
            return [hello]

    pm = make_plugin_manager(settings)
    pm.register(Routes(), name="test-routes")
    runtime = build_runtime(settings, pm)
    with TestClient(create_app(settings, runtime)) as client:
        assert client.get("/-/hello").json() == {"hello": "plugin"}
    runtime.close()
