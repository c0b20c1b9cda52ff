"""Public form posts with files while the server's database connection is cut (a TCP relay
between the server and MariaDB, cut like a pulled cable and plugged back in).

A post ends in exactly one of two ways: its record with its files and its submission saying
so, or a 503 with Retry-After, nothing written, and the submission kept as failed (by the
post, or by the recovery pass when the database was away even for that). Sending the same
page again then takes the failed post's place; a post whose commit landed although its
answer was lost is answered as the first time, never written twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.helpers import Api, field, make_type, records_path
from tests.served import serving
from tests.storage_servers import Relay
from tests.test_forms import TOKEN, open_page, stored
from tests.test_forms_files import configure, post
from workspace import models as m
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.forms import forms
from workspace.forms import submissions as form_submissions
from workspace.storage import blobs as file_blobs

pytestmark = pytest.mark.mysql_only
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def desk(api: Api, ws: int, runtime: Any, access: Any) -> dict[str, Any]:
    """A Request type and a form that asks for a name and one required document."""
    rt, _ = make_type(api, ws, "Request", field("Name", "text"), field("Papers", "file"))
    form = forms.create_form(runtime, access, rt["id"], "Send us your papers")
    fields = [
        {"key": "name", "label": "Your name", "required": True},
        {"key": "papers", "label": "Papers", "required": True, "kinds": "documents"},
    ]
    form = configure(runtime, access, form, fields=fields)
    return {"rt": rt, "ws": ws, "path": records_path(ws, rt), "form": form}


@pytest.fixture
def relay() -> Iterator[Relay]:
    relay = Relay(3306)
    yield relay
    relay.cut()


def through(database_url: str, relay: Relay) -> str:
    """The control database's URL by way of the relay."""
    url = make_url(database_url).set(host="127.0.0.1", port=relay.port)
    return url.render_as_string(hide_password=False)


def document(name: str) -> bytes:
    return PDF + f"% {name}\n".encode()


def records_with_files(runtime: Any, desk: dict[str, Any]) -> dict[str, list[str]]:
    """Every record of the type by name, with the SHA-256 of each of its files."""
    table = f"rt_{desk['rt']['id']}"
    name_col = next(f["id"] for f in desk["rt"]["fields"] if f["key"] == "name")
    with transaction(runtime.control) as conn:
        rows = conn.exec_driver_sql(f"SELECT id, f_{name_col} FROM {table}").all()
        files = conn.execute(
            select(m.files.c.record_id, m.files.c.sha256).where(
                m.files.c.record_type_id == desk["rt"]["id"]
            )
        ).all()
    by_record = dict(rows)
    found: dict[str, list[str]] = {name: [] for _, name in rows}
    for record_id, sha256 in files:
        found.setdefault(by_record.get(record_id, f"(no record {record_id})"), []).append(sha256)
    return found


def test_a_cut_while_the_files_are_stored_writes_nothing_and_the_page_can_be_sent_again(
    settings, runtime, access, desk, relay, monkeypatch
):
    """The database goes away just as the file storage takes the bytes: before, the record
    was already written and its file was lost with a 500; now nothing is written, the
    answer is 503 with Retry-After, and the same page sent again writes record and file."""
    cut_settings = dataclasses.replace(settings, database_url=through(settings.database_url, relay))
    cut_runtime = build_runtime(cut_settings)
    store = file_blobs.store

    def store_then_cut(*args: Any, **kwargs: Any) -> bool:
        written = store(*args, **kwargs)
        relay.cut()
        return written

    with TestClient(create_app(cut_settings, cut_runtime), raise_server_exceptions=False) as c:
        token = open_page(c, desk["form"]["path"])
        monkeypatch.setattr(file_blobs, "store", store_then_cut)
        files = [("papers", ("bo.pdf", document("bo"), "application/pdf"))]
        response = post(c, desk["form"], {"name": "Bo"}, files, token=token)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        assert records_with_files(runtime, desk) == {}
        [sub] = stored(runtime, access, desk["form"])
        assert sub["outcome"] == "received" and sub["record"] is None  # could not say more

        monkeypatch.undo()
        relay.resume()
        later = utcnow() + form_submissions.STALE_AFTER + dt.timedelta(seconds=1)
        # At least this one: the database is shared with the process's earlier tests.
        assert form_submissions.recover(runtime, now=later) >= 1
        assert [s["outcome"] for s in stored(runtime, access, desk["form"])] == ["failed"]

        again = post(c, desk["form"], {"name": "Bo"}, files, token=token)
        assert again.status_code == 200 and "Thank you" in again.text
    sha = hashlib.sha256(document("bo")).hexdigest()
    assert records_with_files(runtime, desk) == {"Bo": [sha]}
    assert [s["outcome"] for s in stored(runtime, access, desk["form"])] == ["failed", "created"]


