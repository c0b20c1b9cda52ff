"""The move pages of the data database settings, with plain form posts (no JavaScript): CSRF
on every post, admins only, and bad settings shown next to the field that is wrong, with
nothing started. And what users of a workspace see while a move freezes its writes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web import HX, csrf, log_in, page_user
from workspace.db import transaction
from workspace.services import data_databases, data_gate, record_types, records, workspaces
from workspace.services.principal import Principal

MOVING = "This workspace is being moved to another database; retry in a moment"
SETTINGS = {"host": "db.example.com", "port": "3306", "database": "crm", "user": "ws"}


@pytest.fixture
def admin(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Ada Admin")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Moving Co")["id"]
    log_in(client, me)
    acc = workspaces.access(runtime, principal, ws)
    return {"ws": ws, "acc": acc, "base": f"/w/{ws}/settings/database"}


def no_move(runtime: Any, admin: dict[str, Any]) -> bool:
    info = data_databases.overview(runtime, admin["acc"])
    return info["move"] is None and info["managed"]


def test_posts_without_the_csrf_token_are_refused(client, runtime, admin):
    base = admin["base"]
    posts = [
        ("/connect", {**SETTINGS, "password": "pw", "action": "move"}),
        ("/managed", {"action": "move"}),
        ("/moves/1/cancel", {}),
        ("/moves/1/retry", {}),
        ("/old-copy/retire", {}),
    ]
    for path, form in posts:
        response = client.post(base + path, data=form)
        assert response.status_code == 403, path
        assert "The form has expired" in response.text
    assert no_move(runtime, admin)


def test_only_admins_see_or_move(client, runtime, admin):
    member = page_user(runtime, "Mo Member")
    workspaces.add_member(runtime, admin["acc"], member["email"], "member")
    log_in(client, member)
    base = admin["base"]
    home = client.get(f"/w/{admin['ws']}")
    assert home.status_code == 200 and base not in home.text  # not offered in the sidebar
    page = client.get(base)
    assert page.status_code == 403 and "You do not have access to this" in page.text
    assert client.get(base + "/move", headers=HX).status_code == 403
    form = {"action": "move", "_csrf_token": csrf(client)}
    assert client.post(base + "/managed", data=form).status_code == 403
    form = {**SETTINGS, "password": "pw", "action": "move", "_csrf_token": csrf(client)}
    assert client.post(base + "/connect", data=form).status_code == 403
    assert client.post(base + "/old-copy/retire", data=form).status_code == 403
    assert no_move(runtime, admin)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"host": ""}, "host", "is required"),
        ({"port": "70000"}, "port", "must be a port number from 1 to 65535"),
        ({"user": "two words"}, "user", "no spaces"),
        ({"ca_cert": "-----BEGIN CERTIFICATE-----"}, "ca_cert", "is used only with TLS on"),
        ({"password": ""}, "password", "is required"),
    ],
)
def test_bad_settings_are_shown_next_to_their_field(client, runtime, admin, changes, field, reason):
    form = {**SETTINGS, "password": "pw", "action": "move", **changes}
    response = client.post(admin["base"] + "/connect", data={**form, "_csrf_token": csrf(client)})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text and reason in response.text
    assert f'id="db-{field}" ' in response.text
    assert 'aria-invalid="true"' in response.text
    if field != "host":
        assert 'value="db.example.com"' in response.text  # the form keeps what was typed
    assert no_move(runtime, admin)


def test_the_password_is_never_sent_back(client, admin):
    form = {**SETTINGS, "port": "x", "password": "hunter2-secret", "action": "test"}
    response = client.post(admin["base"] + "/connect", data={**form, "_csrf_token": csrf(client)})
    assert response.status_code == 422
    assert "hunter2-secret" not in response.text


def test_the_progress_box_loads_the_page_again_when_no_move_runs(client, admin):
    response = client.get(admin["base"] + "/move", headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == admin["base"]
    assert 'id="db-move"' in response.text and "hx-get" not in response.text


def test_writes_to_a_frozen_workspace_say_it_is_being_moved(client, runtime, admin):
    acc, ws = admin["acc"], admin["ws"]
    spec = {"name": "Lead", "fields": [{"name": "Name", "type": "text"}]}
    rt = record_types.get_type(runtime, acc, record_types.create_type(runtime, acc, spec)["id"])
    ada = records.create(runtime, acc, rt, {"name": "Ada"})
    with transaction(runtime.control, write=True) as conn:
        data_gate.freeze(conn, ws)  # as a move does while it switches
    try:
        form = {"_fields": "name", "name": "Bob", "_csrf_token": csrf(client)}
        created = client.post(f"/w/{ws}/t/{rt.id}/new", data=form)
        assert created.status_code == 503 and MOVING in created.text
        assert 'value="Bob"' in created.text  # kept, to save again in a moment
        delete = f"/w/{ws}/t/{rt.id}/r/{ada['id']}/delete"
        page = client.post(delete, data={"_csrf_token": csrf(client)})
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "Maintenance, back in a moment" in page.text and MOVING in page.text
        flash = client.post(delete, data={"_csrf_token": csrf(client)}, headers=HX)
        assert flash.status_code == 503 and flash.headers["HX-Retarget"] == "#flash"
        assert MOVING in flash.text and "<html" not in flash.text
    finally:
        with transaction(runtime.control, write=True) as conn:
            data_gate.unfreeze(conn, ws)
    names = [r["fields"]["name"] for r in records.list_records(runtime, acc, rt)["items"]]
    assert names == ["Ada"]
