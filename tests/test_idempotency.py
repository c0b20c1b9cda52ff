"""Idempotency-Key on POST: replay within 24 h, 422 on a different body, 409 while in flight,
scoped per workspace."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.helpers import Api, field, make_type, records_path
from workspace import idempotency, models
from workspace.db import transaction


@pytest.fixture
def path(api: Api, ws: int) -> str:
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Email", "email", unique=True))
    return records_path(ws, rt)


def post(api: Api, path: str, body: Any, key: str, **kw: Any) -> Any:
    return api.post(path, body, headers={"Idempotency-Key": key}, **kw)


def test_same_key_and_body_replays_the_first_answer(api, path):
    first = post(api, path, {"fields": {"name": "Ada"}}, "k-1", expect=201)
    again = post(api, path, {"fields": {"name": "Ada"}}, "k-1", expect=201)
    assert again == first
    assert api.last.headers["idempotent-replayed"] == "true"
    assert len(api.get(path)["items"]) == 1


def test_error_answers_are_replayed_too(api, path):
    post(api, path, {"fields": {"email": "bad"}}, "k-err", expect=422)
    post(api, path, {"fields": {"email": "bad"}}, "k-err", expect=422)
    assert api.last.headers["idempotent-replayed"] == "true"


def test_same_key_with_another_body_is_422(api, path):
    post(api, path, {"fields": {"name": "Ada"}}, "k-2", expect=201)
    body = post(api, path, {"fields": {"name": "Bob"}}, "k-2", expect=422)
    assert body["error"]["fields"] == {
        "Idempotency-Key": "was already used with a different request"
    }
    assert [r["fields"]["name"] for r in api.get(path)["items"]] == ["Ada"]


def test_key_still_in_flight_is_409(api, path, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    original = idempotency.complete

    def held_complete(*args: Any) -> None:
        entered.set()
        release.wait(timeout=10)  # the first attempt stays "in flight" until released
        original(*args)

    monkeypatch.setattr(idempotency, "complete", held_complete)
    first = threading.Thread(target=post, args=(api, path, {"fields": {"name": "Ada"}}, "k-1"))
    first.start()
    assert entered.wait(timeout=10)
    second = api.client.post(
        "/api/v1" + path,
        json={"fields": {"name": "Ada"}},
        headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": "k-1"},
    )
    release.set()
    first.join()
    assert second.status_code == 409
    assert "still being processed" in second.json()["error"]["message"]
    assert len(api.get(path)["items"]) == 1


def test_keys_are_scoped_per_workspace(api, path, ws):
    post(api, path, {"fields": {"name": "Ada"}}, "shared")
    other_ws = api.post("/workspaces", {"name": "Other"}, expect=201)["id"]
    rt, _ = make_type(api, other_ws, "Lead", field("Name", "text"))
    made = post(api, records_path(other_ws, rt), {"fields": {"name": "Ada"}}, "shared", expect=201)
    assert made["workspace"] == other_ws


def test_another_member_cannot_replay_my_answer(api, path, ws, make_user, as_user):
    post(api, path, {"fields": {"name": "Ada"}}, "mine", expect=201)
    user, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": "member"}, expect=201)
    body = post(as_user(token), path, {"fields": {"name": "Ada"}}, "mine", expect=422)
    assert body["error"]["code"] == "validation_failed"


def test_keys_expire_after_24_hours(api, path, runtime):
    post(api, path, {"fields": {"name": "Ada", "email": "a@x.org"}}, "old", expect=201)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(models.idempotency_keys)
            .where(models.idempotency_keys.c.key == "old")
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        )
    # Not a replay any more: the request runs again and meets the unique email.
    post(api, path, {"fields": {"name": "Ada", "email": "a@x.org"}}, "old", expect=409)


def test_server_errors_release_the_key(api, path, runtime, ws, monkeypatch):
    from workspace.records import records

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(records, "create", broken)
    body = post(api, path, {"fields": {"name": "Ada"}}, "k-500", expect=500)
    assert "incident" in body["error"]["message"] and "disk on fire" not in api.last.text
    monkeypatch.undo()
    post(api, path, {"fields": {"name": "Ada"}}, "k-500", expect=201)


def test_an_upload_larger_than_a_json_body_is_idempotent_too(api, ws, settings):
    rt, [record] = make_type(api, ws, "Deal", field("Name", "text"), rows=[{"name": "Big"}])
    path = f"/api/v1/workspaces/{ws}/types/{rt['id']}/records/{record['id']}/files"
    data = bytes(range(256)) * (settings.max_body_bytes // 256 + 4096)  # > max_body_bytes
    # A retry sends the very same bytes (multipart boundary included), as a client resending
    # its request does.
    built = httpx.Request("POST", "http://x", files=[("files", ("big.bin", data))])
    body = built.read()
    headers = {
        "Authorization": f"Bearer {api.token}",
        "Idempotency-Key": "upload-1",
        "Content-Type": built.headers["content-type"],
    }

    def send() -> Any:
        return api.client.post(path, content=body, headers=headers)

    first, again = send(), send()
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listed = api.get(path.removeprefix("/api/v1"), expect=200)["items"]
    assert [(f["name"], f["size"]) for f in listed] == [("big.bin", len(data))]
