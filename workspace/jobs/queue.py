"""The job queue as the rest of the server uses it, always inside the caller's transaction.

One table (``jobs``) runs every background task. What was taken from the database-backed
queues that run large production loads without a broker:

* **Claiming** (Solid Queue's ``ReadyExecution.claim``, Oban's ``fetch_jobs``): a worker
  selects a batch of due rows in ``run_at`` order with ``FOR UPDATE SKIP LOCKED`` (MySQL 8,
  MariaDB 10.6+) and marks them running in the same short transaction, so workers never wait
  for each other and never take the same row. SQLite has one writer at a time (``BEGIN
  IMMEDIATE``), which gives the same guarantee. See ``workspace.jobs.claims``.
* **Leases** (good_job's and Oban's Lifeline idea, with a deadline instead of a session
  lock, because a pooled MySQL connection is not a process): each claim carries a token and
  ``lease_until``; the worker renews it while the job runs; a row whose lease ran out is
  taken over by another worker, counting an attempt, and dies when it is out of attempts
  (Lifeline discards such a job rather than retrying it forever).
* **Exactly once inside the database**: a handler calls :func:`finish` in the transaction
  that writes its effects; :func:`finish` re-checks the token, so a worker whose job was
  taken over raises :class:`LeaseLost` and its transaction (effects included) rolls back.
* **Retries** (Oban's backoff): a failed attempt waits exponentially longer, with jitter;
  after the last one the job is ``dead`` with its error, until someone replays it.
* **Unique jobs** (Oban's ``unique``, Solid Queue's concurrency keys): ``key`` is unique
  among the unfinished jobs of a kind, enforced by a unique index on ``live_key`` (the key
  while unfinished, NULL after), not by a read-then-write check.
* **Recurring tasks** (Solid Queue's recurring executions decide through a unique index
  which scheduler enqueues a run): here each periodic task is one job row that reschedules
  itself, so one claim decides which worker runs it.
* **Pruning** (Oban's Pruner): finished jobs and dispatched events are deleted after
  ``WORKSPACE_JOBS_KEEP_DAYS`` by a periodic task, in bounded batches.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id
from workspace.errors import Conflict, NotFound
from workspace.jobs.kinds import Job
from workspace.leases import LeaseLost

J = m.jobs
INSERT = insert(J)
#: The job, while this worker holds it.
HELD = update(J).where(
    J.c.id == bindparam("job_id"),
    J.c.lease_token == bindparam("token"),
    J.c.state == "running",
)
STATES = ("queued", "running", "done", "failed", "dead", "cancelled")
#: States a job can still run from: its key is taken while it is in one of these.
UNFINISHED = ("queued", "running", "failed")

__all__ = [
    "STATES",
    "UNFINISHED",
    "LeaseLost",
    "cancel",
    "enqueue",
    "finish",
    "get",
    "progress",
    "replay",
    "reschedule",
]


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    workspace_id: int | None,
    run_at: dt.datetime | None = None,
    key: str | None = None,
    max_attempts: int = 5,
) -> int | None:
    """Queue a job in the caller's transaction (it exists exactly when that commits); its id,
    or None when an unfinished job of this kind already holds ``key``."""
    now = utcnow()
    row = {
        "workspace_id": workspace_id,
        "kind": kind,
        "payload": payload,
        "state": "queued",
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "key": key,
        "live_key": key,
        "created_at": now,
    }
    if key is None:
        return inserted_id(conn.execute(INSERT, row))
    try:
        with conn.begin_nested():
            return inserted_id(conn.execute(INSERT, row))
    except IntegrityError:
        return None


def finish(conn: Connection, job: Job, result: Any = None) -> None:
    """Mark ``job`` done in the caller's transaction, the one that wrote its effects.

    Raises :class:`LeaseLost` if the job is no longer this worker's (its lease ran out and
    another worker took it, or it was cancelled): the caller's transaction must then roll
    back, which it does when the exception leaves its ``with transaction(...)`` block.
    """
    now = utcnow()
    _mine(
        conn,
        job,
        "done",
        state="done",
        result=result,
        finished_at=now,
        lease_token=None,
        lease_until=None,
        live_key=None,
    )


def reschedule(conn: Connection, job: Job, run_at: dt.datetime) -> None:
    """Put ``job`` back in the queue until ``run_at`` (a durable wait): it keeps its key and
    the attempt it is on does not count. Raises :class:`LeaseLost` as :func:`finish` does."""
    _mine(
        conn,
        job,
        "queued",
        state="queued",
        run_at=run_at,
        attempts=J.c.attempts - 1,
        lease_token=None,
        lease_until=None,
    )


def progress(
    conn: Connection,
    job: Job,
    *,
    done: int,
    total: int | None = None,
    message: str | None = None,
) -> None:
    """Record how far a long job is (shown with the job); raises :class:`LeaseLost` when the
    job is no longer this worker's, so a long job learns early that it should stop."""
    _mine(conn, job, None, progress={"done": done, "total": total, "message": message})


def _mine(conn: Connection, job: Job, ends: str | None, **values: Any) -> None:
    params = {"job_id": job.id, "token": job.lease_token}
    done = conn.execute(HELD.values(**values), params).rowcount
    if done != 1:
        raise LeaseLost(f"job {job.id} is no longer held by this worker")
    if ends is not None:
        job.ended.append(ends)


def get(conn: Connection, job_id: int, *, workspace_id: int | None = None) -> dict[str, Any]:
    """One job as stored (without its lease token)."""
    query = select(J).where(J.c.id == job_id)
    if workspace_id is not None:
        query = query.where(J.c.workspace_id == workspace_id)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("job not found")
    return {k: v for k, v in row.items() if k not in {"lease_token", "live_key"}}


def replay(conn: Connection, job_id: int, *, workspace_id: int | None = None) -> None:
    """Run a dead (or cancelled) job again from a fresh count of attempts. Refused (409)
    while another unfinished job of its kind holds its key."""
    job = get(conn, job_id, workspace_id=workspace_id)
    if job["state"] not in {"dead", "cancelled"}:
        raise Conflict(f"job {job_id} is {job['state']}; only dead or cancelled jobs replay")
    try:
        with conn.begin_nested():
            conn.execute(
                update(J)
                .where(J.c.id == job_id, J.c.state == job["state"])
                .values(
                    state="queued",
                    attempts=0,
                    run_at=utcnow(),
                    live_key=job["key"],
                    finished_at=None,
                )
            )
    except IntegrityError:
        raise Conflict(
            f"another unfinished {job['kind']} job holds the key {job['key']!r}"
        ) from None


def cancel(conn: Connection, job_id: int, *, workspace_id: int | None = None) -> bool:
    """Cancel an unfinished job; False if it had finished already. A running job's worker
    finds out when it next calls :func:`finish` or :func:`progress` (``LeaseLost``), so
    nothing the job writes after the cancel commits."""
    query = update(J).where(J.c.id == job_id, J.c.state.in_(UNFINISHED))
    if workspace_id is not None:
        query = query.where(J.c.workspace_id == workspace_id)
    done = conn.execute(
        query.values(
            state="cancelled",
            finished_at=utcnow(),
            lease_token=None,
            lease_until=None,
            live_key=None,
        )
    ).rowcount
    if done == 0:
        get(conn, job_id, workspace_id=workspace_id)  # 404 if there is no such job
    return done == 1
