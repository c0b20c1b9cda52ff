"""The move pages of the data database settings, with plain form posts (no JavaScript): CSRF
on every post, admins only, and bad settings shown next to the field that is wrong, with
nothing started. And what users of a workspace see while a move freezes its writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.customer_mysql import customer_database, customer_sql, good
from tests.web import HX, csrf, log_in, page_user
from workspace import leases
from workspace import models as m
from workspace.access import workspaces
from workspace.databases import connections, copies, gate
from workspace.databases import moves as data_moves
from workspace.db import transaction
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.settings import Settings
from workspace.types import record_types

MOVING = "This workspace is being moved to another database; retry in a moment"
SETTINGS = {"host": "db.example.com", "port": "3306", "database": "crm", "user": "ws"}


@pytest.fixture
def customer() -> Iterator[None]:
    """The customer's MariaDB database, fresh for each test."""
    with customer_database():
        yield


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The server's operator lets admins use hosts on loopback (the customer MariaDB)."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        migrate_on_start=False,
        allow_private_hosts=True,
        customer_db_timeout=3,
    )


@pytest.fixture
def admin(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Ada Admin")
    principal = Principal(me["id"], me["email"])
    ws = workspaces.create(runtime, principal, "Moving Co")["id"]
    log_in(client, me)
    acc = workspaces.access(runtime, principal, ws)
    return {"ws": ws, "acc": acc, "base": f"/w/{ws}/settings/database"}


def no_move(runtime: Any, admin: dict[str, Any]) -> bool:
    info = connections.overview(runtime, admin["acc"])
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
        gate.freeze(conn, ws)  # as a move does while it switches
    try:
        form = {"_fields": "name", "name": "Bob", "_csrf_token": csrf(client)}
        created = client.post(f"/w/{ws}/t/{rt.id}/new", data=form)
        assert created.status_code == 503 and MOVING in created.text
        assert 'value="Bob"' in created.text  # kept, to save again in a moment
        delete = f"/w/{ws}/t/{rt.id}/r/{ada['id']}/delete"
        page = client.post(delete, data={"_csrf_token": csrf(client)})
        assert page.status_code == 503 and page.headers["Retry-After"] == "1"  # no estimate given
        assert "Maintenance, back in a moment" in page.text and MOVING in page.text
        flash = client.post(delete, data={"_csrf_token": csrf(client)}, headers=HX)
        assert flash.status_code == 503 and flash.headers["HX-Retarget"] == "#flash"
        assert MOVING in flash.text and "<html" not in flash.text
    finally:
        with transaction(runtime.control, write=True) as conn:
            gate.unfreeze(conn, ws)
    names = [r["fields"]["name"] for r in records.list_records(runtime, acc, rt)["items"]]
    assert names == ["Ada"]


def _lead_type(runtime: Any, acc: Access) -> Any:
    spec = {"name": "Lead", "fields": [{"name": "Name", "type": "text"}]}
    rt = record_types.get_type(runtime, acc, record_types.create_type(runtime, acc, spec)["id"])
    records.bulk(runtime, acc, rt, [{"fields": {"name": f"Lead {i}"}} for i in range(30)])
    return rt


def _stopped(runtime: Any, acc: Access) -> dict[str, Any]:
    """The move once its background run has stopped (done, failed or cancelled)."""
    for _ in range(600):
        move = connections.overview(runtime, acc)["move"]
        if move["state"] not in data_moves.RUNNING:
            return dict(move)
        time.sleep(0.1)
    raise AssertionError(f"the move is still {move['state']}")


@pytest.mark.usefixtures("customer")
def test_a_failed_move_shows_why_and_is_retried_after_the_fix(client, runtime, admin):
    acc, base = admin["acc"], admin["base"]
    rt = _lead_type(runtime, acc)
    customer_sql(f"CREATE TABLE rt_{rt.id} (x INT)")  # someone else's table in the way
    form = {**good(), "action": "move", "_csrf_token": csrf(client)}
    started = client.post(base + "/connect", data=form, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == base + "?done=started"
    move = _stopped(runtime, acc)
    assert move["state"] == "failed"

    page = client.get(base)
    assert "The move stopped; nothing was switched" in page.text
    assert "already has tables that differ from record type &#39;Lead&#39;" in page.text
    assert f'action="{base}/moves/{move["id"]}/retry"' in page.text
    assert f'action="{base}/moves/{move["id"]}/cancel"' in page.text
    assert 'data-testid="db-busy"' in page.text and "Start move" not in page.text
    assert "The managed database of this server" in page.text  # nothing was switched
    polled = client.get(base + "/move", headers=HX)
    assert polled.headers["HX-Redirect"] == base  # not running: no polling

    customer_sql(f"DROP TABLE rt_{rt.id}")
    retried = client.post(f"{base}/moves/{move['id']}/retry", data={"_csrf_token": csrf(client)})
    assert retried.status_code == 200  # followed the redirect to the page
    assert "The move carries on from where it stopped." in retried.text
    assert _stopped(runtime, acc)["state"] == "done"
    page = client.get(base)
    assert "Move finished" in page.text and "all 30 rows were copied" in page.text
    assert customer_sql(f"SELECT COUNT(*) FROM rt_{rt.id}") == [(30,)]
    again = client.post(f"{base}/moves/{move['id']}/retry", data={"_csrf_token": csrf(client)})
    assert again.status_code == 409  # a banner on the page, not a stack trace
    assert "only a failed move can be retried; this one is done" in again.text
    assert 'data-testid="db-error"' in again.text


@pytest.mark.usefixtures("customer")
def test_a_failed_move_is_cancelled(client, runtime, admin):
    acc, base = admin["acc"], admin["base"]
    rt = _lead_type(runtime, acc)
    customer_sql(f"CREATE TABLE rt_{rt.id} (x INT)")
    form = {**good(), "action": "move", "_csrf_token": csrf(client)}
    client.post(base + "/connect", data=form)
    move = _stopped(runtime, acc)
    cancelled = client.post(f"{base}/moves/{move['id']}/cancel", data={"_csrf_token": csrf(client)})
    assert cancelled.status_code == 200
    assert "Move cancelled: the records stay where they were." in cancelled.text
    assert "The last move was cancelled" in cancelled.text
    assert "Start move" in cancelled.text  # a new move may start
    info = connections.overview(runtime, acc)
    assert info["managed"] and info["move"]["state"] == "cancelled"


class Killed(Exception):
    """The mover's process died (here: after its first batch)."""


def _kill(*_: Any) -> None:
    raise Killed


def copy_one_batch(runtime: Any, claim: leases.Claim, types: list[Any], size: int) -> None:
    """Play a mover that dies after copying one batch: the move stays "copying", with
    ``size`` rows of the first table copied."""
    moves, databases = m.data_moves, m.data_databases
    query = select(databases).join(moves, moves.c.target_id == databases.c.id)
    with transaction(runtime.control) as conn:
        row = conn.execute(query.where(moves.c.id == claim.id)).one()
    target = runtime.data_engines.engine_of(row)
    copies.prepare_target(target, types)
    with pytest.raises(Killed):
        control = runtime.control
        copies.copy_tables(
            control, claim.id, control, target, types, batch_size=size, progress=_kill
        )


@pytest.mark.usefixtures("customer")
def test_a_running_move_shows_the_rows_copied_per_table_and_is_cancelled(client, runtime, admin):
    acc, base = admin["acc"], admin["base"]
    rt = _lead_type(runtime, acc)
    claim = data_moves.begin(runtime, acc, good())  # recorded; no mover runs it
    copy_one_batch(runtime, claim, [rt], 10)

    page = client.get(base)
    assert "Copying the records…" in page.text and "33%" in page.text
    assert "10 of 30 rows copied." in page.text
    assert "<td>Lead</td>" in page.text and f"<code>rt_{rt.id}</code>" in page.text
    assert '<td class="num">10 / 30</td>' in page.text
    assert f'hx-get="{base}/move"' in page.text and f'<a href="{base}">Refresh</a>' in page.text
    assert "A move is under way" in page.text and "Start move" not in page.text
    polled = client.get(base + "/move", headers=HX)
    assert polled.status_code == 200 and "HX-Redirect" not in polled.headers
    assert "10 of 30 rows copied." in polled.text and "<html" not in polled.text

    cancel = f"{base}/moves/{claim.id}/cancel"
    cancelled = client.post(cancel, data={"_csrf_token": csrf(client)})
    assert "Move cancelled: the records stay where they were." in cancelled.text
    assert customer_sql(f"SHOW TABLES LIKE 'rt_{rt.id}'") == []  # the copy was dropped
    again = client.post(cancel, data={"_csrf_token": csrf(client)})
    assert again.status_code == 409
    assert "only an unfinished move can be cancelled" in again.text


@pytest.mark.usefixtures("customer")
def test_while_a_move_switches_the_page_says_writes_are_paused(client, runtime, admin):
    acc, base = admin["acc"], admin["base"]
    _lead_type(runtime, acc)
    claim = data_moves.begin(runtime, acc, good())  # recorded; no mover runs it
    with transaction(runtime.control, write=True) as conn:  # where a mover would be now
        moves = m.data_moves
        conn.execute(update(moves).where(moves.c.id == claim.id).values(state="switching"))
    polled = client.get(base + "/move", headers=HX)
    assert "Switching over…" in polled.text and "Writes are paused for a moment" in polled.text
    assert f'hx-get="{base}/move"' in polled.text and "HX-Redirect" not in polled.headers
    cancelled = client.post(f"{base}/moves/{claim.id}/cancel", data={"_csrf_token": csrf(client)})
    assert "Move cancelled" in cancelled.text
