"""Files on records: the service and the API, on SQLite and MySQL.

Most tests use the workspace's default backend, a local folder. The store-by-hash, round-trip
and dead-backend cases also run against real S3 (moto's server) and FTP (pyftpdlib) servers
on loopback, started as in tests/test_storage_backends.py; a test picks the backend by
pointing ``services.file_storage`` (the seam another module fills from workspace settings)
at it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import select, update

from storage_backends import StorageBackend
from tests.helpers import PREFIX, Api, field, make_type
from tests.storage_servers import FlippingRelay, free_port, on_loopback
from workspace import models as m
from workspace.app import create_app
from workspace.cli import cli
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.files import files
from workspace.runtime import Runtime
from workspace.storage import backends as file_storage

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" + "1f15c489")
PNG += bytes.fromhex("0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture
def rec(api: Api, ws: int) -> dict[str, Any]:
    rt, (a, b) = make_type(
        api, ws, "Customer", field("Name", "text"), rows=[{"name": "Ada"}, {"name": "Bob"}]
    )
    base = f"/workspaces/{ws}/types/{rt['id']}"
    return {
        "ws": ws,
        "rt": rt,
        "a": a["id"],
        "b": b["id"],
        "base": base,
        "files": f"{base}/records/{a['id']}/files",
    }


def upload(api: Api, path: str, *parts: tuple[str, bytes], expect: int = 201, **params: Any) -> Any:
    response = api.client.post(
        PREFIX + path,
        files=[("files", (name, io.BytesIO(data), "text/html")) for name, data in parts],
        headers={"Authorization": f"Bearer {api.token}"},
        params=params or None,
    )
    assert response.status_code == expect, response.text
    return response.json()


def download(api: Api, ws: int, file_id: int, expect: int = 200) -> Any:
    response = api.client.get(
        f"{PREFIX}/workspaces/{ws}/files/{file_id}/content",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == expect, response.text
    return response


def blob_path(runtime: Runtime, ws: int, sha: str) -> Path:
    return runtime.settings.data_dir / "files" / str(ws) / files.blob_name(sha)


def history(api: Api, rec: dict[str, Any], record_id: int) -> list[dict[str, Any]]:
    items = api.get(f"{rec['base']}/records/{record_id}/activity", expect=200)["items"]
    return [i for i in items if i["action"].startswith("file_")]


# ---- upload, list, download ----------------------------------------------------------


def test_upload_several_files_list_and_download_them(api, rec, runtime):
    text = "Grüße, <b>not html</b>\n".encode()
    added = upload(api, rec["files"], ("notes é.txt", text), ("pixel.png", PNG))["items"]
    assert [(f["name"], f["size"], f["content_type"]) for f in added] == [
        ("notes é.txt", len(text), "text/plain"),
        ("pixel.png", len(PNG), "image/png"),
    ]
    assert added[0]["sha256"] == hashlib.sha256(text).hexdigest()
    listed = api.get(rec["files"], expect=200)["items"]
    assert [f["id"] for f in listed] == [f["id"] for f in added]

    got = download(api, rec["ws"], added[0]["id"])
    assert got.content == text
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"notes _.txt\"; filename*=UTF-8''notes%20%C3%A9.txt"
    )
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]

    image = download(api, rec["ws"], added[1]["id"])
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline;")
    assert blob_path(runtime, rec["ws"], added[1]["sha256"]).read_bytes() == PNG


def test_the_content_type_comes_from_the_bytes_not_the_client(api, rec):
    (html,) = upload(api, rec["files"], ("page.html", b"<html><script>alert(1)</script>"))["items"]
    assert html["content_type"] == "text/plain"
    got = download(api, rec["ws"], html["id"])
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    # An SVG is a document that can run scripts: never inline.
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    (image,) = upload(api, rec["files"], ("logo.svg", svg))["items"]
    assert (
        download(api, rec["ws"], image["id"])
        .headers["content-disposition"]
        .startswith("attachment;")
    )
    # A PNG named .txt is still a PNG; a text file named .png is not an image.
    (png,) = upload(api, rec["files"], ("pixel.txt", PNG))["items"]
    (fake,) = upload(api, rec["files"], ("fake.png", b"just text"))["items"]
    assert (png["content_type"], fake["content_type"]) == ("image/png", "text/plain")


def test_identical_content_is_stored_once(api, rec, runtime):
    first = upload(api, rec["files"], ("a.bin", b"\x00same bytes"))["items"][0]
    other = f"{rec['base']}/records/{rec['b']}/files"
    second = upload(api, other, ("b.bin", b"\x00same bytes"))["items"][0]
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    folder = runtime.settings.data_dir / "files" / str(rec["ws"])
    assert [p.name for p in folder.rglob("*") if p.is_file()] == [first["sha256"]]


def test_file_names_are_cleaned_and_never_reach_a_path(api, rec, runtime):
    added = upload(api, rec["files"], ("../../etc/passwd", b"x"), ("C:\\Users\\a\\b.txt", b"y"))
    assert [f["name"] for f in added["items"]] == ["passwd", "b.txt"]
    assert not (runtime.settings.data_dir / "etc").exists()


def test_an_oversized_file_is_refused_by_name_and_nothing_is_stored(settings, make_user):
    small = dataclasses.replace(settings, max_file_bytes=1000, max_body_bytes=100)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        api = Api(client, make_user()[1])
        ws = api.post("/workspaces", {"name": "W"}, expect=201)["id"]
        rt, (a,) = make_type(api, ws, "C", field("Name", "text"), rows=[{"name": "A"}])
        path = f"/workspaces/{ws}/types/{rt['id']}/records/{a['id']}/files"
        # Bigger than max_body_bytes is fine for an upload: the file limit applies.
        upload(api, path, ("ok.bin", b"o" * 1000))
        body = upload(api, path, ("fine.txt", b"ok"), ("huge.bin", b"x" * 1001), expect=413)
        assert body["error"]["fields"]["files"].startswith("huge.bin: larger than the limit")
        assert [f["name"] for f in api.get(path, expect=200)["items"]] == ["ok.bin"]
        # A body past ten files' worth is cut off while it arrives.
        body = upload(api, path, ("big.bin", b"x" * 12_000_000), expect=413)
        assert body["error"]["code"] == "body_too_large"


def test_bad_uploads_are_refused_with_the_field_named(api, rec, as_user, make_user):
    response = api.client.post(
        PREFIX + rec["files"],
        data={"note": "no file"},
        files=[("other", ("x.txt", io.BytesIO(b"x"), "text/plain"))],
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"files": "choose at least one file"}
    many = [(f"{i}.txt", b"x") for i in range(files.MAX_FILES + 1)]
    assert "at most" in upload(api, rec["files"], *many, expect=422)["error"]["fields"]["files"]
    upload(api, f"{rec['base']}/records/999999/files", ("x.txt", b"x"), expect=404)
    body = upload(api, rec["files"], ("x.txt", b"x"), expect=422, field="name")
    assert body["error"]["fields"] == {"field": "'name' is not a file field of Customer"}
    # Someone outside the workspace learns nothing; a viewer cannot upload.
    stranger = as_user(make_user()[1])
    upload(stranger, rec["files"], ("x.txt", b"x"), expect=404)


def test_viewers_can_read_but_not_change(api, rec, as_user, make_user):
    viewer_user, token = make_user()
    api.post(
        f"/workspaces/{rec['ws']}/members",
        {"email": viewer_user["email"], "role": "viewer"},
        expect=201,
    )
    (f,) = upload(api, rec["files"], ("a.txt", b"hello"))["items"]
    viewer = as_user(token)
    assert download(viewer, rec["ws"], f["id"]).content == b"hello"
    upload(viewer, rec["files"], ("x.txt", b"x"), expect=403)
    viewer.delete(f"/workspaces/{rec['ws']}/files/{f['id']}", expect=403)


# ---- delete, restore, purge ----------------------------------------------------------


def test_delete_restore_and_the_activity_history(api, rec):
    (f,) = upload(api, rec["files"], ("a.txt", b"hello"))["items"]
    path = f"/workspaces/{rec['ws']}/files/{f['id']}"
    assert api.delete(path, expect=200)["deleted_at"] is not None
    assert api.get(rec["files"], expect=200)["items"] == []
    assert [x["id"] for x in api.get(rec["files"], deleted="true", expect=200)["items"]] == [
        f["id"]
    ]
    # Deleted means not served, also through an old link (the timeline's, say).
    assert download(api, rec["ws"], f["id"], expect=404).json()["error"]["deleted"] is True
    assert api.post(path + "/restore", expect=200)["deleted_at"] is None
    assert download(api, rec["ws"], f["id"]).content == b"hello"
    assert [x["id"] for x in api.get(rec["files"], expect=200)["items"]] == [f["id"]]

    brief = {"id": f["id"], "name": "a.txt", "size": 5, "content_type": "text/plain"}
    entries = history(api, rec, rec["a"])
    assert [(e["action"], e["changes"]) for e in reversed(entries)] == [
        ("file_added", [{"key": "file", "field": "file", "old": None, "new": brief}]),
        ("file_deleted", [{"key": "file", "field": "file", "old": brief, "new": None}]),
        ("file_restored", [{"key": "file", "field": "file", "old": None, "new": brief}]),
    ]


def test_purge_removes_old_deleted_files_and_unreferenced_blobs(api, rec, runtime):
    (keep,) = upload(api, rec["files"], ("keep.txt", b"shared"))["items"]
    (gone,) = upload(api, rec["files"], ("gone.txt", b"shared"))["items"]
    (solo,) = upload(api, rec["files"], ("solo.txt", b"only me"))["items"]
    (recent,) = upload(api, rec["files"], ("recent.txt", b"recent"))["items"]
    for f in (gone, solo, recent):
        api.delete(f"/workspaces/{rec['ws']}/files/{f['id']}", expect=200)
    with transaction(runtime.control, write=True) as conn:
        old = utcnow() - dt.timedelta(days=31)
        conn.execute(
            update(m.files).where(m.files.c.id.in_([gone["id"], solo["id"]])).values(deleted_at=old)
        )

    done = files.purge(runtime)
    assert done["files"] >= 2 and done["failed"] == 0
    with transaction(runtime.control) as conn:
        left = set(
            conn.execute(select(m.files.c.id).where(m.files.c.workspace_id == rec["ws"])).scalars()
        )
    assert left == {keep["id"], recent["id"]}
    assert blob_path(runtime, rec["ws"], keep["sha256"]).exists()  # still used by "keep"
    assert not blob_path(runtime, rec["ws"], solo["sha256"]).exists()
    assert blob_path(runtime, rec["ws"], recent["sha256"]).exists()  # restorable
    api.post(f"/workspaces/{rec['ws']}/files/{solo['id']}/restore", expect=404)


def test_the_purge_command(api, rec, runtime, settings, monkeypatch):
    (f,) = upload(api, rec["files"], ("old.txt", b"old and deleted"))["items"]
    api.delete(f"/workspaces/{rec['ws']}/files/{f['id']}", expect=200)
    with transaction(runtime.control, write=True) as conn:
        old = utcnow() - dt.timedelta(days=40)
        conn.execute(update(m.files).where(m.files.c.id == f["id"]).values(deleted_at=old))
    monkeypatch.setenv("WORKSPACE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WORKSPACE_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(cli, ["files", "purge"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"purged \d+ deleted files and \d+ stored blobs\n", result.output)
    assert not blob_path(runtime, rec["ws"], f["sha256"]).exists()


# ---- integrity -----------------------------------------------------------------------


def test_a_damaged_blob_is_reported_not_sent(api, rec, runtime, caplog):
    (f,) = upload(api, rec["files"], ("a.txt", b"the real content"))["items"]
    blob_path(runtime, rec["ws"], f["sha256"]).write_bytes(b"the fake content")
    got = download(api, rec["ws"], f["id"], expect=502)
    assert got.json()["error"]["code"] == "file_damaged"
    assert "'a.txt'" in got.json()["error"]["message"]
    assert "fake" not in got.text
    assert any("no longer matches its hash" in r.getMessage() for r in caplog.records)
    # Uploading the same content again repairs the blob (its size matches, so it is
    # compared by hash on read; a wrong size is replaced on upload).
    blob_path(runtime, rec["ws"], f["sha256"]).write_bytes(b"short")
    upload(api, rec["files"], ("again.txt", b"the real content"))
    assert download(api, rec["ws"], f["id"]).content == b"the real content"


# ---- merges --------------------------------------------------------------------------


def test_a_merge_moves_files_to_the_survivor_and_undo_moves_them_back(api, rec):
    (fa,) = upload(api, rec["files"], ("a.txt", b"a"))["items"]
    b_files = f"{rec['base']}/records/{rec['b']}/files"
    (fb,) = upload(api, b_files, ("b.txt", b"b"))["items"]
    done = api.post(f"{rec['base']}/merges", {"survivor": rec["a"], "loser": rec["b"]}, expect=201)
    assert [f["name"] for f in api.get(rec["files"], expect=200)["items"]] == ["a.txt", "b.txt"]
    (later,) = upload(api, rec["files"], ("later.txt", b"c"))["items"]
    api.post(f"{rec['base']}/merges/{done['id']}/undo", expect=200)
    assert [f["id"] for f in api.get(rec["files"], expect=200)["items"]] == [fa["id"], later["id"]]
    assert [f["id"] for f in api.get(b_files, expect=200)["items"]] == [fb["id"]]


# ---- other backends: S3 and FTP on loopback ------------------------------------------


def use_backend(
    monkeypatch: pytest.MonkeyPatch, runtime: Runtime, kind: str, config: dict[str, Any]
) -> StorageBackend:
    backend = on_loopback(runtime.storage_backends.create(kind, config))
    monkeypatch.setattr(file_storage, "write_backend", lambda runtime, ws: backend)
    monkeypatch.setattr(file_storage, "read_backends", lambda runtime, ws: [backend])
    return backend


@pytest.fixture(params=["s3", "ftp"])
def remote(request: pytest.FixtureRequest) -> tuple[str, Any]:
    server = request.getfixturevalue("moto_s3" if request.param == "s3" else "pyftpd")
    return request.param, server


def test_round_trip_and_dedupe_on_a_remote_backend(api, rec, runtime, monkeypatch, remote):
    kind, server = remote
    backend = use_backend(monkeypatch, runtime, kind, server.config())
    payload = bytes(range(256)) * 40_000  # 10 MB
    (f,) = upload(api, rec["files"], ("big ü.bin", payload))["items"]
    (empty,) = upload(api, rec["files"], ("empty.txt", b""))["items"]
    (again,) = upload(api, f"{rec['base']}/records/{rec['b']}/files", ("copy.bin", payload))[
        "items"
    ]
    assert download(api, rec["ws"], f["id"]).content == payload
    assert download(api, rec["ws"], empty["id"]).content == b""
    assert again["sha256"] == f["sha256"]
    names = files.file_blobs.run_async(_names, backend)
    assert names == sorted([files.blob_name(f["sha256"]), files.blob_name(empty["sha256"])])


async def _names(backend: StorageBackend) -> list[str]:
    return sorted([n async for n in backend.list("")])


@pytest.mark.parametrize("kind", ["s3", "ftp"])
def test_a_dead_backend_gives_503_and_leaves_no_row(api, rec, runtime, monkeypatch, kind, tmp_path):
    port = free_port()  # nothing listens there
    if kind == "s3":
        config = {
            "bucket": "b",
            "endpoint_url": f"http://127.0.0.1:{port}",
            "access_key": "k",
            "secret_key": "s",
            "timeout": 2,
        }
    else:
        config = {"host": "127.0.0.1", "port": port, "user": "u", "password": "p", "timeout": 2}
    use_backend(monkeypatch, runtime, kind, config)
    body = upload(api, rec["files"], ("a.txt", b"hello"), expect=503)
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["message"].startswith("the file storage failed: ")
    assert (
        "connection refused" in body["error"]["message"].lower()
        or "connect" in body["error"]["message"].lower()
    )
    assert "Traceback" not in str(body)
    with transaction(runtime.control) as conn:
        rows = conn.execute(select(m.files.c.id).where(m.files.c.workspace_id == rec["ws"])).all()
    assert rows == []
    assert history(api, rec, rec["a"]) == []


def test_bytes_damaged_on_the_way_to_s3_give_503_and_leave_nothing(
    api, rec, runtime, monkeypatch, moto_s3
):
    relay = FlippingRelay(moto_s3.port)
    config = moto_s3.config(endpoint_url=f"http://127.0.0.1:{relay.port}")
    use_backend(monkeypatch, runtime, "s3", config)
    body = upload(api, rec["files"], ("a.bin", b"\x00" * 999 + b"\xff"), expect=503)
    assert body["error"]["message"].startswith("the file storage failed: ")
    assert "received other bytes than were sent" in body["error"]["message"]
    assert relay.flipped == files.file_blobs.PUT_ATTEMPTS  # every try was damaged
    with transaction(runtime.control) as conn:
        rows = conn.execute(select(m.files.c.id).where(m.files.c.workspace_id == rec["ws"])).all()
    assert rows == []
    assert history(api, rec, rec["a"]) == []
    direct = on_loopback(
        runtime.storage_backends.create("s3", moto_s3.config(prefix=config["prefix"]))
    )
    assert files.file_blobs.run_async(_names, direct) == []
    relay.cut()


def test_a_dead_local_backend_gives_503_and_leaves_no_row(api, rec, runtime, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    use_backend(monkeypatch, runtime, "local", {"path": str(blocker)})
    body = upload(api, rec["files"], ("a.txt", b"hello"), expect=503)
    assert body["error"]["message"].startswith("the file storage failed: ")
    assert api.get(rec["files"], expect=200)["items"] == []
