"""The worker's side of the queue: claiming due jobs under a lease, renewing leases, and
recording how an attempt ended. Each function is one short transaction of its own.

A claim is two statements in one transaction: select a batch of due rows ``FOR UPDATE SKIP
LOCKED`` (rows another worker is claiming are passed over, not waited for), then mark them
running with this claim's token. Rows whose lease ran out are claimed the same way, with the
attempt counted; one out of attempts is dead instead (its worker kept dying on it).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, or_, select, update

from workspace import models as m
from workspace.db import transaction
from workspace.jobs.kinds import Job, JobKind

log = logging.getLogger(__name__)
J = m.jobs
DUE_STATES = ("queued", "failed")


def claim(
    engine: Engine,
    kinds: Collection[str],
    *,
    limit: int,
    worker: str,
    lease: dt.timedelta,
    now: dt.datetime,
) -> list[Job]:
    """Claim up to ``limit`` due jobs of ``kinds`` (only kinds this process can run)."""
    if not kinds or not _anything_due(engine, kinds, now):
        return []
    token = uuid.uuid4().hex
    with transaction(engine, write=True) as conn:
        rows = _lock_due(conn, kinds, limit, now)
        if not rows:
            return []
        spent = [r["id"] for r in rows if _out_of_attempts(r)]
        if spent:
            _bury(conn, spent, now)
        ids = [r["id"] for r in rows if r["id"] not in spent]
        if ids:
            conn.execute(
                update(J)
                .where(J.c.id.in_(ids))
                .values(
                    state="running",
                    attempts=J.c.attempts + 1,
                    lease_token=token,
                    lease_until=now + lease,
                    worker=worker,
                    started_at=now,
                )
            )
    claimed = [dict(r, attempts=r["attempts"] + 1) for r in rows if r["id"] in ids]
    return [Job.from_row(r, token, now) for r in claimed]


def _due(kinds: Collection[str], now: dt.datetime) -> ColumnElement[bool]:
    return or_(*(_due_in(state, kinds, now) for state in (*DUE_STATES, "running")))


def _due_in(state: str, kinds: Collection[str], now: dt.datetime) -> ColumnElement[bool]:
    """Due jobs in one state: waiting ones whose time came, running ones whose lease ran out.
    One state at a time, so the index on (state, run_at, id) gives them in order."""
    when = J.c.lease_until < now if state == "running" else J.c.run_at <= now
    return and_(J.c.state == state, when, J.c.kind.in_(sorted(kinds)))


def _anything_due(engine: Engine, kinds: Collection[str], now: dt.datetime) -> bool:
    """A read first: an idle worker polls without taking any write lock (on SQLite a write
    transaction would block every other writer while it looks)."""
    with transaction(engine) as conn:
        return conn.execute(select(J.c.id).where(_due(kinds, now)).limit(1)).first() is not None


def _lock_due(
    conn: Connection, kinds: Collection[str], limit: int, now: dt.datetime
) -> list[dict[str, Any]]:
    """Lock up to ``limit`` due rows: queued first, then retries, then orphans."""
    rows: list[dict[str, Any]] = []
    for state in (*DUE_STATES, "running"):
        query = (
            select(J)
            .where(_due_in(state, kinds, now))
            .order_by(J.c.run_at, J.c.id)
            .limit(limit - len(rows))
            .with_for_update(skip_locked=True)
        )
        rows += [dict(r) for r in conn.execute(query).mappings()]
        if len(rows) == limit:
            break
    return rows


def _out_of_attempts(row: dict[str, Any]) -> bool:
    return bool(row["state"] == "running" and row["attempts"] >= row["max_attempts"])


def _bury(conn: Connection, ids: list[int], now: dt.datetime) -> None:
    conn.execute(
        update(J)
        .where(J.c.id.in_(ids))
        .values(
            state="dead",
            finished_at=now,
            lease_token=None,
            lease_until=None,
            live_key=None,
            last_error="the worker running it stopped (its lease ran out) on every attempt",
        )
    )
    log.warning("jobs %s are dead: their workers stopped on every attempt", ids)


def renew(engine: Engine, tokens: Collection[str], lease: dt.timedelta, now: dt.datetime) -> None:
    """Extend the leases of the claims this worker holds."""
    if not tokens:
        return
    with transaction(engine, write=True) as conn:
        conn.execute(
            update(J)
            .where(J.c.lease_token.in_(sorted(tokens)), J.c.state == "running")
            .values(lease_until=now + lease)
        )


def done(engine: Engine, job: Job, now: dt.datetime) -> None:
    """The handler returned without finishing the job itself: finish it now (nothing happens
    if it did finish, rescheduled, or lost it meanwhile)."""
    with transaction(engine, write=True) as conn:
        conn.execute(
            _held(job).values(
                state="done", finished_at=now, lease_token=None, lease_until=None, live_key=None
            )
        )


def failed(engine: Engine, job: Job, kind: JobKind, error: str, now: dt.datetime) -> str:
    """Record a failed attempt: retried after the kind's backoff, or dead when it was the
    last. Returns the state the job is left in."""
    last = job.attempts >= min(job.max_attempts, kind.max_attempts)
    values: dict[str, Any] = {
        "last_error": error[:10_000],
        "lease_token": None,
        "lease_until": None,
    }
    if last:
        values.update(state="dead", finished_at=now, live_key=None)
    else:
        values.update(state="failed", run_at=now + kind.backoff(job.attempts))
    with transaction(engine, write=True) as conn:
        changed = conn.execute(_held(job).values(**values)).rowcount
    return ("dead" if last else "failed") if changed else "lost"


def release(engine: Engine, jobs: list[Job]) -> None:
    """Give back jobs claimed but not started (the worker is stopping): queued again, the
    attempt not counted."""
    for job in jobs:
        with transaction(engine, write=True) as conn:
            conn.execute(
                _held(job).values(
                    state="queued",
                    attempts=J.c.attempts - 1,
                    lease_token=None,
                    lease_until=None,
                )
            )


def _held(job: Job) -> Any:
    return update(J).where(
        J.c.id == job.id, J.c.lease_token == job.lease_token, J.c.state == "running"
    )
