"""An inbound webhook's posts are limited per automation and per client address, counted in
the database like the API's limits; a post over a limit is answered 429 with Retry-After and
the API's error body, and nothing of it is kept."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from tests.helpers import Api, field, make_type
from workspace import models as m
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.db import transaction
from workspace.rate_limits import RateLimiter
from workspace.runtime import Runtime

IN = m.automation_inbound


def _hook(api: Api, ws: int, name: str = "Hook") -> dict[str, Any]:
    rt, _ = make_type(api, ws, f"Lead {name}", field("Name", "text"))
    body = {
        "name": name,
        "record_type": rt["id"],
        "trigger": {"type": "webhook"},
        "actions": [{"type": "set_fields", "values": {"name": "x"}}],
    }
    return api.post(f"/workspaces/{ws}/automations", body, expect=201)


def _kept(runtime: Runtime, auto: dict[str, Any]) -> int:
    with transaction(runtime.control) as conn:
        found = select(func.count()).where(IN.c.automation_id == auto["id"])
        return int(conn.execute(found).scalar_one())


@pytest.fixture
def limited(settings: Any, runtime: Runtime) -> Iterator[Callable[..., TestClient[Any]]]:
    """``limited(per_hook, per_address)``: a server with those webhook limits whose clock
    stands still one second into a window no other test counts in (the suite's requests all
    come from one address, and a window must not end in the middle of a test)."""
    opened: list[tuple[Runtime, TestClient[Any]]] = []

    def make(per_hook: int, per_address: int) -> TestClient[Any]:
        limits = dataclasses.replace(
            settings,
            automation_hook_rate_limit=per_hook,
            automation_hook_address_rate_limit=per_address,
        )
        rt = build_runtime(limits, runtime.pm)
        window = limits.api_rate_window
        moment = (4_000_000_000 // window + uuid.uuid4().int % 10**6) * window + 1
        rt.rate_limits = RateLimiter(rt.control, limits, clock=lambda: moment)
        client = TestClient(create_app(limits, rt), raise_server_exceptions=False)
        client.__enter__()
        opened.append((rt, client))
        return client

    yield make
    for rt, client in opened:
        client.__exit__(None, None, None)
        rt.close()


def test_posts_past_an_automations_limit_get_429_and_are_not_kept(api, ws, runtime, limited):
    client = limited(per_hook=3, per_address=0)
    auto, other = _hook(api, ws), _hook(api, ws, "Other")
    answers = [client.post(auto["hook_path"], json={"n": n}) for n in range(5)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    refused = answers[3]
    assert refused.headers["Retry-After"] == str(runtime.settings.api_rate_window - 1)
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "at most 3 every 60 seconds" in error["message"]
    assert _kept(runtime, auto) == 3
    assert client.post(other["hook_path"], json={}).status_code == 202  # its own count


def test_posts_past_an_addresss_limit_get_429_whichever_automation(api, ws, runtime, limited):
    client = limited(per_hook=0, per_address=2)
    first, second = _hook(api, ws), _hook(api, ws, "Second")
    assert client.post(first["hook_path"], json={}).status_code == 202
    assert client.post(second["hook_path"], json={}).status_code == 202
    refused = client.post(second["hook_path"], json={})
    assert refused.status_code == 429 and "this address" in refused.json()["error"]["message"]
    assert client.post("/api/v1/hooks/automations/nope", json={}).status_code == 429
    assert (_kept(runtime, first), _kept(runtime, second)) == (1, 1)


def test_the_limit_is_counted_across_server_processes(api, ws, runtime, limited):
    one, two = limited(per_hook=2, per_address=0), limited(per_hook=2, per_address=0)
    auto = _hook(api, ws)
    # The two servers' clocks stand in different windows unless told otherwise: share one.
    two.app.state.runtime.rate_limits.clock = one.app.state.runtime.rate_limits.clock
    codes = [c.post(auto["hook_path"], json={}).status_code for c in (one, two, one, two)]
    assert sorted(codes) == [202, 202, 429, 429] and _kept(runtime, auto) == 2
