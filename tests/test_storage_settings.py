"""A workspace's file backend settings through the API and the admin page: sealed secrets
that never come back, host and folder checks, test connection, admins only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from storage_backends import StorageError
from tests.helpers import Api
from tests.storage_servers import MotoS3, PyFtpd
from tests.web import csrf, log_in, page_user
from workspace import models as m
from workspace.access import workspaces
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.db import transaction
from workspace.errors import ValidationFailed
from workspace.principal import Principal
from workspace.settings import Settings
from workspace.storage import backends as file_storage
from workspace.storage import configs


@pytest.fixture
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("allowed")


@pytest.fixture
def settings(database_url: str, tmp_path: Path, roots: Path) -> Settings:
    # The test servers listen on loopback, which only an operator can open to admins.
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        migrate_on_start=False,
        db_timeout=5,
        allow_private_hosts=True,
        storage_local_roots=str(roots),
    )


def storage(ws: int, rest: str = "") -> str:
    return f"/workspaces/{ws}/storage{rest}"


def test_a_new_workspace_uses_its_own_folder(api: Api, ws: int, settings: Settings):
    got = api.get(storage(ws), expect=200)
    assert got["active"]["kind"] == "local"
    assert got["active"]["location"] == f"local folder {settings.data_dir.resolve()}/files/{ws}"
    assert got["draft"] is None and got["migration"] is None
    assert {"local", "s3", "ftp"} <= set(got["kinds"])


def test_secrets_are_sealed_and_never_returned(api: Api, ws: int, runtime, moto_s3: MotoS3):
    config = moto_s3.config()
    saved = api.put(storage(ws, "/draft"), {"kind": "s3", "config": config}, expect=200)
    secret = config["secret_key"]
    assert saved["secrets_saved"] == ["secret_key"]
    assert "secret_key" not in saved["config"]
    assert secret not in api.last.text
    assert secret not in api.get(storage(ws)).__repr__()
    with transaction(runtime.control) as conn:
        row = conn.execute(
            select(m.storage_configs).where(m.storage_configs.c.workspace_id == ws)
        ).one()
    assert secret not in repr(tuple(row)) and row.sealed
    assert config["access_key"] in repr(row.config)  # not a secret: shown to admins

    # Saved again without the secret: the sealed one is kept, and still works.
    del config["secret_key"]
    tested = api.post(storage(ws, "/test"), {"kind": "s3", "config": config}, expect=200)
    assert tested["secrets_saved"] == ["secret_key"]
    assert "worked" in tested["message"]


def test_test_connection_reports_the_failing_step_and_stores_nothing(
    api: Api, ws: int, runtime, moto_s3: MotoS3
):
    bad = moto_s3.config(secret_key="not-the-secret")
    error = api.post(storage(ws, "/test"), {"kind": "s3", "config": bad}, expect=422)["error"]
    assert error["code"] == "connection_failed"
    assert error["message"].startswith(
        f"Test connection to S3 bucket 'workspace-files' at {moto_s3.url} failed writing"
    )
    assert "SignatureDoesNotMatch" in error["message"] or "403" in error["message"]
    assert api.get(storage(ws))["draft"] is None
    with transaction(runtime.control) as conn:
        rows = conn.execute(
            select(m.storage_configs).where(m.storage_configs.c.workspace_id == ws)
        ).all()
    assert rows == []


def test_ftp_test_connection_and_a_wrong_password(api: Api, ws: int, pyftpd: PyFtpd):
    good = api.post(storage(ws, "/test"), {"kind": "ftp", "config": pyftpd.config()}, expect=200)
    assert good["secrets_saved"] == ["password"] and good["kind"] == "ftp"
    bad = pyftpd.config(password="wrong")
    error = api.post(storage(ws, "/test"), {"kind": "ftp", "config": bad}, expect=422)["error"]
    assert "failed writing a probe object" in error["message"]
    assert api.get(storage(ws))["draft"]["version"] == good["version"]  # unchanged


@pytest.mark.parametrize(
    ("kind", "config", "field", "reason"),
    [
        ("dropbox", {}, "kind", "must be one of"),
        ("s3", {"endpoint_url": "http://127.0.0.1:9000"}, "bucket", "is required"),
        ("s3", {"bucket": "b", "colour": "red"}, "colour", "is not a setting"),
        ("ftp", {"host": "ftp.example.com", "port": 99999}, "port", "whole number"),
        ("local", {"path": "/etc"}, "path", "WORKSPACE_STORAGE_LOCAL_ROOTS"),
        ("local", {"path": "relative/folder"}, "path", "absolute"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    api: Api, ws: int, kind, config, field, reason
):
    error = api.put(storage(ws, "/draft"), {"kind": kind, "config": config}, expect=422)["error"]
    assert reason in error["fields"][field]
    assert api.get(storage(ws))["draft"] is None


def test_local_folders_only_under_the_operators_roots(api: Api, ws: int, roots: Path):
    inside = roots / "team-a"
    saved = api.put(storage(ws, "/draft"), {"kind": "local", "config": {"path": str(inside)}})
    assert saved["location"] == f"local folder {inside}"
    escape = roots / "team-a" / ".." / ".." / "elsewhere"
    error = api.put(storage(ws, "/draft"), {"kind": "local", "config": {"path": str(escape)}})
    assert "WORKSPACE_STORAGE_LOCAL_ROOTS" in error["error"]["fields"]["path"]
    link = roots / "link"
    link.symlink_to("/")
    error = api.put(storage(ws, "/draft"), {"kind": "local", "config": {"path": str(link)}})
    assert "WORKSPACE_STORAGE_LOCAL_ROOTS" in error["error"]["fields"]["path"]

    # Blobs are shared by hash and purged per workspace: no folder serves two workspaces.
    other = api.post("/workspaces", {"name": "Other"}, expect=201)["id"]
    for taken in (inside, inside / "sub", roots):
        body = {"kind": "local", "config": {"path": str(taken)}}
        error = api.put(storage(other, "/draft"), body, expect=422)["error"]
        assert error["fields"]["path"] == "is, holds or lies inside a folder of another workspace"
    api.put(storage(other, "/draft"), {"kind": "local", "config": {"path": str(roots / "b")}})
    assert api.last.status_code == 200


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("s3", {"bucket": "b", "endpoint_url": "http://127.0.0.1:9000"}, "endpoint_url"),
        ("s3", {"bucket": "b", "endpoint_url": "http://169.254.169.254"}, "endpoint_url"),
        ("s3", {"bucket": "b", "endpoint_url": "http://[::ffff:10.0.0.1]:80"}, "endpoint_url"),
        ("ftp", {"host": "localhost"}, "host"),
    ],
)
def test_internal_hosts_are_refused_unless_the_operator_allows(
    make_user, database_url, tmp_path, kind, config, field
):
    strict = Settings(database_url=database_url, data_dir=tmp_path, migrate_on_start=False)
    runtime = build_runtime(strict)
    token = make_user()[1]
    try:
        with TestClient(create_app(strict, runtime)) as strict_client:
            api = Api(strict_client, token)
            ws = api.post("/workspaces", {"name": "Strict"}, expect=201)["id"]
            body = {"kind": kind, "config": config}
            error = api.put(storage(ws, "/draft"), body, expect=422)["error"]
            assert "WORKSPACE_ALLOW_PRIVATE_HOSTS" in error["fields"][field]
            api.post(storage(ws, "/test"), body, expect=422)
    finally:
        runtime.close()


def test_only_admins_see_or_change_storage(api: Api, ws: int, make_user, as_user):
    member, token = make_user()
    api.post(f"/workspaces/{ws}/members", {"email": member["email"], "role": "member"})
    other = as_user(token)
    other.get(storage(ws), expect=403)
    other.put(storage(ws, "/draft"), {"kind": "local", "config": {}}, expect=403)
    other.post(storage(ws, "/migrations"), expect=403)
    stranger = as_user(make_user()[1])
    stranger.get(storage(ws), expect=404)


def test_retiring_needs_a_read_only_backend(api: Api, ws: int):
    api.put(storage(ws, "/draft"), {"kind": "local", "config": {}}, expect=200)
    draft = api.get(storage(ws))["draft"]
    error = api.post(storage(ws, f"/backends/{draft['id']}/retire"), expect=409)["error"]
    assert "read-only" in error["message"]
    api.post(storage(ws, "/backends/999999/retire"), expect=404)
    api.post(storage(ws, "/migrations/999999/retry"), expect=404)


def test_unusable_settings_make_reads_fail_clearly(api: Api, ws: int, runtime, moto_s3):
    """A backend whose sealed secrets the server key no longer opens is a storage error
    naming the cause, not a crash."""
    api.put(storage(ws, "/draft"), {"kind": "s3", "config": moto_s3.config()}, expect=200)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            m.storage_configs.update()
            .where(m.storage_configs.c.workspace_id == ws)
            .values(role="active", sealed="gAAAA-not-a-token")
        )
    with pytest.raises(StorageError, match="WORKSPACE_SECRET_KEY"):
        file_storage.write_backend(runtime, ws)
    active = api.get(storage(ws), expect=200)["active"]
    assert active["secrets_saved"] == [] and "enter them again" in active["problem"]


# ---- the admin page --------------------------------------------------------------------


@pytest.fixture
def admin_page(client, runtime) -> tuple[Any, int]:
    user = page_user(runtime)
    principal = Principal(user["id"], user["email"])
    ws = workspaces.create(runtime, principal, "Files Inc")["id"]
    log_in(client, user)
    return client, ws


def test_page_saves_tests_and_hides_the_secret(admin_page, moto_s3: MotoS3):
    client, ws = admin_page
    base = f"/w/{ws}/settings/storage"
    page = client.get(base + "?kind=s3")
    assert page.status_code == 200 and "File storage" in page.text
    assert f'href="{base}"' in client.get(f"/w/{ws}").text  # in the workspace navigation
    config = moto_s3.config()
    form = {**config, "kind": "s3", "action": "test", "_csrf_token": csrf(client)}
    tested = client.post(base + "/draft", data=form)
    assert tested.status_code == 200, tested.text
    assert "Test connection to S3 bucket" in tested.text and "worked" in tested.text
    assert config["secret_key"] not in tested.text
    again = client.get(base)
    assert "saved, hidden" in again.text and config["secret_key"] not in again.text
    assert "Migrate to S3 bucket" in again.text


def test_page_shows_errors_next_to_the_field_and_needs_csrf(admin_page):
    client, ws = admin_page
    base = f"/w/{ws}/settings/storage"
    client.get(base)
    form = {"kind": "ftp", "host": "ftp.example.com", "port": "70000", "action": "save"}
    refused = client.post(base + "/draft", data={**form, "_csrf_token": csrf(client)})
    assert refused.status_code == 422
    assert 'id="port-error"' in refused.text and "whole number" in refused.text
    forged = client.post(base + "/draft", data=form)
    assert forged.status_code == 403


def test_page_reads_the_ftps_checkbox_and_names_a_bad_certificate(admin_page, pyftpd: PyFtpd):
    client, ws = admin_page
    base = f"/w/{ws}/settings/storage"
    client.get(base + "?kind=ftp")
    config = {key: str(value) for key, value in pyftpd.config().items()}
    form = {**config, "kind": "ftp", "action": "save", "_csrf_token": csrf(client)}
    refused = client.post(base + "/draft", data={**form, "tls": "on", "ca_cert": "not a PEM"})
    assert refused.status_code == 422
    assert 'id="ca_cert-error"' in refused.text and "must be a PEM certificate" in refused.text
    assert 'name="tls" value="on" checked' in refused.text  # what was typed stays
    saved = client.post(base + "/draft", data=form)  # the box left unticked: plain FTP
    assert saved.status_code == 200 and "Saved. Test the connection" in saved.text
    assert 'name="tls" value="on" checked' not in saved.text


def test_no_admin_reaches_another_workspaces_own_folder(database_url, tmp_path, make_user):
    """Even with the whole data folder opened to admins, the workspaces' own folders under
    <data_dir>/files stay each workspace's own."""
    opened = Settings(
        database_url=database_url, data_dir=tmp_path, storage_local_roots=str(tmp_path)
    )
    runtime = build_runtime(opened)
    try:
        user = make_user()[0]
        principal = Principal(user["id"], user["email"])
        first, second = (workspaces.create(runtime, principal, n)["id"] for n in ("A", "B"))
        acc = workspaces.access(runtime, principal, second)
        files = tmp_path / "files"
        for taken in (files / str(first), files, tmp_path):
            with pytest.raises(ValidationFailed) as refused:
                configs.save_draft(runtime, acc, "local", {"path": str(taken)})
            assert refused.value.fields == {
                "path": "is, holds or lies inside a folder of another workspace"
            }
        mine = files / str(second) / "archive"
        saved = configs.save_draft(runtime, acc, "local", {"path": str(mine)})
        assert saved["location"] == f"local folder {mine}"
    finally:
        runtime.close()
