"""A workspace's own MySQL as its data database: test connection step by step,
nothing stored on failure, records and readable views in the customer's database, and a
customer database that stops takes down only its own workspace.

The customer's MySQL is a second database (and users with fewer privileges) on the test
MariaDB, created here and dropped at the end; the control database is SQLite or MySQL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from tests.customer_mysql import (
    LATIN,
    PASSWORD,
    PID,
    WEAK,
    customer,
    customer_settings,
    customer_sql,
    fresh_customer_database,
    good,
)
from tests.helpers import Api, field, make_type, records_path
from tests.storage_servers import Relay
from tests.web import csrf, log_in, page_user
from workspace import models as m
from workspace.access import workspaces
from workspace.boot import build_runtime
from workspace.databases import connections as data_databases
from workspace.databases.checks import (
    PRIVILEGES,
    ConnectionFailed,
    Target,
    check_version,
    durability_warnings,
    granted_privileges,
)
from workspace.db import transaction
from workspace.errors import Unavailable
from workspace.principal import Principal
from workspace.records import records
from workspace.schema import naming
from workspace.settings import Settings
from workspace.types import record_types

__all__ = ["customer", "fresh_customer_database"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path)


def database(ws: int, rest: str = "") -> str:
    return f"/workspaces/{ws}/database{rest}"


def stored_rows(runtime: Any, ws: int) -> list[Any]:
    with transaction(runtime.control) as conn:
        query = select(m.data_databases).where(m.data_databases.c.workspace_id == ws)
        return list(conn.execute(query))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FAILURES = [
    pytest.param(
        good(host="no-such-host.invalid"), "dns", "host", "no address found", id="unknown-host"
    ),
    pytest.param(good(port=free_port()), "tcp", "port", "connection refused", id="refused-port"),
    pytest.param(good(tls=True), "tls", "tls", "does not offer TLS", id="server-without-tls"),
    pytest.param(
        good(tls=True, ca_cert="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"),
        "tls",
        "ca_cert",
        "is not a PEM certificate",
        id="bad-ca",
    ),
    pytest.param(good(password="wrong"), "auth", "password", "wrong password", id="password"),
    pytest.param(
        good(user=WEAK),
        "privileges",
        "user",
        "lacks UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, CREATE VIEW, REFERENCES on",
        id="privileges",
    ),
    pytest.param(good(database=LATIN), "charset", "database", "character set latin1", id="charset"),
    pytest.param(
        good(database=f"nope_{PID}"), "database", "database", "may not use the database", id="no-db"
    ),
]


@pytest.mark.parametrize(("spec", "step", "setting", "says"), FAILURES)
def test_each_failing_step_is_named_and_nothing_is_stored(
    api: Api, ws: int, runtime, spec, step, setting, says
):
    for path, method in ((database(ws, "/test"), "POST"), (database(ws), "PUT")):
        got = api.call(method, path, spec, expect=422)["error"]
        assert got["code"] == "connection_failed"
        assert got["step"] == step, got
        assert says in got["fields"][setting], got
        assert says in got["message"]
    assert stored_rows(runtime, ws) == []
    assert api.get(database(ws), expect=200)["managed"] is True


def test_loopback_is_refused_unless_the_operator_allows_it(settings, access, runtime):
    closed = build_runtime(dataclasses.replace(settings, allow_private_hosts=False))
    try:
        with pytest.raises(ConnectionFailed) as refused:
            data_databases.connect(closed, access, good())
    finally:
        closed.close()
    assert refused.value.step == "host"
    assert "WORKSPACE_ALLOW_PRIVATE_HOSTS" in refused.value.fields["host"]
    assert stored_rows(runtime, access.workspace_id) == []
    # The same settings pass where the operator allows private hosts.
    assert data_databases.test_connection(runtime, access, good())["ok"] is True


@contextlib.contextmanager
def global_variable(name: str, value: int) -> Any:
    """A server variable of the test MariaDB set for the block, and restored after it."""
    before = customer_sql(f"SELECT @@GLOBAL.{name}")[0][0]
    customer_sql(f"SET GLOBAL {name} = {value}")
    try:
        yield
    finally:
        customer_sql(f"SET GLOBAL {name} = {before}")


@pytest.mark.xdist_group("mariadb_globals")  # it sets a server variable: one at a time
def test_a_server_that_can_lose_committed_changes_is_warned_about_not_refused(
    api: Api, ws: int, client, runtime
):
    user = page_user(runtime)
    mine = workspaces.create(runtime, Principal(user["id"], user["email"]), "Own data")["id"]
    acc = workspaces.access(runtime, Principal(user["id"], user["email"]), mine)
    with global_variable("innodb_flush_log_at_trx_commit", 2):
        tested = api.post(database(ws, "/test"), good(), expect=200)
        connected = api.put(database(ws), good(), expect=200)
        data_databases.connect(runtime, acc, good())
    [warning] = tested["warnings"]
    assert warning.startswith("127.0.0.1:3306 runs with innodb_flush_log_at_trx_commit = 2")
    assert "when the machine stops, up to a second of them is lost. Set it to 1" in warning
    assert "see below" in tested["message"]
    assert connected["connection"]["warnings"] == [warning]  # kept with the connection
    log_in(client, user)
    page = client.get(f"/w/{mine}/settings/database")
    assert (
        'data-testid="db-warning"' in page.text
        and "innodb_flush_log_at_trx_commit = 2" in page.text
    )
    # A server that keeps every committed change: no warning.
    assert api.post(database(ws, "/test"), good(), expect=200)["warnings"] == []


def test_durability_warnings_name_each_setting_that_can_lose_changes():
    assert durability_warnings("db:3306", 1, True, 1) == []
    assert durability_warnings("db:3306", 1, False, 0) == []  # no binary log to lose
    [flush] = durability_warnings("db:3306", 0, False, 1)
    assert "= 0" in flush and "when MySQL or the machine stops" in flush
    [binlog] = durability_warnings("db:3306", 1, True, 0)
    assert binlog.startswith("db:3306 keeps a binary log with sync_binlog = 0")
    assert len(durability_warnings("db:3306", 2, True, 0)) == 2


def test_version_too_old_names_the_minimum():
    target = Target("db.example.com", 3306, "crm", "app", "pw", False, None)
    for old in ("10.4.32-MariaDB-1:10.4.32+maria~deb11", "5.7.44-log"):
        with pytest.raises(ConnectionFailed) as refused:
            check_version(target, old)
        assert "the minimum is MySQL 8.0 or MariaDB 10.5" in refused.value.message
    assert check_version(target, "10.11.6-MariaDB-0+deb12u1") == "MariaDB 10.11.6"
    assert check_version(target, "8.0.36") == "MySQL 8.0.36"


def test_grants_are_read_per_database():
    grants = [
        "GRANT USAGE ON *.* TO `app`@`%`",
        "GRANT SELECT, INSERT, UPDATE (name) ON `crm`.* TO `app`@`%`",
        "GRANT DELETE ON `crm`.`customers` TO `app`@`%`",
        "GRANT CREATE, ALTER ON `cr\\_%`.* TO `app`@`%`",
        "GRANT ALL PRIVILEGES ON `other`.* TO `app`@`%`",
    ]
    assert granted_privileges(grants, "crm") == {"USAGE", "SELECT", "INSERT"}
    assert granted_privileges(grants, "cr_x") == {"USAGE", "CREATE", "ALTER"}
    assert granted_privileges(grants, "crx") == {"USAGE"}
    assert set(PRIVILEGES) <= granted_privileges(grants, "other")


def test_the_needs_are_shown_before_trying(api: Api, ws: int):
    got = api.get(database(ws), expect=200)
    assert got["managed"] is True and got["can_switch"] is True
    assert got["privileges"] == list(PRIVILEGES)
    assert got["minimum_version"] == "MySQL 8.0 or MariaDB 10.5"
    assert got["character_set"] == "utf8mb4"
    assert (got["move"], got["old_copy"]) == (None, None)


def test_only_admins_see_or_change_the_database(api: Api, ws: int, make_user, as_user):
    member, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": member["email"], "role": "member"})
    other = as_user(token)
    other.get(database(ws), expect=403)
    other.put(database(ws), good(), expect=403)
    other.post(database(ws, "/test"), good(), expect=403)


def test_records_and_readable_views_live_in_the_customer_database(api: Api, ws: int, runtime):
    connected = api.put(database(ws), good(), expect=200)
    assert connected["managed"] is False
    assert connected["connection"]["password_saved"] is True
    assert PASSWORD not in api.last.text
    (row,) = stored_rows(runtime, ws)
    assert row.role == "active" and PASSWORD not in row.sealed
    activity = api.get(f"/workspaces/{ws}/activity", expect=200)
    assert any(e["action"] == "database" for e in activity["items"])

    rt, created = make_type(
        api,
        ws,
        "Customer",
        field("Full name", "text"),
        field("E-mail", "email"),
        field("Price", "money"),
        field("id", "number"),
        rows=[
            {
                "full_name": "Ada",
                "e_mail": "ada@example.org",
                "price": {"amount": "9.50", "currency": "EUR"},
            }
        ],
    )
    table = f"rt_{rt['id']}"
    assert customer_sql(f"SELECT COUNT(*) FROM `{table}`") == [(1,)]
    with transaction(runtime.control) as conn:
        assert table not in inspect(conn).get_table_names()
    got = api.get(records_path(ws, rt) + f"/{created[0]['id']}", expect=200)
    assert got["fields"]["full_name"] == "Ada"

    view = customer_sql("SELECT * FROM v_customer")
    assert len(view) == 1
    names = [c[0] for c in customer_sql("SHOW COLUMNS FROM v_customer")]
    assert names == [
        "ID", "Version", "Created at", "Created by", "Updated at", "Updated by",
        "Full name", "E-mail", "Price", "Price currency", "id 2",
    ]  # fmt: skip
    # Link tables (relations, multiple choice) live there too; the view leaves them out.
    order, _ = make_type(
        api,
        ws,
        "Order",
        field("Title", "text"),
        field("Buyer", "relation", target=rt["id"]),
        field("Tags", "multiple_choice", choices=["A", "B"]),
        rows=[{"title": "First", "buyer": [created[0]["id"]], "tags": ["A", "B"]}],
    )
    buyer = next(f for f in order["fields"] if f["key"] == "buyer")
    assert customer_sql(f"SELECT COUNT(*) FROM `{naming.link_table(buyer['id'])}`") == [(1,)]
    assert [c[0] for c in customer_sql("SHOW COLUMNS FROM v_order")][-1] == "Title"
    api.delete(f"/workspaces/{ws}/types/{order['id']}", expect=204)

    name_field = next(f for f in rt["fields"] if f["key"] == "full_name")
    api.patch(f"/workspaces/{ws}/types/{rt['id']}/fields/{name_field['id']}", {"name": "Name`; x"})
    assert "Name`; x" in [c[0] for c in customer_sql("SHOW COLUMNS FROM v_customer")]
    api.patch(f"/workspaces/{ws}/types/{rt['id']}", {"name": "Client"}, expect=200)
    views = {r[0] for r in customer_sql("SHOW FULL TABLES WHERE Table_type = 'VIEW'")}
    assert "v_client" in views and "v_customer" not in views

    refused = api.put(database(ws), good(), expect=409)["error"]["message"]
    assert f"POST /api/v1/workspaces/{ws}/database/moves" in refused
    api.delete(database(ws), expect=409)
    api.delete(f"/workspaces/{ws}/types/{rt['id']}", expect=204)
    views = {r[0] for r in customer_sql("SHOW FULL TABLES WHERE Table_type = 'VIEW'")}
    assert "v_client" not in views
    assert api.delete(database(ws), expect=200)["managed"] is True


def test_deleting_the_workspace_drops_its_tables_and_views_there(api: Api, ws: int):
    api.put(database(ws), good(), expect=200)
    rt, _ = make_type(api, ws, "Supplier", field("Name", "text"), rows=[{"name": "Acme"}])
    assert customer_sql("SHOW TABLES LIKE 'v_supplier'") == [("v_supplier",)]
    api.delete(f"/workspaces/{ws}", expect=204)
    assert customer_sql("SHOW TABLES LIKE 'v_supplier'") == []
    assert customer_sql(f"SHOW TABLES LIKE 'rt_{rt['id']}'") == []


def test_a_stopped_customer_database_takes_down_only_its_workspace(api: Api, runtime):
    relay = Relay(3306)
    ours = int(api.post("/workspaces", {"name": "On its own MySQL"}, expect=201)["id"])
    other = int(api.post("/workspaces", {"name": "Managed"}, expect=201)["id"])
    api.put(database(ours), good(port=relay.port), expect=200)
    rt, _ = make_type(api, ours, "Order", field("Title", "text"), rows=[{"title": "one"}])
    managed, _ = make_type(api, other, "Order", field("Title", "text"), rows=[{"title": "two"}])
    api.get(records_path(ours, rt), expect=200)

    relay.cut()
    started = time.monotonic()
    down = api.get(records_path(ours, rt), expect=503)["error"]
    assert time.monotonic() - started < 30
    assert down["message"].startswith(
        f"the workspace's database at 127.0.0.1:{relay.port} is not answering: "
    )
    assert api.last.headers.get("retry-after")
    again = api.post(records_path(ours, rt), {"fields": {"title": "three"}}, expect=503)
    assert "is not answering" in again["error"]["message"]
    listed = api.get(records_path(other, managed), expect=200)
    assert [r["fields"]["title"] for r in listed["items"]] == ["two"]
    api.post(records_path(other, managed), {"fields": {"title": "four"}}, expect=201)


# ---- the admin page --------------------------------------------------------------------


def test_page_tests_without_storing_shows_errors_by_the_field_and_needs_csrf(client, runtime):
    user = page_user(runtime)
    ws = workspaces.create(runtime, Principal(user["id"], user["email"]), "Own data")["id"]
    log_in(client, user)
    base = f"/w/{ws}/settings/database"
    assert f'href="{base}"' in client.get(f"/w/{ws}").text  # in the workspace navigation
    page = client.get(base)
    assert page.status_code == 200 and "CREATE VIEW, REFERENCES" in page.text
    form = {**good(), "action": "test", "port": "3306"}
    tested = client.post(base + "/connect", data={**form, "_csrf_token": csrf(client)})
    assert tested.status_code == 200, tested.text
    assert "Test connection worked" in tested.text and PASSWORD not in tested.text
    assert stored_rows(runtime, ws) == []
    wrong = {**form, "password": "nope", "action": "connect", "_csrf_token": csrf(client)}
    refused = client.post(base + "/connect", data=wrong)
    assert refused.status_code == 422
    assert 'id="password-error"' in refused.text and "wrong password" in refused.text
    assert client.post(base + "/connect", data={**form, "action": "connect"}).status_code == 403
    assert stored_rows(runtime, ws) == []


class Silent:
    """A server that accepts connections and never says a word: a database that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.listener.accept()[0])

    def close(self) -> None:
        for sock in [self.listener, *self.held]:
            sock.close()


