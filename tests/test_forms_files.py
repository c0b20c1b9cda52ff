"""File fields on public forms: files sent with the public page (multipart, no JavaScript)
are kept as facts with the submission and attached to the record the submission wrote, as
the form; never on a refused, invalid, spam or replayed post. Limits per field (how many,
which kind by the bytes) and per post (413), the duplicate policies, and the builder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from tests.test_files import PNG, use_backend
from tests.test_forms import open_page, stored
from tests.web import csrf, sign_in
from workspace.errors import ValidationFailed
from workspace.forms import forms
from workspace.forms.intake import HONEYPOT

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
#: Small, so the size limits are cheap to reach.
MAX_FILE = 20_000
MAX_BODY = 200_000


@pytest.fixture
def settings(settings: Any) -> Any:
    return dataclasses.replace(settings, max_file_bytes=MAX_FILE, max_body_bytes=MAX_BODY)


@pytest.fixture
def desk(api: Api, ws: int, runtime: Any, access: Any) -> dict[str, Any]:
    """A Request type (email rule that only warns) with a record on file, and a form asking
    for a name, an email, up to three documents and one photo."""
    rt, made = make_type(
        api,
        ws,
        "Request",
        field("Name", "text"),
        field("Email", "email"),
        field("Documents", "file"),
        field("Photo", "file"),
        rows=[{"name": "Ada Lovelace", "email": "ada@example.org"}],
    )
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"},
        expect=201,
    )
    form = forms.create_form(runtime, access, rt["id"], "Send us your papers")
    fields = [
        {"key": "name", "label": "Your name"},
        {"key": "email", "label": "Email", "required": True},
        {"key": "documents", "label": "Papers", "max_files": 3, "kinds": "documents"},
        {"key": "photo", "label": "Photo", "kinds": "images"},
    ]
    form = configure(runtime, access, form, fields=fields)
    return {"rt": rt, "ws": ws, "path": records_path(ws, rt), "ada": made[0], "form": form}


def configure(runtime: Any, access: Any, form: dict[str, Any], **config: Any) -> dict[str, Any]:
    merged = {**forms.get_form(runtime, access, form["id"])["config"], **config}
    return forms.update_form(runtime, access, form["id"], {"config": merged})


def post(
    client: Any,
    form: dict[str, Any],
    values: dict[str, Any],
    files: list[tuple[str, tuple[str, bytes, str]]],
    token: str | None = None,
) -> Any:
    """A post as a browser sends a form with file inputs: multipart, the types it guessed."""
    token = token or open_page(client, form["path"])
    data = {"_csrf_token": csrf(client), "_form_token": token, **values}
    return client.post(form["path"], data=data, files=files, follow_redirects=False)


def requests(api: Api, desk: dict[str, Any]) -> list[dict[str, Any]]:
    return api.get(desk["path"], limit=200, sort="id")["items"]


def record_files(api: Api, desk: dict[str, Any], record_id: int) -> list[dict[str, Any]]:
    return api.get(f"{desk['path']}/{record_id}/files")["items"]


def field_id(desk: dict[str, Any], key: str) -> int:
    return next(f["id"] for f in desk["rt"]["fields"] if f["key"] == key)


# ---- sending files -----------------------------------------------------------------------


def test_files_are_attached_as_the_form_and_the_submission_keeps_only_their_facts(
    client, api, runtime, access, desk
):
    page = client.get(desk["form"]["path"]).text
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input id="f-documents" name="documents" type="file" multiple', page)
    assert re.search(r'<input id="f-photo" name="photo" type="file" accept="image/\*"', page)
    assert "Up to 3 files: each a PDF, an office document or a text file." in page
    assert "One file: a photo or picture (JPEG, PNG, GIF, WebP or HEIC)." in page
    files = [
        ("documents", ("contract.pdf", PDF, "application/pdf")),
        ("documents", ("notes.txt", b"call back on Monday\n", "text/plain")),
        ("photo", ("me.png", PNG, "image/png")),
    ]
    response = post(client, desk["form"], {"name": "Bo", "email": "bo@example.org"}, files)
    assert response.status_code == 200, response.text
    assert "Thank you" in response.text

    bo = requests(api, desk)[-1]
    attached = record_files(api, desk, bo["id"])
    assert [(f["name"], f["content_type"]) for f in attached] == [
        ("contract.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("me.png", "image/png"),
    ]
    assert [f["field"] for f in attached] == [field_id(desk, "documents")] * 2 + [
        field_id(desk, "photo")
    ]
    content = api.client.get(
        f"/api/v1/workspaces/{desk['ws']}/files/{attached[0]['id']}/content",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert content.content == PDF
    assert [f["name"] for f in bo["fields"]["documents"]] == ["contract.pdf", "notes.txt"]

    [sub] = stored(runtime, access, desk["form"])
    assert (sub["outcome"], sub["record"]) == ("created", bo["id"])
    assert sub["payload"]["documents"][0] == {
        "name": "contract.pdf",
        "size": len(PDF),
        "content_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    assert sub["payload"]["photo"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    kept = json.dumps(sub["payload"])
    assert "call back on Monday" not in kept and "Catalog" not in kept

    history = api.get(f"{desk['path']}/{bo['id']}/activity")["items"]
    added = [h for h in history if h["action"] == "file_added"]
    assert len(added) == 3
    assert {(h["source"], h["source_ref"]) for h in added} == {
        ("form", f"form:{desk['form']['id']}")
    }

    user = sign_in(client, runtime)
    api.post(f"/workspaces/{desk['ws']}/members", {"email": user["email"]}, expect=201)
    listed = client.get(f"/w/{desk['ws']}/forms/{desk['form']['id']}/submissions").text
    assert f"contract.pdf ({len(PDF)} B), notes.txt (20 B)" in listed


def test_a_form_without_files_still_takes_a_plain_post(client, api, runtime, access, desk):
    token = open_page(client, desk["form"]["path"])
    data = {"_csrf_token": csrf(client), "_form_token": token, "email": "cy@example.org"}
    response = client.post(desk["form"]["path"], data=data)
    assert response.status_code == 200 and "Thank you" in response.text
    cy = requests(api, desk)[-1]
    assert cy["fields"]["email"] == "cy@example.org" and record_files(api, desk, cy["id"]) == []


def test_a_required_file_missing_writes_nothing_and_says_choose_again(
    client, api, runtime, access, desk
):
    fields = forms.get_form(runtime, access, desk["form"]["id"])["config"]["fields"]
    for f in fields:
        f["required"] = f["required"] or f["key"] == "documents"
    configure(runtime, access, desk["form"], fields=fields)
    files = [("photo", ("me.png", PNG, "image/png"))]
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    assert response.status_code == 422
    assert "Please choose a file." in response.text
    assert "You chose me.png: please choose it again." in response.text
    assert len(requests(api, desk)) == 1  # Ada only
    [sub] = stored(runtime, access, desk["form"])
    assert sub["outcome"] == "rejected" and "Papers" in sub["reason"]
    assert sub["payload"]["photo"][0]["name"] == "me.png"


def test_a_file_of_the_wrong_kind_is_refused_by_its_bytes(client, api, runtime, access, desk):
    """A program named like a PDF, declared as a PDF by the browser, is still a program."""
    files = [("documents", ("invoice.pdf", EXE, "application/pdf"))]
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    assert response.status_code == 422
    assert "invoice.pdf is not a document. Please choose a PDF" in response.text
    assert len(requests(api, desk)) == 1
    [sub] = stored(runtime, access, desk["form"])
    assert sub["payload"]["documents"][0]["content_type"] == "application/x-msdownload"

    files = [("photo", ("me.png", PDF, "image/png"))]
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    assert response.status_code == 422 and "me.png is not an image." in response.text


def test_too_many_files_for_a_field_are_refused(client, api, desk):
    files = [("photo", (f"me{i}.png", PNG, "image/png")) for i in range(2)]
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    assert response.status_code == 422 and "Photo: please choose one file." in response.text
    assert len(requests(api, desk)) == 1


def test_a_file_over_the_limit_gets_413_and_nothing_is_attached(client, api, runtime, access, desk):
    big = PDF + b"x" * MAX_FILE
    files = [("documents", ("huge.pdf", big, "application/pdf"))]
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    assert response.status_code == 413
    assert "huge.pdf is larger than 20 KB. Please choose a smaller file." in response.text
    assert len(requests(api, desk)) == 1
    [sub] = stored(runtime, access, desk["form"])
    assert sub["outcome"] == "rejected" and "too large" in sub["reason"]


def test_a_post_larger_than_the_form_takes_is_refused_unread(client, api, runtime, access, desk):
    """Four files of the limit in all (three documents and a photo) plus the envelope: a
    body beyond that is refused before it is read, and the refusal is kept."""
    files = [("documents", ("a.pdf", PDF + b"x" * 2_000_000, "application/pdf"))]
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    assert response.status_code == 413
    assert "That is too much for this form" in response.text
    assert "Please choose smaller or fewer files." in response.text
    assert len(requests(api, desk)) == 1
    [sub] = stored(runtime, access, desk["form"])
    assert sub["outcome"] == "rejected" and "too large" in sub["reason"]
    assert sub["payload"] == {}


def test_a_body_without_a_length_is_cut_off_at_the_limit(client, api, runtime, access, desk):
    """A client may stream a body without declaring its length: it is counted as it comes."""
    token = open_page(client, desk["form"]["path"])
    boundary = "b0undary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="_csrf_token"\r\n\r\n'
        f"{csrf(client)}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="_form_token"\r\n\r\n'
        f"{token}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="documents"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()

    def body() -> Any:
        yield head + PDF
        for _ in range(40):
            yield b"x" * 64_000

    response = client.post(
        desk["form"]["path"],
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert "Please choose smaller or fewer files." in response.text
    assert len(requests(api, desk)) == 1
    [sub] = stored(runtime, access, desk["form"])
    assert sub["outcome"] == "rejected" and "too large" in sub["reason"]


def test_a_form_without_file_fields_keeps_the_body_limit(client, api, runtime, access, desk):
    configure(runtime, access, desk["form"], fields=[{"key": "email", "label": "Email"}])
    page = client.get(desk["form"]["path"]).text
    assert "multipart" not in page and 'type="file"' not in page
    token = open_page(client, desk["form"]["path"])
    data = {"_csrf_token": csrf(client), "_form_token": token, "email": "x" * MAX_BODY}
    response = client.post(desk["form"]["path"], data=data)
    assert response.status_code == 413
    assert "That is more than this form can take. Please shorten your answers." in response.text
    [sub] = stored(runtime, access, desk["form"])
    assert sub["outcome"] == "rejected" and f"the {MAX_BODY} bytes" in sub["reason"]


def test_spam_and_replays_never_attach_files(client, api, runtime, access, desk):
    files = [("documents", ("contract.pdf", PDF, "application/pdf"))]
    spam = post(client, desk["form"], {"email": "bot@example.org", HONEYPOT: "http://x"}, files)
    assert spam.status_code == 200 and "Thank you" in spam.text
    assert len(requests(api, desk)) == 1

    token = open_page(client, desk["form"]["path"])
    first = post(client, desk["form"], {"email": "bo@example.org"}, files, token=token)
    again = post(client, desk["form"], {"email": "bo@example.org"}, files, token=token)
    assert first.status_code == again.status_code == 200
    bo = requests(api, desk)[-1]
    assert [f["name"] for f in record_files(api, desk, bo["id"])] == ["contract.pdf"]
    assert [s["outcome"] for s in stored(runtime, access, desk["form"])] == [
        "spam",
        "created",
        "replay",
    ]


def test_update_policy_attaches_to_the_record_on_file_except_protected_fields(
    client, api, runtime, access, desk
):
    fields = forms.get_form(runtime, access, desk["form"]["id"])["config"]["fields"]
    for f in fields:
        f["protect"] = f["key"] == "photo"
    configure(runtime, access, desk["form"], fields=fields, policy="update")
    files = [
        ("documents", ("contract.pdf", PDF, "application/pdf")),
        ("photo", ("me.png", PNG, "image/png")),
    ]
    response = post(client, desk["form"], {"email": "ADA@example.org"}, files)
    assert response.status_code == 200 and "Thank you" in response.text
    assert len(requests(api, desk)) == 1
    ada = desk["ada"]["id"]
    assert [f["name"] for f in record_files(api, desk, ada)] == ["contract.pdf"]
    [sub] = stored(runtime, access, desk["form"])
    assert (sub["outcome"], sub["record"]) == ("updated", ada)
    assert "Photo: 1 file(s) not attached, the field is never overwritten" in sub["reason"]

    # A new customer's record gets the protected field's files: protection is for updates.
    response = post(client, desk["form"], {"email": "bo@example.org"}, files)
    bo = requests(api, desk)[-1]
    assert [f["name"] for f in record_files(api, desk, bo["id"])] == ["contract.pdf", "me.png"]


def test_fill_empty_adds_files_only_where_the_record_on_file_has_none(
    client, api, runtime, access, desk
):
    first = [("documents", ("contract.pdf", PDF, "application/pdf"))]
    assert post(client, desk["form"], {"email": "ada@example.org"}, first).status_code == 200
    later = [
        ("documents", ("notes.txt", b"more\n", "text/plain")),
        ("photo", ("me.png", PNG, "image/png")),
    ]
    assert post(client, desk["form"], {"email": "ada@example.org"}, later).status_code == 200
    names = [f["name"] for f in record_files(api, desk, desk["ada"]["id"])]
    assert names == ["contract.pdf", "me.png"]


def test_a_dead_file_storage_writes_nothing_and_the_same_page_can_be_sent_again(
    client, api, runtime, access, desk, monkeypatch, tmp_path
):
    """A record is never written without its files: a post whose files cannot be stored
    is answered 503 with Retry-After, shown again with the same token, and kept as failed;
    sending that page again once the storage is back takes the failed post's place."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    use_backend(monkeypatch, runtime, "local", {"path": str(blocker)})
    files = [("documents", ("contract.pdf", PDF, "application/pdf"))]
    token = open_page(client, desk["form"]["path"])
    response = post(client, desk["form"], {"email": "bo@example.org"}, files, token=token)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "We are busy for a moment. Please send the form again." in response.text
    assert f'value="{token}"' in response.text
    assert "You chose contract.pdf: please choose it again." in response.text
    assert len(requests(api, desk)) == 1  # Ada only
    [sub] = stored(runtime, access, desk["form"])
    assert sub["outcome"] == "failed" and "the file storage failed" in sub["reason"]
    assert sub["payload"]["documents"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()

    monkeypatch.undo()
    again = post(client, desk["form"], {"email": "bo@example.org"}, files, token=token)
    assert again.status_code == 200 and "Thank you" in again.text
    bo = requests(api, desk)[-1]
    assert [f["name"] for f in record_files(api, desk, bo["id"])] == ["contract.pdf"]
    assert [s["outcome"] for s in stored(runtime, access, desk["form"])] == ["failed", "created"]


def test_an_edit_link_lists_the_files_sent_and_adds_more(client, api, runtime, access, desk):
    fields = forms.get_form(runtime, access, desk["form"]["id"])["config"]["fields"]
    for f in fields:
        f["protect"] = f["key"] == "photo"
    configure(runtime, access, desk["form"], fields=fields, edit_link=True)
    files = [
        ("documents", ("contract.pdf", PDF, "application/pdf")),
        ("photo", ("me.png", PNG, "image/png")),
    ]
    done = post(client, desk["form"], {"email": "bo@example.org"}, files)
    link = re.search(r'href="(/f/[^"]+/edit/[^"]+)"', done.text)
    assert link is not None, done.text
    page = client.get(link.group(1)).text
    assert 'enctype="multipart/form-data"' in page
    assert "Sent already: contract.pdf. Choose files to add more." in page
    assert 'name="documents" type="file"' in page and 'name="photo"' not in page  # protected

    data = {"_csrf_token": csrf(client), "email": "bo@example.org"}
    more = [
        ("documents", ("notes.txt", b"one more thing\n", "text/plain")),
        ("photo", ("other.png", PNG, "image/png")),  # never overwritten: ignored
    ]
    saved = client.post(link.group(1), data=data, files=more)
    assert saved.status_code == 200 and "Your changes were saved." in saved.text
    bo = requests(api, desk)[-1]
    assert [f["name"] for f in record_files(api, desk, bo["id"])] == [
        "contract.pdf",
        "me.png",
        "notes.txt",
    ]
    edit = stored(runtime, access, desk["form"])[-1]
    assert edit["payload"]["documents"][0]["name"] == "notes.txt" and "photo" not in edit["payload"]

    wrong = [("documents", ("setup.pdf", EXE, "application/pdf"))]
    refused = client.post(link.group(1), data=data, files=wrong)
    assert refused.status_code == 422 and "setup.pdf is not a document." in refused.text
    assert len(record_files(api, desk, bo["id"])) == 3


# ---- the builder ---------------------------------------------------------------------------


def test_a_file_field_cannot_be_hidden_prefilled_or_fixed(runtime, access, desk):
    fields = forms.get_form(runtime, access, desk["form"]["id"])["config"]["fields"]
    docs = next(f for f in fields if f["key"] == "documents")
    docs.update(hidden=True, prefill="doc", max_files=11, kinds="videos")
    with pytest.raises(ValidationFailed) as refused:
        configure(runtime, access, desk["form"], fields=fields)
    assert set(refused.value.fields) == {
        "fields.documents.hidden",
        "fields.documents.prefill",
        "fields.documents.max_files",
        "fields.documents.kinds",
    }
    assert refused.value.fields["fields.documents.hidden"].startswith(
        "a file field cannot be hidden"
    )


def test_the_builder_page_offers_file_fields_and_refuses_a_hidden_one(
    client, runtime, access, api, desk, ws
):
    user = sign_in(client, runtime)
    api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": "admin"}, expect=201)
    url = f"/w/{ws}/forms/{desk['form']['id']}"
    page = client.get(url).text
    assert 'name="f.documents.max_files"' in page and 'name="f.documents.kinds"' in page
    assert 'name="f.documents.hidden"' not in page
    data = {
        "_csrf_token": csrf(client),
        "_keys": "name,email,documents",
        "name": "Send us your papers",
        "is_open": "1",
        "policy": "fill_empty",
        "f.email.on": "on",
        "f.email.label": "Email",
        "f.documents.on": "on",
        "f.documents.label": "Papers",
        "f.documents.required": "on",
        "f.documents.max_files": "5",
        "f.documents.kinds": "images",
    }
    response = client.post(url, data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    saved = forms.get_form(runtime, access, desk["form"]["id"])["config"]["fields"]
    docs = next(f for f in saved if f["key"] == "documents")
    assert (docs["max_files"], docs["kinds"], docs["required"]) == (5, "images", True)

    data["f.documents.hidden"] = "on"
    data["f.documents.max_files"] = "12"
    response = client.post(url, data=data, follow_redirects=False)
    assert response.status_code == 422
    assert "Documents: A file field cannot be hidden" in response.text
    assert "Documents: Must be from 1 to 10" in response.text
