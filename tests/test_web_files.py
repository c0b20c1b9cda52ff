"""The files section of the record page without a browser: a plain multipart form with the
CSRF token, names rendered inert, uploads served so they cannot run in the app's origin."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.test_files import PNG
from tests.web import csrf, log_in, page_user
from workspace.access import workspaces
from workspace.app import create_app
from workspace.files import files
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types

# No "/" in it: everything up to the last slash is taken for a folder and dropped.
SCRIPT_NAME = '<script>alert("x")<img src=x onerror=alert(1)>.html'


class Shop:
    """An owner (signed in on ``client``) with one Customer record."""

    def __init__(self, client: TestClient[Any], runtime: Any) -> None:
        self.client, self.runtime = client, runtime
        self.owner = page_user(runtime, "Olivia Owner")
        principal = Principal(self.owner["id"], self.owner["email"])
        self.ws = workspaces.create(runtime, principal, "Shop")["id"]
        self.acc = workspaces.access(runtime, principal, self.ws)
        spec = {"name": "Customer", "fields": [{"name": "Name", "type": "text"}]}
        self.type_id = record_types.create_type(runtime, self.acc, spec)["id"]
        self.rt = open_type(runtime, principal, self.ws, self.type_id)[1]
        self.record = records.create(runtime, self.acc, self.rt, {"name": "Ada"})["id"]
        self.page = f"/w/{self.ws}/t/{self.type_id}/r/{self.record}"
        log_in(client, self.owner)

    def upload(self, *parts: tuple[str, bytes], token: str | None = None) -> Any:
        return self.client.post(
            self.page + "/files",
            data={"_csrf_token": csrf(self.client) if token is None else token},
            files=[("files", (name, data, "image/png")) for name, data in parts],
            follow_redirects=False,
        )

    def stored(self) -> list[dict[str, Any]]:
        return files.list_files(self.runtime, self.acc, self.rt, self.record)


@pytest.fixture
def shop(client: TestClient[Any], runtime: Any) -> Shop:
    return Shop(client, runtime)


def test_upload_through_the_plain_form_and_see_the_files(shop):
    response = shop.upload(("pixel.png", PNG), ("notes.txt", b"hello"))
    assert response.status_code == 303
    assert response.headers["location"] == shop.page + "#files"
    page = shop.client.get(shop.page).text
    (png, txt) = shop.stored()
    assert f'<img src="/w/{shop.ws}/files/{png["id"]}"' in page  # a preview for images
    assert f'href="/w/{shop.ws}/files/{txt["id"]}" download="notes.txt">notes.txt</a>' in page
    assert "<img" not in page.split("notes.txt")[0].rsplit("<li", 1)[1]  # no preview for text
    assert 'enctype="multipart/form-data"' in page and 'name="files" multiple' in page


def test_uploads_need_the_csrf_token(shop):
    assert shop.upload(("a.txt", b"x"), token="forged").status_code == 403
    response = shop.client.post(
        shop.page + "/files", files=[("files", ("a.txt", b"x", "text/plain"))]
    )
    assert response.status_code == 403
    assert shop.stored() == []


def test_a_script_in_a_file_name_renders_inert(shop):
    assert shop.upload((SCRIPT_NAME, b"<script>alert(1)</script>")).status_code == 303
    page = shop.client.get(shop.page).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;img src=x onerror=alert(1)&gt;.html" in page


def test_an_html_upload_is_served_as_an_attachment_that_cannot_run(shop):
    shop.upload(("page.html", b"<html><script>alert(document.cookie)</script></html>"))
    (f,) = shop.stored()
    got = shop.client.get(f"/w/{shop.ws}/files/{f['id']}")
    assert got.status_code == 200
    assert got.content == b"<html><script>alert(document.cookie)</script></html>"
    assert got.headers["content-disposition"].startswith('attachment; filename="page.html"')
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in got.headers["content-security-policy"]
    assert "sandbox" in got.headers["content-security-policy"]


def test_non_ascii_names_download_under_their_name(shop):
    shop.upload(("Überweisung März 😀.pdf", b"%PDF-1.4 not really"))
    (f,) = shop.stored()
    got = shop.client.get(f"/w/{shop.ws}/files/{f['id']}")
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == (
        'attachment; filename="_berweisung M_rz _.pdf"; '
        "filename*=UTF-8''%C3%9Cberweisung%20M%C3%A4rz%20%F0%9F%98%80.pdf"
    )


def test_delete_and_restore_from_the_page(shop):
    shop.upload(("a.txt", b"x"))
    (f,) = shop.stored()
    token = {"_csrf_token": csrf(shop.client)}
    url = f"/w/{shop.ws}/files/{f['id']}"
    response = shop.client.post(url + "/delete", data=token, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, shop.page + "#files")
    page = shop.client.get(shop.page).text
    assert shop.stored() == []
    assert "Recently deleted (1)" in page and 'aria-label="Restore a.txt"' in page
    shop.client.post(url + "/restore", data=token, follow_redirects=False)
    assert [x["id"] for x in shop.stored()] == [f["id"]]


def test_a_refused_upload_shows_the_record_page_with_the_reason(settings):
    small = dataclasses.replace(settings, max_file_bytes=100)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        shop = Shop(client, client.app.state.runtime)
        response = shop.upload(("ok.txt", b"x"), ("huge.bin", b"x" * 101))
        assert response.status_code == 413
        assert re.search(
            r'role="alert">[^<]*huge\.bin: larger than the limit of 100 bytes', response.text
        )
        assert shop.stored() == []


def test_viewers_download_but_see_no_upload_form_and_strangers_get_404(shop, client, runtime):
    shop.upload(("a.txt", b"x"))
    (f,) = shop.stored()
    viewer = page_user(runtime, "Vic Viewer")
    workspaces.add_member(runtime, shop.acc, viewer["email"], "viewer")
    log_in(client, viewer)
    page = client.get(shop.page).text
    assert "a.txt" in page and 'name="files"' not in page and "Delete" not in page
    assert client.get(f"/w/{shop.ws}/files/{f['id']}").content == b"x"
    log_in(client, page_user(runtime, "Stranger"))
    assert client.get(f"/w/{shop.ws}/files/{f['id']}").status_code == 404
