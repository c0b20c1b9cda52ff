"""The race the product exists to win: the same customer arriving 50 times at once, in
different spellings, at two server processes sharing one MySQL, ends as one record."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path

SPELLINGS = ["ada@example.org", " ADA@example.org", "Ada@Example.ORG ", "ada@EXAMPLE.org"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_servers(settings: Any, tmp_path: Path) -> Iterator[list[str]]:
    """Two `workspace serve` processes on the test database."""
    urls, processes = [], []
    for n in range(2):
        port = _free_port()
        env = {
            **os.environ,
            "WORKSPACE_DATABASE_URL": settings.database_url,
            "WORKSPACE_DATA_DIR": str(tmp_path / f"server{n}"),
            "WORKSPACE_PORT": str(port),
            "WORKSPACE_LOG_LEVEL": "WARNING",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "workspace", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            _wait_until_up(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str) -> None:
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


def _post(url: str, token: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.mysql_only
@pytest.mark.parametrize(("mode", "others"), [("block", 409), ("update", 200)])
def test_fifty_concurrent_creates_of_one_customer_end_as_one_record(
    api: Api, ws: int, two_servers: list[str], mode: str, others: int
) -> None:
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Email", "email"))
    rules = f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules"
    api.post(rules, {"rule": "email", "fields": ["email"], "on_create": mode}, expect=201)
    path = "/api/v1" + records_path(ws, rt)

    def one(n: int) -> int:
        url = two_servers[n % 2] + path
        body = {"fields": {"name": f"Ada {n}", "email": SPELLINGS[n % len(SPELLINGS)]}}
        return _post(url, api.token, body)

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = Counter(pool.map(one, range(50)))

    assert statuses == Counter({201: 1, others: 49}), statuses
    stored = api.get(records_path(ws, rt), limit=100)["items"]
    assert [r["fields"]["email"] for r in stored] == ["ada@example.org"]
