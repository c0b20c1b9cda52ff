"""A move of 100,000 records to the customer's MySQL and back, started through the API of a
real ``workspace serve`` (the mover runs in the server's process, as it does for an admin),
while clients write about 20 and read about 50 times a second over kept-alive connections.
Every answer is counted: nothing but 2xx, and 503s with Retry-After during the freeze; no
dropped connection; every acknowledged write is there afterwards.

The managed database is the run's MariaDB only: the scenario is a customer's MySQL and back,
and a move of 100,000 records twice is the suite's longest test as it is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.customer_mysql import customer, customer_settings, fresh_customer_database, good
from tests.helpers import PREFIX, Api, field, make_type, records_path
from tests.served import serving
from workspace.settings import Settings

__all__ = ["customer", "fresh_customer_database"]
pytestmark = pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
RECORDS = 100_000
WRITERS, READERS, EACH_PER_SECOND = 2, 5, 10


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path)


class Client(threading.Thread):
    """Writes (creates, with an Idempotency-Key) or reads records at ``EACH_PER_SECOND``
    over one kept-alive connection, as a careful client does: a 503 is waited out for its
    Retry-After and the same request sent again; anything else is noted."""

    def __init__(self, url: str, token: str, path: str, write: bool, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.token, self.path, self.write, self.stop = url, token, path, write, stop
        self.statuses: Counter[int] = Counter()
        self.without_retry_after = 0
        self.dropped: list[str] = []
        self.created: list[int] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url + PREFIX, headers=headers, timeout=60) as client:
            n = 0
            while not self.stop.is_set():
                began = time.monotonic()
                self._one(client, n)
                n += 1
                time.sleep(max(0.0, 1 / EACH_PER_SECOND - (time.monotonic() - began)))

    def _one(self, client: httpx.Client, n: int) -> None:
        key = uuid.uuid4().hex
        while True:
            try:
                if self.write:
                    body = {"fields": {"name": f"During {key[:8]}"}}
                    answer = client.post(self.path, json=body, headers={"Idempotency-Key": key})
                else:
                    answer = client.get(self.path, params={"limit": 20, "sort": "-id"})
            except httpx.TransportError as exc:
                self.dropped.append(f"{type(exc).__name__}: {exc}")
                return
            self.statuses[answer.status_code] += 1
            if answer.status_code != 503:
                break
            if "retry-after" not in answer.headers:
                self.without_retry_after += 1
                return
            time.sleep(int(answer.headers["retry-after"]))
        if self.write and answer.status_code == 201:
            self.created.append(int(answer.json()["id"]))


def _move(client: httpx.Client, ws: int, target: Any) -> dict[str, Any]:
    started = client.post(f"/workspaces/{ws}/database/moves", json={"target": target})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        move = client.get(f"/workspaces/{ws}/database/moves/{started.json()['id']}").json()
        if move["state"] not in ("copying", "switching"):
            assert move["state"] == "done", move
            return dict(move)
        time.sleep(0.5)
    raise AssertionError("the move did not end within ten minutes")


def test_a_move_there_and_back_under_load_answers_every_request(
    database_url: str, settings: Settings, api: Api, ws: int, owner: Any, tmp_path: Path
):
    rt, _ = make_type(api, ws, "Contact", field("Name", "text"), field("Email", "email"))
    path = records_path(ws, rt)
    for start in range(0, RECORDS, 1000):
        items = [
            {"fields": {"name": f"Person {i}", "email": f"p{i}@example.org"}}
            for i in range(start, start + 1000)
        ]
        api.post(path + "/bulk", {"items": items}, expect=200)
    env = {
        "WORKSPACE_DATABASE_URL": database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_MIGRATE_ON_START": "false",
        "WORKSPACE_ALLOW_PRIVATE_HOSTS": "true",
        "WORKSPACE_LOG_LEVEL": "WARNING",
        "WORKSPACE_API_RATE_LIMIT": "0",
        "WORKSPACE_API_ADDRESS_RATE_LIMIT": "0",
    }
    token = owner[1]
    stop = threading.Event()
    with serving(env, tmp_path / "server.log") as server:
        clients = [Client(server.url, token, path, True, stop) for _ in range(WRITERS)]
        clients += [Client(server.url, token, path, False, stop) for _ in range(READERS)]
        for c in clients:
            c.start()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url + PREFIX, headers=headers, timeout=60) as admin:
            time.sleep(1)
            there = _move(admin, ws, good())
            back = _move(admin, ws, "managed")
            time.sleep(1)
            stop.set()
            for c in clients:
                c.join(timeout=120)
            total = admin.get(path, params={"limit": 1, "total": "true"}).json()["total"]
        log = server.log_text()

    statuses = sum((c.statuses for c in clients), Counter())
    created = [i for c in clients for i in c.created]
    assert there["copied_rows"] == there["total_rows"] and back["copied_rows"] == back["total_rows"]
    assert [d for c in clients for d in c.dropped] == [], log[-3000:]
    assert set(statuses) <= {200, 201, 503}, statuses
    assert sum(c.without_retry_after for c in clients) == 0
    assert statuses[201] == len(created) and len(created) > 100, statuses
    assert total == RECORDS + len(created)  # every acknowledged write, once
    assert "Traceback" not in log, log[-3000:]
