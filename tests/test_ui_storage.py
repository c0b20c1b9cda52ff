"""In the browser: an admin moves a workspace's files to S3 (moto on loopback). A wrong
secret is reported by test connection with the failing step; the right one works and is
then shown only as "saved, hidden"; the migration's progress finishes and S3 is active."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import LiveServer, log_in, screenshot, serving
from tests.storage_files import add_file, all_verified, payload
from workspace.access import workspaces
from workspace.principal import Principal
from workspace.settings import Settings
from workspace.storage import backends


@pytest.fixture(scope="module")
def storage_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server whose operator lets admins use hosts on loopback (the moto server)."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("live-storage"),
        migrate_on_start=False,
        allow_private_hosts=True,
    )
    with serving(settings) as server:
        yield server


def test_admin_moves_the_files_to_s3(page: Any, storage_server, moto_s3, request):
    runtime = storage_server.runtime
    me = storage_server.user("Sam Storage")
    ws = workspaces.create(runtime, Principal(me["id"], me["email"]), "Archive")["id"]
    hashes = [add_file(runtime, ws, payload(i, 50_000)) for i in range(40)]

    log_in(page, storage_server, me["email"])
    page.goto(f"{storage_server.url}/w/{ws}")
    page.get_by_role("link", name="File storage").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/settings/storage$"))
    assert page.get_by_test_id("storage-active").inner_text().startswith("local folder ")

    page.get_by_role("link", name="S3").click()
    config = moto_s3.config()
    page.get_by_label("Endpoint URL").fill(config["endpoint_url"])
    page.get_by_label("Bucket").fill(config["bucket"])
    page.get_by_label("Prefix").fill(config["prefix"])
    page.get_by_label("Access key ID").fill(config["access_key"])
    page.get_by_label("Secret access key").fill("a-wrong-secret")
    page.get_by_role("button", name="Test connection").click()
    failed = page.get_by_test_id("storage-error")
    assert "failed writing a probe object" in failed.inner_text()
    assert page.get_by_test_id("storage-draft").count() == 0  # nothing was stored
    screenshot(page, request, "test-connection-failed")

    page.get_by_label("Secret access key").fill(config["secret_key"])
    page.get_by_role("button", name="Test connection").click()
    assert page.get_by_role("status").filter(has_text="worked").is_visible()
    assert page.get_by_test_id("secret-saved-secret_key").inner_text().endswith("saved, hidden")
    assert page.get_by_label("Secret access key").input_value() == ""
    assert config["secret_key"] not in page.content()
    screenshot(page, request, "tested")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Migrate to S3 bucket")).click()
    progress = page.get_by_test_id("storage-progress")
    progress.get_by_text("Migration finished").wait_for(timeout=60_000)
    assert "all 40 files (2.0 MB) copied, verified and switched over" in progress.inner_text()
    page.reload()
    assert page.get_by_test_id("storage-active").inner_text().startswith("S3 bucket")
    assert "read-only" in page.get_by_text("Read-only").first.inner_text().lower()
    screenshot(page, request, "migrated")
    all_verified(backends.write_backend(runtime, ws), hashes)

    page.get_by_role("link", name="FTP").click()
    assert not page.get_by_label("Use TLS (FTPS)").is_checked()
    screenshot(page, request, "ftp-form")