def test_a_hanging_customer_database_fails_within_its_timeout_while_others_go_on(
    api: Api, ws: int, access, runtime, settings
):
    """The workspace's database stops answering (not refusing): its request waits only the
    short connect timeout and gets 503, and another workspace is served meanwhile."""
    api.put(database(ws), good(), expect=200)
    rt, created = make_type(api, ws, "Ticket", field("Title", "text"), rows=[{"title": "a"}])
    other = int(api.post("/workspaces", {"name": "Managed"}, expect=201)["id"])
    managed, _ = make_type(api, other, "Ticket", field("Title", "text"), rows=[{"title": "b"}])
    silent = Silent()
    try:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(
                m.data_databases.update()
                .where(m.data_databases.c.workspace_id == ws)
                .values(port=silent.port, version=m.data_databases.c.version + 1)
            )
        runtime.data_engines.forget(ws)
        type_def = record_types.get_type(runtime, access, rt["id"])
        finished: list[str] = []

        def read_hanging() -> None:
            with pytest.raises(Unavailable) as down:
                records.get(runtime, access, type_def, created[0]["id"])
            finished.append(down.value.message)

        waiting = threading.Thread(target=read_hanging)
        started = time.monotonic()
        waiting.start()
        listed = api.get(records_path(other, managed), expect=200)
        assert [r["fields"]["title"] for r in listed["items"]] == ["b"]
        assert finished == []  # the other workspace did not wait for the hanging one
        waiting.join(timeout=60)
        assert time.monotonic() - started < settings.customer_db_timeout + 20
        (message,) = finished
        assert message.startswith(
            f"the workspace's database at 127.0.0.1:{silent.port} is not answering: "
        )
    finally:
        silent.close()