class Sender(threading.Thread):
    """A browser sending the form again and again, each post with a file of its own; a post
    answered 503 is sent again with the same page (the same one-time token) until taken."""

    def __init__(self, url: str, slug: str, who: int, keep_going: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.slug, self.who, self.keep_going = url, slug, who, keep_going
        self.statuses: Counter[int] = Counter()
        self.without_retry_after = 0
        self.names: list[str] = []
        self.problems: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            n = 0
            while self.keep_going.is_set() or n < 2:
                name = f"sender {self.who} post {n}"
                if not self._send(client, name):
                    return
                self.names.append(name)
                n += 1

    def _send(self, client: httpx.Client, name: str) -> bool:
        token = self._page(client)
        files = {"papers": (f"{name}.pdf", document(name), "application/pdf")}
        data = {"_csrf_token": client.cookies.get("ws_csrf"), "_form_token": token, "name": name}
        for _ in range(100):
            answer = client.post(f"/f/{self.slug}", data=data, files=files)
            self.statuses[answer.status_code] += 1
            if answer.status_code == 200:
                return True
            if answer.status_code != 503:
                self.problems.append(f"{name}: {answer.status_code} {answer.text[:300]}")
                return False
            self.without_retry_after += "retry-after" not in answer.headers
            time.sleep(0.1)
        self.problems.append(f"{name}: never taken")
        return False

    def _page(self, client: httpx.Client) -> str:
        for _ in range(100):
            page = client.get(f"/f/{self.slug}")
            found = TOKEN.search(page.text)
            if page.status_code == 200 and found is not None:
                return found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"the form page never came back: {page.status_code}")


def test_posts_from_four_browsers_through_five_cuts_end_whole_or_failed(
    settings, runtime, access, desk, relay, tmp_path
):
    env = {
        "WORKSPACE_DATABASE_URL": through(settings.database_url, relay),
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_MIGRATE_ON_START": "false",
        "WORKSPACE_FORM_RATE_LIMIT": "0",
        "WORKSPACE_DB_TIMEOUT": "3",
        "WORKSPACE_LOG_LEVEL": "WARNING",
    }
    slug = desk["form"]["slug"]
    keep_going = threading.Event()
    keep_going.set()
    with serving(env, tmp_path / "server.log") as server:
        senders = [Sender(server.url, slug, who, keep_going) for who in range(4)]
        for sender in senders:
            sender.start()
        pause = random.Random(11)
        for _ in range(5):
            time.sleep(pause.uniform(0.2, 0.5))
            relay.cut()
            time.sleep(0.2)
            relay.resume()
        keep_going.clear()
        for sender in senders:
            sender.join(timeout=120)
        log = server.log_text()

    assert [p for s in senders for p in s.problems] == [], log[-3000:]
    statuses = sum((s.statuses for s in senders), Counter())
    assert set(statuses) <= {200, 503} and statuses[503] > 0, statuses
    assert sum(s.without_retry_after for s in senders) == 0

    # Every post ended with exactly one record holding exactly its own file.
    names = [name for s in senders for name in s.names]
    expected = {name: [hashlib.sha256(document(name)).hexdigest()] for name in names}
    assert records_with_files(runtime, desk) == expected

    # The recovery pass marks what the cuts left undecided; then every post is decided,
    # and the ones that wrote are exactly the records, once each.
    later = utcnow() + form_submissions.STALE_AFTER + dt.timedelta(seconds=1)
    form_submissions.recover(runtime, now=later)
    subs = stored(runtime, access, desk["form"])
    outcomes = Counter(s["outcome"] for s in subs)
    assert set(outcomes) <= {"created", "failed", "replay"}, outcomes
    created = [s for s in subs if s["outcome"] == "created"]
    assert sorted(s["payload"]["name"] for s in created) == sorted(names)
    assert all(s["record"] is None for s in subs if s["outcome"] == "failed")
    assert re.search(r"Traceback|unhandled error", log) is None, log[-3000:]
