"""Runs of automations and their step log: starting one (or stopping it at the loop guard),
reading them per automation, per record and by state, and the dead letter's replay and
dismiss.

A run is queued with its job in the transaction that decided to start it (the outbox
dispatch, a timer, an inbound webhook), so a run exists exactly when its cause committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.jobs import queue
from workspace.principal import Access
from workspace.runtime import Runtime

R, S, A = m.automation_runs, m.automation_steps, m.automations
KIND = "automation.run"
#: The loop guard: the same automation on the same record at most this often in one chain
#: of changes, and chains at most this deep.
MAX_REPEATS = 3
MAX_DEPTH = 10
STATES = (
    "queued",
    "running",
    "waiting",
    "retrying",
    "done",
    "skipped",
    "stopped",
    "dead",
    "dismissed",
)
#: Attempts the queue may make of a run's job: far more than a run gets (the engine gives
#: up first, after WORKSPACE_AUTOMATION_ATTEMPTS, and puts the run in the dead letter).
JOB_ATTEMPTS = 1000
PAGE_MAX = 200


def loop_guard(
    automation_id: int, record_id: int | None, chain: Iterable[Iterable[int]]
) -> str | None:
    """Why a run would go round in circles (None when it would not)."""
    links = [tuple(link) for link in chain]
    if len(links) >= MAX_DEPTH:
        return (
            f"loop guard: this change comes at the end of a chain of {len(links)} automation "
            f"runs (at most {MAX_DEPTH}); the run was stopped"
        )
    repeats = links.count((automation_id, record_id or 0))
    if repeats >= MAX_REPEATS:
        return (
            f"loop guard: automation {automation_id} already ran {repeats} times on record "
            f"{record_id} in this chain of changes (at most {MAX_REPEATS}); the run was stopped"
        )
    return None


def start(
    conn: Connection,
    automation: Mapping[str, Any],
    record_id: int | None,
    trigger: dict[str, Any],
    chain: Iterable[Iterable[int]] = (),
) -> int:
    """Queue a run of ``automation`` in the caller's transaction; returns its id. A run the
    loop guard stops is kept, stopped, with the reason."""
    links = [list(link) for link in chain]
    stopped = loop_guard(automation["id"], record_id, links)
    now = utcnow()
    run_id = inserted_id(
        conn.execute(
            insert(R).values(
                automation_id=automation["id"],
                workspace_id=automation["workspace_id"],
                record_type_id=automation["record_type_id"],
                record_id=record_id,
                trigger=trigger,
                chain=links,
                state="stopped" if stopped else "queued",
                step=0,
                error=stopped,
                created_at=now,
                finished_at=now if stopped else None,
            )
        )
    )
    if stopped is None:
        _enqueue(conn, run_id, automation["workspace_id"])
    return run_id


def _enqueue(conn: Connection, run_id: int, workspace_id: int) -> None:
    queue.enqueue(conn, KIND, {"run": run_id}, workspace_id=workspace_id, max_attempts=JOB_ATTEMPTS)


# ---- reading ---------------------------------------------------------------------------


def list_runs(
    runtime: Runtime,
    acc: Access,
    *,
    automation_id: int | None = None,
    record_type_id: int | None = None,
    record_id: int | None = None,
    state: str | None = None,
    limit: int = 50,
    before: int | None = None,
) -> dict[str, Any]:
    """Runs newest first, of one automation, one record, or in one state (the dead letter:
    ``state="dead"``); ``next_before`` pages further back."""
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationFailed.single("limit", f"must be between 1 and {PAGE_MAX}")
    if state is not None and state not in STATES:
        raise ValidationFailed.single("state", "must be one of " + ", ".join(STATES))
    query = (
        select(R, A.c.name)
        .join(A, A.c.id == R.c.automation_id)
        .where(R.c.workspace_id == acc.workspace_id)
        .order_by(R.c.id.desc())
        .limit(limit + 1)
    )
    for column, value in (
        (R.c.automation_id, automation_id),
        (R.c.record_type_id, record_type_id),
        (R.c.record_id, record_id),
        (R.c.state, state),
    ):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(R.c.id < before)
    with transaction(runtime.control) as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": [public(r) for r in rows],
        "next_before": rows[-1]["id"] if more and rows else None,
    }


def overview(runtime: Runtime, acc: Access) -> dict[int, dict[str, Any]]:
    """Per automation of the workspace that has runs: its latest run (``last``: state and
    when) and how many runs wait in the dead letter (``dead``), for the list of automations
    (two grouped queries, however many automations there are)."""
    mine = R.c.workspace_id == acc.workspace_id
    latest = select(func.max(R.c.id)).where(mine).group_by(R.c.automation_id)
    dead = (
        select(R.c.automation_id, func.count())
        .where(mine, R.c.state == "dead")
        .group_by(R.c.automation_id)
    )
    last = select(R.c.automation_id, R.c.state, R.c.created_at).where(R.c.id.in_(latest))
    found: dict[int, dict[str, Any]] = {}
    with transaction(runtime.control) as conn:
        for row in conn.execute(last):
            found[row.automation_id] = {
                "last": {"state": row.state, "at": row.created_at},
                "dead": 0,
            }
        for automation_id, count in conn.execute(dead):
            found.setdefault(automation_id, {"last": None, "dead": 0})["dead"] = count
    return found


def get_run(runtime: Runtime, acc: Access, run_id: int) -> dict[str, Any]:
    """A run with every step it logged (each attempt of a step is a line)."""
    with transaction(runtime.control) as conn:
        row = (
            conn.execute(
                select(R, A.c.name)
                .join(A, A.c.id == R.c.automation_id)
                .where(R.c.id == run_id, R.c.workspace_id == acc.workspace_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound("run not found")
        steps = conn.execute(select(S).where(S.c.run_id == run_id).order_by(S.c.id)).mappings()
        logged = [_step(dict(s)) for s in steps]
    return {**public(dict(row)), "steps": logged}


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "automation": row["automation_id"],
        "automation_name": row.get("name"),
        "record_type": row["record_type_id"],
        "record": row["record_id"],
        "state": row["state"],
        "step": row["step"],
        "error": row["error"],
        "trigger": row["trigger"],
        "chain": row["chain"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


def _step(row: Mapping[str, Any]) -> dict[str, Any]:
    took = (row["finished_at"] - row["started_at"]).total_seconds() * 1000
    return {
        "position": row["position"],
        "action": row["action"],
        "attempt": row["attempt"],
        "state": row["state"],
        "input": row["input"],
        "output": row["output"],
        "error": row["error"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "ms": round(took, 3),
    }


# ---- the dead letter -------------------------------------------------------------------


def replay(runtime: Runtime, acc: Access, run_ids: Iterable[int]) -> list[int]:
    """Run dead runs again from the step that failed; returns the ids replayed (runs in
    another state are left alone)."""
    values = {"state": "retrying", "error": None, "finished_at": None}
    return _move(runtime, acc, run_ids, ("dead",), values, requeue=True)


def dismiss(runtime: Runtime, acc: Access, run_ids: Iterable[int]) -> list[int]:
    """Set dead (or loop-guard-stopped) runs aside: kept in the log, out of the dead letter."""
    values = {"state": "dismissed", "finished_at": utcnow()}
    return _move(runtime, acc, run_ids, ("dead", "stopped"), values, requeue=False)


def _move(
    runtime: Runtime,
    acc: Access,
    run_ids: Iterable[int],
    states: tuple[str, ...],
    values: dict[str, Any],
    *,
    requeue: bool,
) -> list[int]:
    """Change the runs among ``run_ids`` that are in one of ``states``; their ids."""
    acc.require("member")
    done = []
    with transaction(runtime.control, write=True) as conn:
        for run_id in _ids(run_ids):
            mine = (R.c.id == run_id, R.c.workspace_id == acc.workspace_id, R.c.state.in_(states))
            if conn.execute(update(R).where(*mine).values(values)).rowcount:
                if requeue:
                    _enqueue(conn, run_id, acc.workspace_id)
                done.append(run_id)
    return done


def _ids(values: Iterable[Any]) -> list[int]:
    ids = list(values)
    if not ids or len(ids) > PAGE_MAX:
        raise ValidationFailed.single("runs", f"must list from 1 to {PAGE_MAX} run ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise ValidationFailed.single("runs", "must be run ids")
    return ids
