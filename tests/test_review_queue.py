"""The review queue pages in the order it shows (score, then id): every pair exactly once.

Paging by the last row's id alone (while sorting by score) skipped every lower-scored pair
with a higher id; these tests page a queue of 10,000 pairs with many equal scores and compare
with the table, also while pairs are decided between pages.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import insert, select

from tests.helpers import Api, field, make_type
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction

PAIRS = m.duplicate_pairs


def _fill(runtime: Any, ws: int, rt_id: int, count: int) -> None:
    """``count`` open pairs with scores from a small set, so ties across pages are common."""
    rng = random.Random(7)
    now = utcnow()
    rows = [
        {
            "workspace_id": ws,
            "record_type_id": rt_id,
            "record_a": i,
            "record_b": i + count,
            "score": rng.choice([0.99, 0.9, 0.875, 0.8, 0.61]) + rng.choice([0, 0, 1e-9]),
            "reasons": [],
            "status": "open",
            "found_by": "contact",
            "created_at": now,
        }
        for i in range(1, count + 1)
    ]
    with transaction(runtime.control, write=True) as conn:
        for start in range(0, count, 1000):
            conn.execute(insert(PAIRS), rows[start : start + 1000])


def _page_through(api: Api, path: str, after: str | None = None) -> list[dict[str, Any]]:
    """Every page from ``after`` (the first page without it) to the end; a cursor that
    never ends fails instead of hanging."""
    seen: list[dict[str, Any]] = []
    for _ in range(100):
        page = api.get(path, expect=200, limit=200, **({"after": after} if after else {}))
        seen.extend(page["items"])
        after = page["next_after"]
        if after is None:
            return seen
    raise AssertionError(f"still paging after 100 pages ({len(seen)} pairs seen)")


def test_paging_returns_every_pair_once_in_the_order_shown(api, ws, runtime):
    rt, _ = make_type(api, ws, "Person", field("Name", "text"))
    _fill(runtime, ws, rt["id"], 10_000)
    path = f"/workspaces/{ws}/types/{rt['id']}/duplicates"
    seen = _page_through(api, path)
    with transaction(runtime.control) as conn:
        stored = set(
            conn.execute(select(PAIRS.c.id).where(PAIRS.c.record_type_id == rt["id"])).scalars()
        )
    ids = [p["id"] for p in seen]
    assert len(ids) == len(set(ids)) == len(stored) == 10_000
    assert set(ids) == stored
    order = [(p["score"], p["id"]) for p in seen]
    assert order == sorted(order, reverse=True)


def test_pairs_decided_between_pages_do_not_shift_the_others(api, ws, runtime):
    rt, _ = make_type(api, ws, "Person", field("Name", "text"))
    _fill(runtime, ws, rt["id"], 1_000)
    path = f"/workspaces/{ws}/types/{rt['id']}/duplicates"
    first = api.get(path, expect=200, limit=100)
    # A reviewer works through the first page while another pages on.
    for pair in first["items"][:50]:
        api.post(f"{path}/{pair['id']}/decision", {"decision": "not_duplicate"}, expect=200)
    rest = _page_through(api, path, first["next_after"])
    ids = [p["id"] for p in first["items"]] + [p["id"] for p in rest]
    assert len(ids) == len(set(ids)) == 1_000


def test_a_forged_cursor_is_refused_naming_it(api, ws):
    rt, _ = make_type(api, ws, "Person", field("Name", "text"))
    path = f"/workspaces/{ws}/types/{rt['id']}/duplicates"
    for bad in ("nope", "eDox", "bmFuOjE", "MHgxcC0xOi0z"):
        refused = api.get(path, expect=400, after=bad)
        assert refused["error"]["message"].startswith("after:")
