"""CSV imports: rows kept as read, columns matched by name, dedupe under the import's policy,
every row's outcome kept, bad input refused naming the field, and a run cut short finished
by running again without writing any row twice."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import pytest

from tests.helpers import PREFIX, Api, field, make_type, records_path
from workspace.boot import build_runtime
from workspace.errors import Conflict
from workspace.imports import imports
from workspace.records import records
from workspace.types import record_types

CSV = (
    "\ufeffFull name;E-mail;Phone;Member since;VIP\r\n"
    "Ada Lovelace;ADA@example.org ;+44 20 7946 0958;2024-01-31;yes\r\n"
    "Grace Hopper;grace@example;;2024-02-30;no\r\n"
    ";\r\n"
    "Alan Turing;alan@example.org;;;\r\n"
)


@pytest.fixture
def crm(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(
        api,
        ws,
        "Customer",
        field("Full name", "text", required=True),
        field("Email", "email"),
        field("Phone", "phone"),
        field("Member since", "date"),
        field("VIP", "checkbox"),
        field("City", "text"),
    )
    return rt


def upload(api: Api, ws: int, rt: dict[str, Any], text: str, *, expect: int = 201) -> Any:
    response = api.client.post(
        f"{PREFIX}/workspaces/{ws}/types/{rt['id']}/imports",
        content=text.encode(),
        params={"name": "C:\\Users\\me\\customers.csv"},
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert response.status_code == expect, response.text
    return response.json()


def run(api: Api, ws: int, rt: dict[str, Any], made: Any, expect: int = 200, **body: Any) -> Any:
    path = f"/workspaces/{ws}/types/{rt['id']}/imports/{made['id']}/run"
    return api.post(path, {"mapping": made["mapping"], **body}, expect=expect)


def listed(api: Api, ws: int, rt: dict[str, Any]) -> list[dict[str, Any]]:
    return api.get(records_path(ws, rt), expect=200, limit=100)["items"]


def test_an_upload_keeps_the_rows_and_matches_columns_by_name_without_writing(api, ws, crm):
    made = upload(api, ws, crm, CSV)
    assert made["name"] == "customers.csv"
    assert made["headers"] == ["Full name", "E-mail", "Phone", "Member since", "VIP"]
    assert made["mapping"] == {
        "0": "full_name",
        "1": "email",
        "2": "phone",
        "3": "member_since",
        "4": "vip",
    }
    assert made["status"] == "uploaded" and made["counts"]["pending"] == 3
    assert listed(api, ws, crm) == []
    rows = api.get(f"/workspaces/{ws}/types/{crm['id']}/imports/{made['id']}/rows", expect=200)
    assert [r["cells"][0] for r in rows["items"]] == ["Ada Lovelace", "Grace Hopper", "Alan Turing"]


def test_a_run_writes_good_rows_and_keeps_each_rejected_row_with_its_reasons(api, ws, crm):
    made = upload(api, ws, crm, CSV)
    done = run(api, ws, crm, made)
    assert done["status"] == "done"
    assert done["counts"] == {
        "pending": 0,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    by_name = {r["fields"]["full_name"]: r["fields"] for r in listed(api, ws, crm)}
    assert by_name["Ada Lovelace"]["email"] == "ada@example.org"
    assert by_name["Ada Lovelace"]["phone"] == "+442079460958"
    assert by_name["Ada Lovelace"]["vip"] is True
    assert by_name["Ada Lovelace"]["member_since"] == "2024-01-31"
    assert set(by_name) == {"Ada Lovelace", "Alan Turing"}
    path = f"/workspaces/{ws}/types/{crm['id']}/imports/{made['id']}/rows"
    rejected = api.get(path, expect=200, outcome="rejected")["items"]
    assert [r["row"] for r in rejected] == [2]
    assert set(rejected[0]["detail"]["fields"]) == {"email", "member_since"}
    assert rejected[0]["cells"][1] == "grace@example"


def test_the_activity_says_the_record_came_from_the_import(api, ws, crm):
    made = upload(api, ws, crm, CSV)
    run(api, ws, crm, made)
    ada = next(r for r in listed(api, ws, crm) if r["fields"]["full_name"] == "Ada Lovelace")
    entries = api.get(f"{records_path(ws, crm)}/{ada['id']}/activity", expect=200)["items"]
    assert entries[0]["source"] == "import" and entries[0]["source_ref"] == "customers.csv"


@pytest.mark.parametrize(
    ("policy", "outcome", "name", "city"),
    [
        ("rules", "rejected", "Ada L.", None),  # the type's block rule refuses the row
        ("fill_empty", "updated", "Ada L.", "London"),
        ("update", "updated", "Ada Lovelace", "London"),
    ],
)
def test_rows_matching_a_record_on_file_follow_the_policy(
    api, ws, crm, policy, outcome, name, city
):
    api.post(
        f"/workspaces/{ws}/types/{crm['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "block", "on_update": "block"},
        expect=201,
    )
    on_file = api.post(
        records_path(ws, crm),
        {"fields": {"full_name": "Ada L.", "email": "ada@example.org"}},
        expect=201,
    )
    made = upload(api, ws, crm, "Full name,Email,City\nAda Lovelace, Ada@Example.org,London\n")
    done = run(api, ws, crm, made, policy=policy)
    assert done["counts"][outcome] == 1
    [only] = listed(api, ws, crm)
    assert (only["id"], only["fields"]["full_name"], only["fields"]["city"]) == (
        on_file["id"],
        name,
        city,
    )
    path = f"/workspaces/{ws}/types/{crm['id']}/imports/{made['id']}/rows"
    [row] = api.get(path, expect=200)["items"]
    if outcome == "updated":
        assert row["record"] == on_file["id"]
    else:
        assert str(on_file["id"]) in row["detail"]["message"]


def test_duplicates_within_the_file_become_one_record(api, ws, crm):
    api.post(
        f"/workspaces/{ws}/types/{crm['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "block"},
        expect=201,
    )
    text = "Full name,Email,City\nAda,ada@example.org,\nAda Lovelace,ADA@example.org,London\n"
    done = run(api, ws, crm, upload(api, ws, crm, text), policy="fill_empty")
    assert done["counts"]["created"] == 1 and done["counts"]["updated"] == 1
    [only] = listed(api, ws, crm)
    assert only["fields"]["city"] == "London"


def test_review_policy_creates_and_queues_the_pair(api, ws, crm):
    api.post(
        f"/workspaces/{ws}/types/{crm['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"},
        expect=201,
    )
    api.post(records_path(ws, crm), {"fields": {"full_name": "Ada", "email": "ada@example.org"}})
    done = run(api, ws, crm, upload(api, ws, crm, "Full name,Email\nAda L,ada@example.org\n"))
    assert done["counts"]["created"] == 1
    assert len(listed(api, ws, crm)) == 2
    pairs = api.get(f"/workspaces/{ws}/types/{crm['id']}/duplicates", expect=200)
    assert len(pairs["items"]) == 1


def test_a_bad_mapping_is_refused_naming_the_column_and_writes_nothing(api, ws, crm):
    made = upload(api, ws, crm, CSV)
    path = f"/workspaces/{ws}/types/{crm['id']}/imports/{made['id']}/run"
    body = api.post(path, {"mapping": {"0": "full_name", "1": "nope", "9": "city"}}, expect=422)
    assert set(body["error"]["fields"]) == {"mapping.1", "mapping.9"}
    body = api.post(path, {"mapping": {"0": "full_name", "1": "full_name"}}, expect=422)
    assert "mapping.1" in body["error"]["fields"]
    body = api.post(path, {"mapping": made["mapping"], "policy": "merge-ish"}, expect=422)
    assert "policy" in body["error"]["fields"]
    assert listed(api, ws, crm) == []
    assert (
        api.get(f"/workspaces/{ws}/types/{crm['id']}/imports/{made['id']}")["counts"]["pending"]
        == 3
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("\n\n", "empty"), ("Name,Email\n", "no data rows"), (" , \na,b\n", "first")],
)
def test_files_that_cannot_be_imported_are_refused_naming_the_file(api, ws, crm, text, reason):
    body = upload(api, ws, crm, text, expect=422)
    assert reason in body["error"]["fields"]["file"]
    assert api.get(f"/workspaces/{ws}/types/{crm['id']}/imports", expect=200) == []


def test_a_file_over_the_row_limit_is_refused(ws, crm, settings, access):
    limited = build_runtime(dataclasses.replace(settings, import_max_rows=2))
    try:
        acc = access
        rt = record_types.get_type(limited, acc, crm["id"])
        with pytest.raises(Exception, match="at most 2") as raised:
            imports.create_import(limited, acc, rt, "big.csv", b"Full name\na\nb\nc\n")
        assert raised.value.fields == {"file": "has 3 rows; an import takes at most 2"}
    finally:
        limited.close()


def test_windows_1252_files_and_tab_separators_are_read(api, ws, crm):
    text = "Full name\tCity\nJosé Ñúñez\tMálaga\n"
    response = api.client.post(
        f"{PREFIX}/workspaces/{ws}/types/{crm['id']}/imports?name=es.csv",
        content=text.encode("cp1252"),
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    run(api, ws, crm, response.json())
    [only] = listed(api, ws, crm)
    assert (only["fields"]["full_name"], only["fields"]["city"]) == ("José Ñúñez", "Málaga")


def test_a_multipart_upload_works_like_a_raw_body(api, ws, crm):
    response = api.client.post(
        f"{PREFIX}/workspaces/{ws}/types/{crm['id']}/imports",
        files={"file": ("list.csv", b"Full name\nAda\n", "text/csv")},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "list.csv"
    assert response.json()["counts"]["pending"] == 1


def test_viewers_cannot_import_and_strangers_see_nothing(api, ws, crm, make_user, as_user):
    made = upload(api, ws, crm, CSV)
    viewer, viewer_token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": viewer["email"], "role": "viewer"}, expect=201)
    as_viewer = as_user(viewer_token)
    upload(as_viewer, ws, crm, CSV, expect=403)
    run(as_viewer, ws, crm, made, expect=403)
    _, stranger_token = make_user()
    stranger = as_user(stranger_token)
    stranger.get(f"/workspaces/{ws}/types/{crm['id']}/imports/{made['id']}", expect=404)
    upload(stranger, ws, crm, CSV, expect=404)
    assert listed(api, ws, crm) == []


def test_a_finished_import_does_not_run_twice(api, ws, crm):
    made = upload(api, ws, crm, CSV)
    run(api, ws, crm, made)
    run(api, ws, crm, made, expect=409)
    assert len(listed(api, ws, crm)) == 2


def test_a_run_cut_short_is_finished_by_running_again(api, ws, crm, settings, access, monkeypatch):
    small = build_runtime(dataclasses.replace(settings, bulk_limit=2))
    try:
        acc = access
        rt = record_types.get_type(small, acc, crm["id"])
        text = "Full name\n" + "".join(f"Person {i}\n" for i in range(7))
        made = imports.create_import(small, acc, rt, "people.csv", text.encode())
        real = records.create_from_texts
        calls = []

        def dies_on_the_second_batch(*args: Any, **kw: Any) -> Any:
            calls.append(1)
            if len(calls) == 2:
                raise SystemExit("the server process was stopped")
            return real(*args, **kw)

        monkeypatch.setattr(records, "create_from_texts", dies_on_the_second_batch)
        with pytest.raises(SystemExit):
            imports.run_import(small, acc, rt, made["id"], made["mapping"])
        assert imports.get_import(small, acc, rt, made["id"])["counts"]["created"] == 2
        monkeypatch.setattr(records, "create_from_texts", real)
        done = imports.run_import(small, acc, rt, made["id"], made["mapping"])
    finally:
        small.close()
    assert done["counts"] == {**dict.fromkeys(imports.OUTCOMES, 0), "created": 7}
    names = sorted(r["fields"]["full_name"] for r in listed(api, ws, crm))
    assert names == [f"Person {i}" for i in range(7)]


def test_two_runs_at_once_write_each_row_once(api, ws, crm, settings, access):
    small = build_runtime(dataclasses.replace(settings, bulk_limit=3))
    try:
        acc = access
        rt = record_types.get_type(small, acc, crm["id"])
        text = "Full name\n" + "".join(f"Person {i}\n" for i in range(12))
        made = imports.create_import(small, acc, rt, "people.csv", text.encode())
        with ThreadPoolExecutor(2) as pool:
            runs = [
                pool.submit(imports.run_import, small, acc, rt, made["id"], made["mapping"])
                for _ in range(2)
            ]
            for f in runs:
                with suppress(Conflict):  # the other run had finished every row already
                    f.result()
    finally:
        small.close()
    assert len(listed(api, ws, crm)) == 12
