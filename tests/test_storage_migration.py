"""Moving a workspace's files between backends: local -> S3 (moto) -> FTP (pyftpdlib), a
copier killed with SIGKILL half way and resumed, uploads during a migration, a damaged blob
that stops the migration without switching, read fallback and retiring."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from storage_backends import StorageBackend, one_chunk
from tests.helpers import Api
from tests.storage_files import (
    PAYLOADS,
    add_file,
    all_verified,
    insert_row,
    payload,
)
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.settings import Settings
from workspace.storage import backends as file_storage
from workspace.storage import copier as storage_copier
from workspace.storage import migration as storage_migration
from workspace.storage.blobs import blob_name, run_async


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The test servers listen on loopback, which only an operator can open to admins.
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        migrate_on_start=False,
        db_timeout=5,
        allow_private_hosts=True,
    )


# ---- helpers ---------------------------------------------------------------------------


def save_draft(api: Api, ws: int, kind: str, config: dict[str, Any]) -> dict[str, Any]:
    return api.post(f"/workspaces/{ws}/storage/test", {"kind": kind, "config": config}, expect=200)


def wait_until_finished(api: Api, ws: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        migration = api.get(f"/workspaces/{ws}/storage")["migration"]
        if migration["state"] != "running":
            return dict(migration)
        time.sleep(0.1)
    raise AssertionError(f"migration still running after {timeout} s: {migration}")


def cli(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WORKSPACE_DATABASE_URL": settings.database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_SECRET_KEY": settings.resolved_secret_key(),
        "WORKSPACE_ALLOW_PRIVATE_HOSTS": "true",
    }
    command = [sys.executable, "-m", "workspace", "storage", "migrate", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def progress_of(runtime: Runtime, ws: int) -> Any:
    with transaction(runtime.control) as conn:
        query = select(m.storage_migrations).where(m.storage_migrations.c.workspace_id == ws)
        return conn.execute(query.order_by(m.storage_migrations.c.id.desc())).first()


# ---- the chain -------------------------------------------------------------------------


def test_local_to_s3_killed_and_resumed_then_to_ftp(
    api: Api, ws: int, owner, runtime: Runtime, settings: Settings, moto_s3, pyftpd
):
    # 60 files on the workspace's own folder, one soft-deleted (still restorable: moved too)
    # and one stored twice (one blob).
    hashes = [add_file(runtime, ws, payload(i)) for i in range(60)]
    hashes.append(add_file(runtime, ws, payload(60), deleted=True))
    insert_row(runtime, ws, hashes[0], 20_000)
    local = file_storage.write_backend(runtime, ws)

    s3_config = moto_s3.config()
    save_draft(api, ws, "s3", s3_config)
    copier = cli(settings, str(ws), "--as", owner[0]["email"])
    # Kill -9 the copier once some files are copied, well before the end.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = progress_of(runtime, ws)
        if row is not None and row.done_objects >= 5:
            os.kill(copier.pid, signal.SIGKILL)
            break
        assert copier.poll() is None, copier.stdout.read() if copier.stdout else ""
        time.sleep(0.005)
    copier.communicate()
    killed = progress_of(runtime, ws)
    assert killed.state == "running" and 5 <= killed.done_objects < 61, killed
    assert killed.total_objects == 61 and killed.total_bytes == 61 * 20_000
    # Not switched: the workspace still reads its folder, and new files go to S3 already.
    overview = api.get(f"/workspaces/{ws}/storage")
    assert overview["active"]["kind"] == "local" and overview["target"]["kind"] == "s3"
    during = add_file(runtime, ws, payload(99))
    hashes.append(during)

    resumed = cli(settings, "--resume")
    output = resumed.communicate(timeout=120)[0].decode()
    assert resumed.returncode == 0, output
    assert f"migration {killed.id} of workspace {ws}: done, 62 of 62 files" in output

    s3 = file_storage.write_backend(runtime, ws)
    assert s3.location.startswith("S3 bucket 'workspace-files'")
    all_verified(s3, hashes)
    overview = api.get(f"/workspaces/{ws}/storage")
    assert overview["active"]["kind"] == "s3" and overview["target"] is None
    assert [r["kind"] for r in overview["readonly"]] == ["local"]
    assert overview["migration"]["done_bytes"] == overview["migration"]["total_bytes"]
    # The old folder is untouched and read-only: nothing new is written there.
    assert during not in [name.rsplit("/", 1)[-1] for name in _names(local)]
    assert [b.location for b in file_storage.read_backends(runtime, ws)] == [
        s3.location,
        local.location,
    ]

    # S3 -> FTP, in the server this time, watched through the API.
    save_draft(api, ws, "ftp", pyftpd.config())
    started = api.post(f"/workspaces/{ws}/storage/migrations", expect=201)
    assert started["state"] == "running"
    finished = wait_until_finished(api, ws)
    assert finished["state"] == "done", finished
    assert finished["done_objects"] == finished["total_objects"] == 62
    ftp = file_storage.write_backend(runtime, ws)
    assert ftp.location.startswith("FTP server ftp://")
    all_verified(ftp, hashes)
    kinds = [b.location.split()[0] for b in file_storage.read_backends(runtime, ws)]
    assert kinds == ["FTP", "S3", "local"]

    feed = api.get(f"/workspaces/{ws}/activity")["items"]
    told = [e["changes"][0]["field"] for e in feed if e["action"] == "storage"]
    assert told.count("storage: switched") == 2 and "storage: migration started" in told


def _names(backend: StorageBackend) -> list[str]:
    async def listing() -> list[str]:
        async with aclosing(backend.list()) as names:
            return [name async for name in names]

    return run_async(listing)


# ---- damage, uploads meanwhile, resume on start, fallback, retire ----------------------


def test_a_damaged_blob_stops_the_migration_and_nothing_switches(
    api: Api, ws: int, runtime: Runtime, settings: Settings, moto_s3, access: Access
):
    hashes = [add_file(runtime, ws, payload(i, 5_000)) for i in range(6)]
    damaged = sorted(hashes)[3]
    path = settings.data_dir / "files" / str(ws) / blob_name(damaged)
    path.write_bytes(b"bit rot" + path.read_bytes()[7:])
    save_draft(api, ws, "s3", moto_s3.config())

    claim = storage_migration.begin(runtime, access)
    assert storage_copier.run(runtime, claim) == "failed"
    got = api.get(f"/workspaces/{ws}/storage")
    migration = got["migration"]
    assert migration["state"] == "failed" and migration["done_objects"] == 3
    assert f"file {damaged} is damaged: on local folder" in migration["error"]
    assert "Nothing was switched" in migration["error"]
    assert api.get(f"/workspaces/{ws}/storage/migrations/{migration['id']}") == migration
    assert got["active"]["kind"] == "local"  # not switched
    s3 = file_storage.write_backend(runtime, ws)
    assert not run_async(s3.exists, blob_name(damaged))  # the bad copy was removed
    # Another migration cannot start over it; once the file is restored, retry finishes.
    api.post(f"/workspaces/{ws}/storage/migrations", expect=409)
    path.write_bytes(PAYLOADS[damaged])
    api.post(f"/workspaces/{ws}/storage/migrations/{migration['id']}/retry", expect=200)
    assert wait_until_finished(api, ws)["state"] == "done"
    all_verified(file_storage.write_backend(runtime, ws), hashes)


def test_files_arriving_during_a_migration_are_not_lost(
    api: Api, ws: int, runtime: Runtime, moto_s3, access: Access
):
    before = [add_file(runtime, ws, payload(i, 3_000)) for i in range(4)]
    old = file_storage.write_backend(runtime, ws)
    save_draft(api, ws, "s3", moto_s3.config())
    claim = storage_migration.begin(runtime, access)
    # An upload that started before the migration lands its blob on the old backend after
    # the list was made; one that starts now goes to the new backend directly.
    late = payload(50, 3_000)
    late_sha = hashlib.sha256(late).hexdigest()
    run_async(old.put, blob_name(late_sha), one_chunk(late))
    insert_row(runtime, ws, late_sha, len(late))
    new_sha = add_file(runtime, ws, payload(51, 3_000))
    s3 = file_storage.write_backend(runtime, ws)
    assert s3.location.startswith("S3") and run_async(s3.exists, blob_name(new_sha))
    assert [b.location for b in file_storage.read_backends(runtime, ws)][1] == old.location

    assert storage_copier.run(runtime, claim) == "done"
    all_verified(s3, [*before, late_sha, new_sha])
    assert progress_of(runtime, ws).total_objects == 6


def test_a_migration_left_by_a_dead_process_resumes_on_server_start(
    api: Api, ws: int, runtime: Runtime, settings: Settings, moto_s3, access: Access
):
    from litestar.testing import TestClient

    from workspace.app import create_app

    hashes = [add_file(runtime, ws, payload(i, 2_000)) for i in range(5)]
    save_draft(api, ws, "s3", moto_s3.config())
    claim = storage_migration.begin(runtime, access)  # ...and the process dies here
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(m.storage_migrations)
            .where(m.storage_migrations.c.id == claim.id)
            .values(lease_until=utcnow() - dt.timedelta(seconds=1))
        )
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 30
        while progress_of(runtime, ws).state == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert progress_of(runtime, ws).state == "done"
    all_verified(file_storage.write_backend(runtime, ws), hashes)
    # The dead process's lease token no longer counts.
    assert storage_copier.run(runtime, claim) == "lost"


def test_reads_fall_back_to_the_old_backend_until_it_is_retired(
    api: Api, ws: int, runtime: Runtime, moto_s3, access: Access
):
    hashes = [add_file(runtime, ws, payload(i, 1_000)) for i in range(3)]
    save_draft(api, ws, "s3", moto_s3.config())
    claim = storage_migration.begin(runtime, access)
    assert storage_copier.run(runtime, claim) == "done"
    # A blob only the old folder has (say, restored there by hand) is still found.
    old = file_storage.read_backends(runtime, ws)[1]
    only_old = payload(9, 1_000)
    only_old_sha = hashlib.sha256(only_old).hexdigest()
    run_async(old.put, blob_name(only_old_sha), one_chunk(only_old))
    found = [
        b
        for b in file_storage.read_backends(runtime, ws)
        if run_async(b.exists, blob_name(only_old_sha))
    ]
    assert [b.location for b in found] == [old.location]

    readonly = api.get(f"/workspaces/{ws}/storage")["readonly"][0]
    api.post(f"/workspaces/{ws}/storage/backends/{readonly['id']}/retire", expect=200)
    assert [b.location for b in file_storage.read_backends(runtime, ws)] == [
        file_storage.write_backend(runtime, ws).location
    ]
    # Retired means no longer used, not deleted: the customer's objects stay.
    all_verified(old, hashes)


def test_giving_up_a_failed_migration_keeps_files_uploaded_meanwhile(
    api: Api, ws: int, runtime: Runtime, settings: Settings, moto_s3, access: Access
):
    hashes = [add_file(runtime, ws, payload(i, 2_000)) for i in range(3)]
    path = settings.data_dir / "files" / str(ws) / blob_name(hashes[0])
    path.write_bytes(b"damaged")
    save_draft(api, ws, "s3", moto_s3.config())
    claim = storage_migration.begin(runtime, access)
    meanwhile = add_file(runtime, ws, payload(7, 2_000))  # goes to S3 already
    assert storage_copier.run(runtime, claim) == "failed"

    given_up = api.post(f"/workspaces/{ws}/storage/migrations/{claim.id}/abandon")
    assert given_up["state"] == "abandoned"
    api.post(f"/workspaces/{ws}/storage/migrations/{claim.id}/retry", expect=409)
    overview = api.get(f"/workspaces/{ws}/storage")
    assert overview["active"]["kind"] == "local" and overview["target"] is None
    assert [r["kind"] for r in overview["readonly"]] == ["s3"]
    local, s3 = file_storage.read_backends(runtime, ws)
    assert file_storage.write_backend(runtime, ws).location == local.location
    all_verified(s3, [meanwhile])  # still readable, through the read-only fallback
    feed = api.get(f"/workspaces/{ws}/activity")["items"]
    assert feed[0]["changes"][0]["field"] == "storage: migration abandoned"


def test_a_migration_to_the_backend_in_use_is_refused(api: Api, ws: int):
    api.put(f"/workspaces/{ws}/storage/draft", {"kind": "local", "config": {}}, expect=200)
    error = api.post(f"/workspaces/{ws}/storage/migrations", expect=409)["error"]
    assert "already keeps its files in local folder" in error["message"]
    assert api.get(f"/workspaces/{ws}/storage")["migration"] is None
