"""Adopting an existing table of the customer's MySQL as a record type: a table made
by plain SQL with awkward names and types is listed, described, adopted without a change to
its structure, edited through the API and through SQL, and each side sees the other's edits.

The customer's MySQL is a second database on the test MariaDB (tests/customer_mysql.py); the
control database is SQLite or MySQL.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.customer_mysql import (
    customer,
    customer_settings,
    customer_sql,
    fresh_customer_database,
    good,
)
from tests.helpers import Api, field, make_type, records_path
from tests.web import csrf, log_in, page_user
from workspace.errors import VersionConflict
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.settings import Settings

__all__ = ["customer", "fresh_customer_database"]

TABLE = "Kunden Liste"
CREATE = """
CREATE TABLE `Kunden Liste` (
  `Kundennr` INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `Customer Name` VARCHAR(80) NOT NULL,
  `e-mail` VARCHAR(120) NULL,
  `order` INT NOT NULL DEFAULT 0,
  `Signed up?` TINYINT(1) NOT NULL DEFAULT 0,
  `Balance €` DECIMAL(10,2) NULL,
  `Notes` TEXT NULL,
  `Created` DATETIME NULL,
  `Tier` ENUM('gold','silver','bronze') NULL,
  `Photo` BLOB NULL,
  `Score` DOUBLE NULL
) CHARACTER SET utf8mb4
"""
ROWS = """
INSERT INTO `Kunden Liste`
  (`Customer Name`, `e-mail`, `order`, `Signed up?`, `Balance €`, `Notes`, `Created`, `Tier`)
VALUES
  ('Émile Zola', 'emile@example.org', 3, 1, 12.50, 'first\nline two', '2026-01-02 03:04:05',
   'gold'),
  ('Ada Lovelace', NULL, 1, 0, NULL, NULL, NULL, NULL)
"""


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path)


@pytest.fixture
def connected(api: Api, ws: int) -> int:
    """A workspace on the customer's database, which holds the awkward table with two rows."""
    customer_sql(CREATE)
    customer_sql(ROWS)
    api.put(f"/workspaces/{ws}/database", good(), expect=200)
    return ws


def tables(ws: int, name: str = "") -> str:
    return f"/workspaces/{ws}/database/tables" + (f"/{quote(name)}" if name else "")


def adopt(api: Api, ws: int, **spec: Any) -> dict[str, Any]:
    return api.post(f"/workspaces/{ws}/types/adopt", {"table": TABLE, **spec}, expect=201)


def structure() -> str:
    """The table's definition, without the AUTO_INCREMENT counter (rows move it)."""
    return re.sub(r"AUTO_INCREMENT=\d+ ", "", customer_sql(f"SHOW CREATE TABLE `{TABLE}`")[0][1])


