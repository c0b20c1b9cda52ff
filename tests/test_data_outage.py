"""One customer's database outage leaves every other workspace alone: a real server whose
one workspace lives on a "MySQL" that takes connections and never answers, and another on
the managed database, both asked at once.

The dead workspace answers 503 with Retry-After, soon without waiting at all (its circuit
opens); the healthy one answers every request without waiting on the dead one's timeouts:
no healthy request takes as long as the dead database's connect timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.customer_mysql import (
    Unanswering,
    customer,
    customer_settings,
    fresh_customer_database,
    good,
)
from tests.helpers import PREFIX, Api, field, make_type, records_path
from tests.served import serving
from tests.storage_servers import Relay
from workspace.settings import Settings

__all__ = ["customer", "fresh_customer_database"]
#: Seconds the server waits for the dead database (connect and read).
DEAD_TIMEOUT = 3


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return customer_settings(database_url, tmp_path)


@pytest.fixture
def outage(api: Api) -> Iterator[dict[str, Any]]:
    """Two workspaces: one on its own MySQL (reached through a relay, then hung), one on
    the managed database, each with a type holding a record."""
    relay = Relay(3306)
    dead = int(api.post("/workspaces", {"name": "On its own MySQL"}, expect=201)["id"])
    healthy = int(api.post("/workspaces", {"name": "Managed"}, expect=201)["id"])
    api.put(f"/workspaces/{dead}/database", good(port=relay.port), expect=200)
    rt, _ = make_type(api, dead, "Order", field("Title", "text"), rows=[{"title": "one"}])
    ok, _ = make_type(api, healthy, "Order", field("Title", "text"), rows=[{"title": "two"}])
    relay.cut()
    hung = Unanswering(relay.port)
    try:
        yield {"dead": records_path(dead, rt), "healthy": records_path(healthy, ok)}
    finally:
        hung.close()


class Caller(threading.Thread):
    """Reads and writes one workspace's records until told to stop, noting each answer's
    status, Retry-After, message and how long it took."""

    def __init__(self, url: str, token: str, path: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.path, self.stop = url, path, stop
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers: list[tuple[int, bool, str, float]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url + PREFIX, headers=self.headers, timeout=60) as c:
            n = 0
            while not self.stop.is_set():
                started = time.monotonic()
                if n % 2:
                    answer = c.post(self.path, json={"fields": {"title": f"call {n}"}})
                else:
                    answer = c.get(self.path)
                took = time.monotonic() - started
                message = (
                    answer.json().get("error", {}).get("message", "") if answer.content else ""
                )
                self.answers.append(
                    (answer.status_code, "retry-after" in answer.headers, message, took)
                )
                n += 1


def test_a_hung_customer_database_does_not_slow_another_workspace(
    database_url, settings, owner, outage, tmp_path
):
    env = {
        "WORKSPACE_DATABASE_URL": database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_MIGRATE_ON_START": "false",
        "WORKSPACE_ALLOW_PRIVATE_HOSTS": "true",
        "WORKSPACE_THREADS": "10",
        "WORKSPACE_CUSTOMER_DB_POOL_SIZE": "2",
        "WORKSPACE_CUSTOMER_DB_TIMEOUT": str(DEAD_TIMEOUT),
        "WORKSPACE_CUSTOMER_DB_READ_TIMEOUT": str(DEAD_TIMEOUT),
        "WORKSPACE_LOG_LEVEL": "WARNING",
        "WORKSPACE_API_RATE_LIMIT": "0",  # the callers ask as fast as they are answered
        "WORKSPACE_API_ADDRESS_RATE_LIMIT": "0",
    }
    token = owner[1]
    stop = threading.Event()
    with serving(env, tmp_path / "server.log") as server:
        dead = [Caller(server.url, token, outage["dead"], stop) for _ in range(12)]
        for caller in dead:
            caller.start()
        time.sleep(0.5)  # the dead workspace's callers are waiting on it now
        healthy = [Caller(server.url, token, outage["healthy"], stop) for _ in range(2)]
        for caller in healthy:
            caller.start()
        # Long enough for the dead database to time out twice (its circuit opens).
        time.sleep(3 * DEAD_TIMEOUT)
        stop.set()
        for caller in [*healthy, *dead]:
            caller.join(timeout=60)

    answers = [a for c in healthy for a in c.answers]
    assert len(answers) >= 20, f"only {len(answers)} healthy answers"
    assert {status for status, *_ in answers} == {200, 201}
    slowest = max(took for *_, took in answers)
    assert slowest < DEAD_TIMEOUT, f"a healthy request waited {slowest:.1f} s"

    refused = [a for c in dead for a in c.answers]
    assert {status for status, *_ in refused} == {503}
    assert all(retry_after for _, retry_after, _, _ in refused)
    assert any("stopped trying" in message for *_, message, _ in refused), refused[:5]
