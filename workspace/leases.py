"""Leases on long background jobs (file backend migrations, moves of record data): the
process working on a job renews ``lease_until`` on its row; one that dies leaves a lease
that runs out, and whoever claims the job next carries on from the job's own progress.

A job's table has ``id``, ``state``, ``lease_token`` and ``lease_until``; what counts as
running and how long a lease lasts are the job's own.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, Table, and_, or_, select, update

from workspace.clock import utcnow
from workspace.db import transaction

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The job was cancelled or taken over by another process: this one stops without
    writing anything more."""


@dataclass(frozen=True)
class Claim:
    """The right to work on a job: its id and the lease token this process holds."""

    id: int
    token: str


def claim_orphans(
    control: Engine, jobs: Table, running: ColumnElement[bool], lease: dt.timedelta
) -> list[Claim]:
    """Take over every running job whose worker's lease ran out (each claimed by exactly one
    process: the update re-checks the expiry)."""
    expired = and_(running, or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < utcnow()))
    with transaction(control) as conn:
        ids = list(conn.execute(select(jobs.c.id).where(expired)).scalars())
    claims = []
    for job_id in ids:
        token = uuid.uuid4().hex
        with transaction(control, write=True) as conn:
            taken = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, expired)
                .values(lease_token=token, lease_until=utcnow() + lease)
            ).rowcount
        if taken == 1:
            claims.append(Claim(job_id, token))
    return claims


def outcome(
    job: str,
    work: Callable[[], None],
    fail: Callable[[str], None],
    stopped: Callable[[Exception], str | None],
) -> str:
    """Run a job's ``work`` and return how it ended: done, lost (the lease went to someone
    else), or failed, after ``fail(reason)``. ``stopped`` gives the reason of an expected
    stop (the job's own errors; None for anything else). Anything unexpected (a bug, a
    database outage) fails the job too, with the reason on its page, rather than leave a
    job that looks alive; an admin can retry it."""
    try:
        work()
    except LeaseLost:
        return "lost"
    except Exception as exc:
        reason = stopped(exc)
        if reason is not None:
            log.warning("%s failed: %s", job, reason)
        else:
            log.exception("%s failed", job)
            reason = f"unexpected error: {type(exc).__name__}: {exc}"
        fail(reason)
        return "failed"
    return "done"
