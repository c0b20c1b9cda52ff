"""The run log is pruned: runs over for longer than ``automation_runs_keep_days`` go with
their steps and webhook payloads, in the worker's periodic task; runs with work left and dead
runs nobody has looked at stay, however old."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update

from tests.helpers import Api, field, make_type, records_path
from workspace import models as m
from workspace.automations import retention
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.jobs.worker import registries, run_until_idle
from workspace.runtime import Runtime

R, S, IN = m.automation_runs, m.automation_steps, m.automation_inbound
ALL_STATES = (
    "queued",
    "running",
    "waiting",
    "retrying",
    "dead",
    "done",
    "skipped",
    "stopped",
    "dismissed",
)


def _automation(api: Api, ws: int) -> tuple[dict[str, Any], str]:
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Note", "text"))
    body = {
        "name": "Noter",
        "record_type": rt["id"],
        "trigger": {"type": "record_created"},
        "actions": [{"type": "set_fields", "values": {"note": "seen"}}],
    }
    return api.post(f"/workspaces/{ws}/automations", body, expect=201), records_path(ws, rt)


def _run(runtime: Runtime, auto: dict[str, Any], ws: int, state: str, ended: Any) -> int:
    """A run in ``state`` that ended (or was last touched) at ``ended``, with one step and
    the webhook post that started it."""
    with transaction(runtime.control, write=True) as conn:
        run_id = inserted_id(
            conn.execute(
                insert(R).values(
                    automation_id=auto["id"],
                    workspace_id=ws,
                    record_type_id=auto["record_type"],
                    record_id=None,
                    trigger={"kind": "webhook"},
                    chain=[],
                    state=state,
                    step=1,
                    created_at=ended,
                    started_at=ended,
                    finished_at=ended,
                )
            )
        )
        conn.execute(
            insert(S).values(
                run_id=run_id,
                position=0,
                action="set_fields",
                attempt=1,
                state="done",
                started_at=ended,
                finished_at=ended,
            )
        )
        conn.execute(
            insert(IN).values(
                automation_id=auto["id"],
                received_at=ended,
                payload={"n": 1},
                outcome="accepted",
                run_id=run_id,
            )
        )
    return run_id


def _left(runtime: Runtime, auto: dict[str, Any]) -> dict[str, set[Any]]:
    with transaction(runtime.control) as conn:
        runs = set(conn.execute(select(R.c.state).where(R.c.automation_id == auto["id"])).scalars())
        ids = select(R.c.id).where(R.c.automation_id == auto["id"])
        steps = set(conn.execute(select(S.c.run_id).where(S.c.run_id.in_(ids))).scalars())
        posts = conn.execute(select(IN.c.run_id).where(IN.c.automation_id == auto["id"]))
        run_ids = set(conn.execute(ids).scalars())
    return {"states": runs, "steps": steps, "posts": set(posts.scalars()), "runs": run_ids}


def test_runs_over_long_ago_go_with_their_steps_and_payloads(api, ws, runtime):
    auto, path = _automation(api, ws)
    long_ago = utcnow() - dt.timedelta(days=runtime.settings.automation_runs_keep_days + 1)
    old = {state: _run(runtime, auto, ws, state, long_ago) for state in ALL_STATES}
    refused_long_ago = {"automation_id": auto["id"], "received_at": long_ago}
    with transaction(runtime.control, write=True) as conn:
        conn.execute(insert(IN).values(payload={}, outcome="refused", **refused_long_ago))
    api.post(path, {"fields": {"name": "Ada"}}, expect=201)
    run_until_idle(runtime)  # a real run, done just now: kept
    with transaction(runtime.control) as conn:
        recent = conn.execute(
            select(R.c.id).where(R.c.automation_id == auto["id"], R.c.record_id.is_not(None))
        ).scalar_one()
    retention.prune(runtime)
    left = _left(runtime, auto)
    kept = {"queued", "running", "waiting", "retrying", "dead"}
    assert left["runs"] == {old[s] for s in kept} | {recent}
    assert left["states"] == kept | {"done"}
    assert left["steps"] == left["runs"]  # every kept run keeps its steps; no orphans
    assert left["posts"] == {old[s] for s in kept}  # the refused post went too


def test_a_dismissed_dead_run_goes_and_an_undismissed_one_stays(api, ws, runtime):
    auto, _ = _automation(api, ws)
    long_ago = utcnow() - dt.timedelta(days=runtime.settings.automation_runs_keep_days + 1)
    seen, unseen = (_run(runtime, auto, ws, "dead", long_ago) for _ in range(2))
    api.post(f"/workspaces/{ws}/automations/runs/dismiss", {"runs": [seen]}, expect=200)
    with transaction(runtime.control, write=True) as conn:  # dismissed long ago
        conn.execute(update(R).where(R.c.id == seen).values(finished_at=long_ago))
    retention.prune(runtime)
    assert _left(runtime, auto)["runs"] == {unseen}


def test_the_worker_prunes_runs_in_batches_as_a_periodic_task(api, ws, runtime, monkeypatch):
    assert "periodic:automations.prune" in registries(runtime).kinds
    auto, _ = _automation(api, ws)
    long_ago = utcnow() - dt.timedelta(days=runtime.settings.automation_runs_keep_days + 1)
    for _ in range(5):
        _run(runtime, auto, ws, "done", long_ago)
    monkeypatch.setattr(retention, "BATCH", 2)  # three transactions: 2, 2 and 1
    run_until_idle(runtime)  # a new installation's first pass runs every periodic task
    assert _left(runtime, auto)["runs"] == set()
