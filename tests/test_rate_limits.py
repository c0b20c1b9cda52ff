"""API rate limits: leases of a shared count never let a bucket past its limit however many
processes take them, and two real server processes sharing one MariaDB together admit no
more than the limit of a token or of an address, answering the rest with 429, Retry-After
and the API's error body."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.served import Served, serving
from workspace import models as m
from workspace.db import transaction
from workspace.rate_limits import RateLimiter

TOKEN_LIMIT, ADDRESS_LIMIT = 50, 120
#: Long windows, so that a test never straddles two of them (see below).
WINDOW = 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_leases_of_several_processes_never_pass_the_limit(runtime, settings):
    clock = Clock()
    one, two = (RateLimiter(runtime.control, settings, clock) for _ in range(2))
    limit = 100  # leases of two requests
    admitted = [
        limiter.admit("token:shared", limit) is None for _ in range(80) for limiter in (one, two)
    ]
    assert limit - 2 <= admitted.count(True) <= limit
    with transaction(runtime.control) as conn:
        query = select(m.rate_counts.c.used).where(m.rate_counts.c.bucket == "token:shared")
        used = conn.execute(query).scalars().all()
    assert used == [limit]
    # Refused from memory from now on, with the seconds left in the window.
    assert one.decide("token:shared", limit) == settings.api_rate_window - 40
    clock.now += settings.api_rate_window  # a new window: counted afresh
    assert one.admit("token:shared", limit) is None


def ask(servers: list[Served], token: str, times: int) -> list[tuple[int, int, Any]]:
    """``times`` requests with ``token``, taking turns between the servers: (server, status,
    the answer's body and Retry-After)."""
    answers = []
    for i in range(times):
        server = servers[i % len(servers)]
        answer = httpx.get(
            server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        answers.append((i % len(servers), answer.status_code, (answer.json(), answer.headers)))
    return answers


@pytest.mark.mysql_only
def test_two_processes_together_keep_a_token_and_an_address_to_their_limits(
    settings, make_user, tmp_path
):
    env = {
        "WORKSPACE_DATABASE_URL": settings.database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_MIGRATE_ON_START": "false",
        "WORKSPACE_API_RATE_LIMIT": str(TOKEN_LIMIT),
        "WORKSPACE_API_ADDRESS_RATE_LIMIT": str(ADDRESS_LIMIT),
        "WORKSPACE_API_RATE_WINDOW": str(WINDOW),
        "WORKSPACE_AUTH_CACHE_SECONDS": "60",
        "WORKSPACE_LOG_LEVEL": "WARNING",
    }
    (_, busy), (_, other) = make_user(), make_user()
    left = WINDOW - time.time() % WINDOW
    if left < 60:  # the counts start again with each window: begin with a fresh one
        time.sleep(left)
    with serving(env, tmp_path / "a.log") as a, serving(env, tmp_path / "b.log") as b:
        first = ask([a, b], busy, 2 * TOKEN_LIMIT)
        then = ask([a, b], other, 40)

    # One token: exactly its limit across both processes (its lease is one request), each
    # process admitting some, then 429 naming the token.
    ok = [server for server, status, _ in first if status == 200]
    assert len(ok) == TOKEN_LIMIT and Counter(ok)[0] > 0 and Counter(ok)[1] > 0
    refused = [answer for _, status, answer in first if status == 429]
    assert len(refused) == TOKEN_LIMIT
    for body, headers in refused:
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["message"].startswith("too many requests with this API token")
        assert 0 < int(headers["retry-after"]) <= WINDOW

    # The address has made 100 requests of its 120: another token gets the 20 left, less at
    # most what the other process leased and did not use (one lease of two requests).
    admitted = [status for _, status, _ in then].count(200)
    assert ADDRESS_LIMIT - 2 * TOKEN_LIMIT - 2 <= admitted <= ADDRESS_LIMIT - 2 * TOKEN_LIMIT
    messages = {answer[0]["error"]["message"][:37] for _, s, answer in then if s == 429}
    assert messages == {"too many requests from this address: "}
