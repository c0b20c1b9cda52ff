"""A workspace's files moved onto Debian's vsftpd and off it again, the second time by a
copier killed with SIGKILL half way and resumed (the helpers are test_storage_migration's)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import test_storage_migration as migrations
from tests.helpers import Api
from tests.storage_files import add_file, all_verified, payload
from tests.storage_servers import Vsftpd
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.settings import Settings
from workspace.storage import backends as file_storage
from workspace.storage import copier as storage_copier
from workspace.storage import migration as storage_migration


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # vsftpd listens on loopback, which only an operator can open to admins; the folder the
    # files come back to is one the operator allows.
    (tmp_path / "roots").mkdir()
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        migrate_on_start=False,
        db_timeout=5,
        allow_private_hosts=True,
        storage_local_roots=str(tmp_path / "roots"),
    )


def kill_once_copied(
    runtime: Runtime, ws: int, copier: subprocess.Popen[bytes], done: int, after: int
) -> Any:
    """SIGKILL the copier as soon as its migration (the first with an id past ``after``) has
    copied ``done`` files; its progress row then."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = migrations.progress_of(runtime, ws)
        if row is not None and row.id > after and row.done_objects >= done:
            os.kill(copier.pid, signal.SIGKILL)
            break
        assert copier.poll() is None, copier.stdout.read() if copier.stdout else ""
        time.sleep(0.005)
    copier.communicate()
    return migrations.progress_of(runtime, ws)


def test_files_move_to_vsftpd_and_back_through_a_killed_and_resumed_copier(
    api: Api,
    ws: int,
    owner: Any,
    runtime: Runtime,
    settings: Settings,
    access: Access,
    vsftpd: Vsftpd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashes = [add_file(runtime, ws, payload(i)) for i in range(60)]
    migrations.save_draft(api, ws, "ftp", vsftpd.config())
    logins = vsftpd.logins()
    assert storage_copier.run(runtime, storage_migration.begin(runtime, access)) == "done"
    ftp = file_storage.write_backend(runtime, ws)
    assert ftp.location.startswith("FTP server ftp://wsftp-test@127.0.0.1:")
    all_verified(ftp, hashes)
    # 60 files written, read back and verified over a handful of logins, not 120 and more.
    assert vsftpd.logins() - logins < 10

    # Back to a local folder, by the command line copier: killed, then resumed.
    folder = settings.storage_local_roots + "/back"
    migrations.save_draft(api, ws, "local", {"path": folder})
    monkeypatch.setenv("WORKSPACE_STORAGE_LOCAL_ROOTS", settings.storage_local_roots)
    first = migrations.progress_of(runtime, ws).id
    copier = migrations.cli(settings, str(ws), "--as", owner[0]["email"])
    killed = kill_once_copied(runtime, ws, copier, 5, after=first)
    assert killed.state == "running" and 5 <= killed.done_objects < 60, killed

    resumed = migrations.cli(settings, "--resume")
    output = resumed.communicate(timeout=120)[0].decode()
    assert resumed.returncode == 0, output
    assert f"migration {killed.id} of workspace {ws}: done, 60 of 60 files" in output
    local = file_storage.write_backend(runtime, ws)
    assert local.location == f"local folder {folder}"
    all_verified(local, hashes)
    overview = api.get(f"/workspaces/{ws}/storage")
    assert overview["active"]["kind"] == "local"
    assert [r["kind"] for r in overview["readonly"]] == ["ftp", "local"]
