"""Identities are compared exactly: a look-alike email is another account, never this one.

MySQL's default collations are accent- and case-insensitive; these tests run on MariaDB
with such a database (utf8mb4_unicode_ci, see conftest) as well as on SQLite.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from tests.helpers import field, make_type, records_path
from tests.web import PASSWORD, csrf
from workspace import models as m
from workspace.access import sessions, users
from workspace.cli import cli
from workspace.errors import NotAuthenticated
from workspace.identity import account_email
from workspace.records import views
from workspace.types import record_types


def _person(runtime: Any, local: str, *, password: str | None = PASSWORD) -> dict[str, Any]:
    """An account ``<local>-<random>@example.org`` (unique per test, the look-alike part
    kept in ``local``)."""
    email = f"{local}-{uuid.uuid4().hex[:8]}@example.org"
    return users.create_user(runtime, email, name=local, password=password)


def _look_alike(email: str, old: str, new: str) -> str:
    assert old in email
    return email.replace(old, new, 1)


def test_the_account_form_is_nfc_and_lower_case_with_accents_kept():
    assert account_email("Bob@Example.ORG") == "bob@example.org"
    # "o" + combining acute is the same text as "ó": one account.
    assert account_email("Bo\u0301b@example.org") == account_email("BÓB@example.org")
    assert account_email("bób@example.org") != account_email("bob@example.org")


def test_a_look_alike_email_does_not_log_in_as_another_account(runtime):
    alice = _person(runtime, "alice")
    fake = _look_alike(alice["email"], "alice", "alicé")
    with pytest.raises(NotAuthenticated):
        sessions.log_in(runtime, fake, PASSWORD)
    with pytest.raises(NotAuthenticated):
        sessions.log_in(runtime, _look_alike(alice["email"], "alice", "ALICÉ"), PASSWORD)
    # Letter case alone names the same account.
    assert sessions.log_in(runtime, alice["email"].upper(), PASSWORD)


def test_the_login_page_refuses_a_look_alike(client, runtime):
    alice = _person(runtime, "alice")
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": _look_alike(alice["email"], "alice", "alicé"),
            "password": PASSWORD,
            "_csrf_token": csrf(client),
        },
        follow_redirects=False,
    )
    assert response.status_code != 303
    assert "not right" in response.text


def test_look_alike_accounts_are_two_accounts(runtime):
    bob = _person(runtime, "bob", password=None)
    twin = users.create_user(
        runtime, _look_alike(bob["email"], "bob", "bób"), name="twin", password=None
    )
    assert twin["id"] != bob["id"]
    assert users.get_by_email(runtime, bob["email"])["id"] == bob["id"]
    assert users.get_by_email(runtime, twin["email"])["id"] == twin["id"]


def test_adding_a_look_alike_member_does_not_add_the_real_one(api, ws, runtime):
    bob = _person(runtime, "bob", password=None)
    refused = api.post(
        f"/workspaces/{ws}/members",
        {"email": _look_alike(bob["email"], "bob", "bób"), "role": "admin"},
        expect=422,
    )
    assert refused["error"]["fields"]["email"] == "no account has this email"
    members = {m["user_id"] for m in api.get(f"/workspaces/{ws}/members", expect=200)}
    assert bob["id"] not in members
    # The address in other letter case is the same account.
    api.post(
        f"/workspaces/{ws}/members", {"email": bob["email"].upper(), "role": "member"}, expect=201
    )


def test_a_token_is_not_issued_for_a_look_alike(settings, runtime, monkeypatch):
    monkeypatch.setenv("WORKSPACE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WORKSPACE_DATA_DIR", str(settings.data_dir))
    bob = _person(runtime, "bob", password=None)
    runner = CliRunner()
    refused = runner.invoke(cli, ["token", "create", _look_alike(bob["email"], "bob", "BÓB")])
    assert refused.exit_code == 1 and "no user with email" in refused.output
    issued = runner.invoke(cli, ["token", "create", bob["email"].upper()])
    assert issued.exit_code == 0 and issued.output.strip().startswith("wst_")


def test_a_user_field_given_a_look_alike_email_names_nobody(api, ws, runtime):
    bob = _person(runtime, "bob", password=None)
    api.post(f"/workspaces/{ws}/members", {"email": bob["email"], "role": "member"}, expect=201)
    rt, _ = make_type(api, ws, "Deal", field("Name", "text"), field("Owner", "user"))
    fake = _look_alike(bob["email"], "bob", "bób")
    refused = api.post(records_path(ws, rt), {"fields": {"name": "x", "owner": fake}}, expect=422)
    assert "owner" in refused["error"]["fields"]
    made = api.post(
        records_path(ws, rt), {"fields": {"name": "y", "owner": bob["email"].upper()}}, expect=201
    )
    assert made["fields"]["owner"] == bob["id"]


def test_idempotency_keys_differing_in_case_are_two_keys(api, ws):
    rt, _ = make_type(api, ws, "Note", field("Name", "text"))
    first = api.post(
        records_path(ws, rt),
        {"fields": {"name": "a"}},
        expect=201,
        headers={"Idempotency-Key": "order-abc"},
    )
    second = api.post(
        records_path(ws, rt),
        {"fields": {"name": "b"}},
        expect=201,
        headers={"Idempotency-Key": "ORDER-ABC"},
    )
    assert first["id"] != second["id"]


def test_view_names_differing_in_case_or_accents_are_two_views(api, ws, runtime, access):
    made, _ = make_type(api, ws, "Lead", field("Name", "text"))
    rt = record_types.get_type(runtime, access, made["id"])
    for name in ("Open", "open", "Öpen"):
        views.create_view(runtime, access, rt, name, {})
    assert sorted(v["name"] for v in views.list_views(runtime, access, rt)) == [
        "Open",
        "open",
        "Öpen",
    ]


def test_record_type_names_differ_by_accent_not_by_case(api, ws):
    make_type(api, ws, "Café", field("Name", "text"))
    make_type(api, ws, "Cafe", field("Name", "text"))
    api.post(f"/workspaces/{ws}/types", {"name": "CAFÉ", "fields": []}, expect=409)


@pytest.mark.mysql_only
def test_every_identity_column_compares_in_binary_on_mysql(database_url):
    """Whatever the database's default collation, the migrated identity columns are binary."""
    wanted = {
        (table.name, column.name)
        for table in m.metadata.tables.values()
        for column in table.columns
        if "utf8mb4_bin" in str(column.type.compile(dialect=_mysql_dialect()))
    }
    assert ("users", "email") in wanted and ("idempotency_keys", "key") in wanted
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            found = {
                (row.table_name, row.column_name): row.collation_name
                for row in conn.execute(
                    text(
                        "SELECT table_name, column_name, collation_name"
                        " FROM information_schema.columns WHERE table_schema = DATABASE()"
                    )
                )
            }
    finally:
        engine.dispose()
    assert {key: found[key] for key in wanted} == {key: "utf8mb4_bin" for key in wanted}


def _mysql_dialect() -> Any:
    from sqlalchemy.dialects import mysql

    return mysql.dialect()