def by_name(api: Api, ws: int, rt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = api.get(records_path(ws, rt), expect=200, limit=50)["items"]
    return {r["fields"]["customer_name"]: r for r in items}


def test_tables_are_listed_with_columns_and_suggested_field_types(api: Api, connected: int):
    make_type(api, connected, "Own", field("Name", "text"))
    listed = api.get(tables(connected), expect=200)
    names = [t["name"] for t in listed["tables"]]
    assert TABLE in names
    assert not any(n.startswith(("rt_", "dk_", "v_")) for n in names)  # ours and views
    assert listed["features"]["side_table"] and listed["features"]["plain_table"]

    got = api.get(tables(connected, TABLE), expect=200)
    assert got["adoptable"] is True and got["key"] == "Kundennr" and got["no_create"] is None
    columns = {c["name"]: c for c in got["columns"]}
    assert columns["Kundennr"]["why_not"] == "the primary key is the record's id"
    assert columns["Customer Name"]["suggested"] == "text"
    assert columns["Customer Name"]["config"] == {"max_length": 80}
    assert columns["order"]["suggested"] == "number"
    assert columns["order"]["config"] == {"min": -(2**31), "max": 2**31 - 1}
    assert columns["Signed up?"]["suggested"] == "checkbox"
    assert columns["Balance €"]["config"] == {
        "decimals": 2,
        "min": "-99999999.99",
        "max": "99999999.99",
    }
    assert columns["Notes"]["suggested"] == "long_text"
    assert columns["Created"]["suggested"] == "datetime"
    assert [c["label"] for c in columns["Tier"]["config"]["choices"]] == [
        "gold",
        "silver",
        "bronze",
    ]
    assert columns["Photo"]["suggested"] is None and "BLOB" in columns["Photo"]["why_not"]
    assert "inexact" in columns["Score"]["why_not"]
    api.get(tables(connected, "rt_1"), expect=404)


def test_adopted_table_is_edited_through_the_api_and_through_sql(api: Api, connected: int):
    ws = connected
    before = structure()
    rt = adopt(api, ws, name="Customers")
    assert structure() == before  # no DDL on the customer's table
    keys = {f["key"]: f for f in rt["fields"]}
    assert set(keys) == {
        "customer_name", "e_mail", "order", "signed_up", "balance", "notes", "created", "tier"
    }  # fmt: skip
    assert keys["customer_name"]["config"]["required"] is True  # NOT NULL
    assert rt["adopted"]["table"] == TABLE and rt["adopted"]["key"] == "Kundennr"
    assert rt["adopted"]["columns"]["balance"] == "Balance €"
    assert rt["adopted"]["no_create"] is None

    # The readable view has the field names, as for any type in the customer's database.
    assert len(customer_sql("SELECT `Customer Name`, `Balance €` FROM v_customers")) == 2
    found = by_name(api, ws, rt)
    emile = found["Émile Zola"]
    assert emile["version"] == 1 and emile["created_at"] is None
    assert emile["fields"]["balance"] == "12.50"
    assert emile["fields"]["signed_up"] is True and emile["fields"]["tier"] == "gold"
    assert emile["fields"]["notes"] == "first\nline two"
    assert emile["fields"]["created"].startswith("2026-01-02T03:04:05")
    assert found["Ada Lovelace"]["fields"]["e_mail"] is None

    # Search, filter and sort go through the view, on the customer's rows.
    path = records_path(ws, rt)
    assert [r["id"] for r in api.get(path, search="emile")["items"]] == [emile["id"]]
    ordered = api.get(path, sort="-order")["items"]
    assert [r["fields"]["order"] for r in ordered] == [3, 1]
    query = {"filter": {"field": "tier", "op": "eq", "value": "gold"}}
    assert [r["id"] for r in api.post(path + "/query", query, expect=200)["items"]] == [emile["id"]]

    # An edit through the API changes the customer's row and shows in the activity.
    edited = api.patch(
        f"{path}/{emile['id']}",
        {"fields": {"order": 7, "e_mail": "zola@example.org"}, "version": 1},
    )
    assert edited["version"] == 2
    row = customer_sql(f"SELECT `order`, `e-mail` FROM `{TABLE}` WHERE Kundennr = {emile['id']}")
    assert row == [(7, "zola@example.org")]
    history = api.get(f"{path}/{emile['id']}/activity", expect=200)["items"]
    changes = {c["field"]: (c["old"], c["new"]) for c in history[0]["changes"]}
    assert changes == {"order": (3, 7), "e_mail": ("emile@example.org", "zola@example.org")}
    # A stale version is refused, as on any record.
    stale = {"fields": {"order": 8}, "version": 1}
    api.patch(f"{path}/{emile['id']}", stale, expect=409)

    # Plain SQL edits and inserts show on the next read.
    customer_sql(
        f"UPDATE `{TABLE}` SET `Customer Name` = 'Emile Z.' WHERE Kundennr = {emile['id']}"
    )
    customer_sql(f"INSERT INTO `{TABLE}` (`Customer Name`, `order`) VALUES ('Grace Hopper', 2)")
    found = by_name(api, ws, rt)
    assert found["Emile Z."]["fields"]["order"] == 7
    assert found["Grace Hopper"]["version"] == 1 and found["Grace Hopper"]["fields"]["order"] == 2

    # A record created through the API is a row of the customer's table.
    sent = {"customer_name": "Linus", "balance": "5.5", "order": 4}
    made = api.post(path, {"fields": sent}, expect=201)
    row = customer_sql(
        f"SELECT `Customer Name`, `Balance €`, `order` FROM `{TABLE}` WHERE Kundennr = {made['id']}"
    )
    assert row == [("Linus", Decimal("5.50"), 4)]
    assert made["version"] == 1 and made["created_by"] is not None
    # A value the column cannot hold is refused by name, not by MySQL; so is an empty one
    # for a NOT NULL column.
    too_long = {"fields": {"customer_name": "x" * 81, "order": 1}}
    assert "customer_name" in api.post(path, too_long, expect=422)["error"]["fields"]
    assert (
        "order"
        in api.post(path, {"fields": {"customer_name": "Ann"}}, expect=422)["error"]["fields"]
    )

    # Delete hides the record; the row stays in the customer's table; restore brings it back.
    api.delete(f"{path}/{made['id']}", expect=204)
    assert "Linus" not in by_name(api, ws, rt)
    assert customer_sql(f"SELECT COUNT(*) FROM `{TABLE}` WHERE Kundennr = {made['id']}") == [(1,)]
    api.post(f"{path}/{made['id']}/restore", expect=200)
    assert "Linus" in by_name(api, ws, rt)
    assert structure() == before

    # The table stays in the customer's database: the workspace cannot move elsewhere.
    moves = f"/workspaces/{ws}/database/moves"
    refused = api.post(moves, {"target": "managed"}, expect=409)["error"]["message"]
    assert "'Customers' is a table adopted in this workspace's database" in refused
    # Deleting the record type leaves the customer's table and rows as they were.
    api.delete(f"/workspaces/{ws}/types/{rt['id']}", expect=204)
    assert customer_sql(f"SELECT COUNT(*) FROM `{TABLE}`") == [(4,)]
    assert customer_sql(f"SHOW TABLES LIKE 'rs_{rt['id']}'") == []


def test_a_chosen_mapping_and_when_records_cannot_be_created(api: Api, connected: int):
    ws = connected
    spec = {"columns": [{"column": "e-mail", "type": "text", "name": "Email"}, {"column": "Tier"}]}
    rt = adopt(api, ws, **spec)
    assert rt["name"] == TABLE
    assert "'Customer Name' must be filled" in rt["adopted"]["no_create"]
    assert [(f["name"], f["type"]) for f in rt["fields"]] == [
        ("Email", "text"),
        ("Tier", "single_choice"),
    ]
    # `Customer Name` is NOT NULL without a default and left out: no creates, edits work.
    path = records_path(ws, rt)
    refused = api.post(path, {"fields": {"email": "a@b.c"}}, expect=409)["error"]["message"]
    assert "'Customer Name' must be filled" in refused
    first = api.get(path, expect=200)["items"][0]
    api.patch(f"{path}/{first['id']}", {"fields": {"tier": "silver"}}, expect=200)
    assert customer_sql(f"SELECT Tier FROM `{TABLE}` WHERE Kundennr = {first['id']}") == [
        ("silver",)
    ]
    # Shape changes would need DDL on the customer's table: refused, saying why.
    email = rt["fields"][0]
    fields = f"/workspaces/{ws}/types/{rt['id']}/fields"
    said = api.post(fields, {"name": "Extra", "type": "text"}, expect=409)["error"]["message"]
    assert "never changes an adopted table's structure" in said
    api.patch(f"{fields}/{email['id']}", {"config": {"unique": True}}, expect=409)
    # The ENUM's values are the column's: renaming or removing a choice is refused, unchanged.
    tier = rt["fields"][1]
    choices = tier["config"]["choices"]
    for changed in (choices[:-1], [{**choices[0], "label": "Gold"}, *choices[1:]]):
        said = api.patch(f"{fields}/{tier['id']}", {"config": {"choices": changed}}, expect=409)
        assert "keeps the values its column 'Tier' holds" in said["error"]["message"]
    assert api.get(f"{path}/{first['id']}")["fields"]["tier"] == "silver"
    # Multi-valued fields live in link tables of their own: they can be added and used.
    labels = {"name": "Labels", "type": "multiple_choice", "config": {"choices": ["VIP", "New"]}}
    api.post(fields, labels, expect=201)
    tagged = api.patch(f"{path}/{first['id']}", {"fields": {"labels": ["VIP"]}}, expect=200)
    assert (
        api.get(f"{path}/{first['id']}")["fields"]["labels"]
        == ["VIP"]
        == tagged["fields"]["labels"]
    )
    # A field allowed more than its column holds: MySQL's refusal is a 422 naming the field.
    api.patch(f"{fields}/{email['id']}", {"config": {"max_length": 255}}, expect=200)
    long = {"fields": {"email": "x" * 130}}
    refused = api.patch(f"{path}/{first['id']}", long, expect=422)["error"]
    assert refused["fields"] == {"email": "is too long for its column in your table"}
    # The table is adopted now: it cannot be adopted twice.
    again = api.post(f"/workspaces/{ws}/types/adopt", {"table": TABLE}, expect=422)
    assert "already adopted" in again["error"]["fields"]["table"]


def test_tables_that_cannot_be_adopted_are_refused_by_name(api: Api, connected: int):
    ws = connected
    customer_sql("DROP TABLE IF EXISTS `no key`, `text key`, `pair key`")
    customer_sql("CREATE TABLE `no key` (a INT)")
    customer_sql("CREATE TABLE `text key` (code VARCHAR(10) PRIMARY KEY, a INT)")
    customer_sql("CREATE TABLE `pair key` (a INT, b INT, PRIMARY KEY (a, b))")
    for table, says in (
        ("no key", "no single-column primary key"),
        ("pair key", "no single-column primary key"),
        ("text key", "is VARCHAR(10), not an integer"),
    ):
        got = api.get(tables(ws, table), expect=200)
        assert got["adoptable"] is False and says in got["why_not"]
        refused = api.post(f"/workspaces/{ws}/types/adopt", {"table": table}, expect=422)
        assert table in refused["error"]["fields"]["table"] and says in refused["error"]["message"]
    chosen = [{"column": "Photo"}, {"column": "order", "type": "date"}, {"column": ["order"]}]
    bad = {"table": TABLE, "columns": chosen}
    fields = api.post(f"/workspaces/{ws}/types/adopt", bad, expect=422)["error"]["fields"]
    assert "not offered" in fields["columns[0].column"]
    assert fields["columns[1].type"] == "'order' can be: number"
    assert fields["columns[2].column"] == "no column \"['order']\" in the table"
    api.post(f"/workspaces/{ws}/types/adopt", {"table": "nope"}, expect=422)


def test_only_admins_and_only_on_the_customers_database(
    api: Api, ws: int, make_user: Any, as_user: Any, customer: None
):
    refused = api.get(tables(ws), expect=409)["error"]["message"]
    assert "managed database" in refused
    api.post(f"/workspaces/{ws}/types/adopt", {"table": TABLE}, expect=409)
    member, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": member["email"], "role": "member"})
    other = as_user(token)
    other.get(tables(ws), expect=403)
    other.get(tables(ws, TABLE), expect=403)
    other.post(f"/workspaces/{ws}/types/adopt", {"table": TABLE}, expect=403)


def test_records_of_other_types_relate_to_adopted_records(api: Api, connected: int):
    ws = connected
    rt = adopt(api, ws, name="Customers")
    emile = by_name(api, ws, rt)["Émile Zola"]
    order, made = make_type(
        api,
        ws,
        "Order",
        field("Title", "text"),
        field("Buyer", "relation", target=rt["id"]),
        rows=[{"title": "First", "buyer": [emile["id"]]}],
    )
    assert made[0]["fields"]["buyer"] == [emile["id"]]
    wrong = {"fields": {"title": "Second", "buyer": [999_999]}}
    refused = api.post(records_path(ws, order), wrong, expect=422)["error"]["fields"]
    assert "buyer" in refused


def test_the_page_lists_tables_suggests_types_and_adopts_the_choices(
    api: Api, connected: int, client: Any, runtime: Any
):
    ws = connected
    user = page_user(runtime)
    api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": "admin"}, expect=201)
    log_in(client, user)
    base = f"/w/{ws}/settings/database/adopt"
    page = client.get(base)
    assert page.status_code == 200 and f'href="?table={quote(TABLE)}"' in page.text
    assert "Version numbers and &#39;changed by someone else&#39; conflicts" in page.text
    shown = client.get(base, params={"table": TABLE})
    assert shown.status_code == 200
    assert 'name="type_1"' in shown.text and "Text (suggested)" in shown.text
    assert "Not offered: no field type stores BLOB values" in shown.text
    # Columns by position: 0 is the key, 1 `Customer Name`, 2 `e-mail`, 9 `Photo`.
    form = {"table": TABLE, "name": "Clients", "use_1": "on", "name_1": "Name", "type_1": "text"}
    form.update({"use_2": "on", "type_2": "long_text", "_csrf_token": csrf(client)})
    done = client.post(base, data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    made = api.get(f"/workspaces/{ws}/types/{done.headers['location'].rsplit('/', 1)[1]}")
    assert made["name"] == "Clients"
    assert [(f["name"], f["type"]) for f in made["fields"]] == [
        ("Name", "text"),
        ("e-mail", "long_text"),
    ]
    assert "adopted as" in client.get(base).text
    # The table and a row another system inserted (no bookkeeping yet) open in the UI.
    table = client.get(f"/w/{ws}/t/{made['id']}")
    assert table.status_code == 200 and "Émile Zola" in table.text
    assert "Your table <code>Kunden Liste</code>, adopted as it is" in table.text
    assert "+ New record" in table.text  # `Customer Name` is used: records can be created
    first = api.get(records_path(ws, made), expect=200, sort="name")["items"][0]
    record = client.get(f"/w/{ws}/t/{made['id']}/r/{first['id']}")
    assert record.status_code == 200, record.text
    assert "at a time not known</span> by another system" in record.text
    # A refusal names the column; without the CSRF token nothing happens.
    again = {"table": TABLE, "use_1": "on", "type_1": "date", "_csrf_token": csrf(client)}
    refused = client.post(base, data=again)
    assert refused.status_code == 422 and "already adopted" in refused.text
    assert client.post(base, data={"table": TABLE}).status_code == 403


def test_concurrent_edits_of_one_version_let_exactly_one_through(
    api: Api, connected: int, runtime: Any, access: Any
):
    """Both writers read version 1 of a row other systems inserted (no side row yet); the
    lock on the customer's row through the view, then the side row, let only one win."""
    rt_made = adopt(api, connected, name="Racers")
    _, rt = open_type(runtime, access.principal, connected, rt_made["id"])
    (row,) = customer_sql(f"SELECT Kundennr FROM `{TABLE}` WHERE `order` = 1")
    start = threading.Barrier(8)

    def edit(n: int) -> str:
        start.wait()
        try:
            records.update_record(runtime, access, rt, row[0], {"order": 10 + n}, version=1)
        except VersionConflict:
            return "conflict"
        return "written"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(edit, range(8)))
    assert outcomes == ["conflict"] * 7 + ["written"]
    got = api.get(f"{records_path(connected, rt_made)}/{row[0]}", expect=200)
    assert got["version"] == 2
    assert customer_sql(f"SELECT `order` FROM `{TABLE}` WHERE Kundennr = {row[0]}") == [
        (got["fields"]["order"],)
    ]


def test_rows_deleted_in_sql_neither_match_nor_block_duplicates(api: Api, connected: int):
    ws = connected
    rt = adopt(api, ws, name="Customers")
    path = records_path(ws, rt)
    rule = {"rule": "email", "fields": ["e_mail"], "on_create": "block"}
    api.post(f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules", rule, expect=201)
    ann = {"customer_name": "Ann", "order": 1, "e_mail": "ann@example.org"}
    made = api.post(path, {"fields": ann}, expect=201)
    api.post(path, {"fields": {**ann, "customer_name": "Ann B."}}, expect=409)  # on file
    customer_sql(f"DELETE FROM `{TABLE}` WHERE Kundennr = {made['id']}")
    again = api.post(path, {"fields": ann}, expect=201)
    assert again["id"] != made["id"]
    api.post(path, {"fields": {**ann, "customer_name": "Ann C."}}, expect=409)


def test_quotes_and_backticks_in_names_are_only_ever_quoted(api: Api, connected: int):
    ws = connected
    odd, code, date = 'it\'s "odd"', "a`b; DROP TABLE x", 'Ünïcödé "name"'
    sql_odd, sql_code = odd, code.replace("`", "``")
    customer_sql(f"DROP TABLE IF EXISTS `{sql_odd}`")
    customer_sql(
        f"CREATE TABLE `{sql_odd}` (`k``ey` BIGINT AUTO_INCREMENT PRIMARY KEY, "
        f"`{sql_code}` VARCHAR(20), `{date}` DATE)"
    )
    customer_sql(f"INSERT INTO `{sql_odd}` (`{sql_code}`) VALUES ('first')")
    assert odd in [t["name"] for t in api.get(tables(ws), expect=200)["tables"]]
    assert api.get(tables(ws, odd), expect=200)["key"] == "k`ey"
    rt = api.post(f"/workspaces/{ws}/types/adopt", {"table": odd}, expect=201)
    assert [f["name"] for f in rt["fields"]] == [code, date]
    keys = [f["key"] for f in rt["fields"]]
    sent = {"fields": {keys[0]: "second", keys[1]: "2026-02-03"}}
    made = api.post(records_path(ws, rt), sent, expect=201)
    rows = customer_sql(f"SELECT `k``ey`, `{sql_code}`, `{date}` FROM `{sql_odd}` ORDER BY 1")
    assert [r[1] for r in rows] == ["first", "second"] and rows[1][0] == made["id"]
    assert str(rows[1][2]) == "2026-02-03"
    listed = api.get(records_path(ws, rt), expect=200, sort=keys[0])["items"]
    assert [r["fields"][keys[0]] for r in listed] == ["first", "second"]