def test_bad_settings_are_named(api: Api, ws: int, runtime):
    cases = [
        (good(host=""), "host", "is required"),
        (good(port=70000), "port", "from 1 to 65535"),
        (good(database="a b"), "database", "no spaces"),
        (good(password=""), "password", "is required"),
        (good(ca_cert="x"), "ca_cert", "only with TLS on"),
    ]
    for spec, name, says in cases:
        got = api.put(database(ws), spec, expect=422)["error"]
        assert says in got["fields"][name], got
    missing = api.put(database(ws), {"host": "db.example.com"}, expect=422)["error"]
    assert missing["fields"] == {"database": "is required"}
    assert stored_rows(runtime, ws) == []


def test_text_in_the_customer_database_compares_exactly_whatever_its_default(api: Api, ws: int):
    """The customer's database defaults to an accent- and case-insensitive collation; every
    text column the server creates there (values, choices, link rows, match keys) is binary,
    so "bób@" never matches "bob@" in a unique index or a lookup."""
    assert customer_sql("SELECT @@collation_database") == [("utf8mb4_unicode_ci",)]
    api.put(database(ws), good(), expect=200)
    rt, _ = make_type(
        api,
        ws,
        "Contact",
        field("Name", "text"),
        field("Email", "email", unique=True),
        field("Phone", "phone"),
        field("Site", "url"),
        field("Stage", "single_choice", choices=["New", "Won"]),
        field("Tags", "multiple_choice", choices=["A", "B"]),
        rows=[{"name": "Bob", "email": "bob@example.org"}],
    )
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "block", "on_update": "block"},
        expect=201,
    )
    api.post(
        records_path(ws, rt), {"fields": {"name": "Twin", "email": "bób@example.org"}}, expect=201
    )
    columns = customer_sql(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND collation_name IS NOT NULL"
        " AND table_name NOT LIKE 'v\\_%'"
    )
    assert {table[:3] for table, _, _ in columns} >= {"rt_", "dk_"}
    assert [c for c in columns if c[2] != "utf8mb4_bin"] == []
