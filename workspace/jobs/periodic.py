"""Periodic tasks as jobs: each task is one row of the queue that reschedules itself.

Whichever worker claims the row runs the task, so it runs once per interval however many
workers there are; if that worker dies, the lease runs out and another one takes it over.
A task that raises is logged and runs again at its next interval (it never goes dead).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from functools import partial

from sqlalchemy import Engine

from workspace.db import transaction
from workspace.errors import Unavailable
from workspace.jobs import queue
from workspace.jobs.kinds import PERIODIC, Job, JobKind, PeriodicTask
from workspace.runtime import Runtime

log = logging.getLogger(__name__)


def as_kind(task: PeriodicTask) -> JobKind:
    return JobKind(PERIODIC + task.name, partial(_run, task), max_attempts=1_000_000)


def _run(task: PeriodicTask, runtime: Runtime, job: Job) -> None:
    try:
        task.run(runtime)
    except Unavailable as exc:
        log.warning("periodic task %s waits for the database: %s", task.name, exc)
    except Exception:
        log.exception("periodic task %s failed; it runs again in %s", task.name, task.every)
    following = max(job.run_at, job.claimed_at) + task.every
    with transaction(runtime.control, write=True) as conn:
        queue.reschedule(conn, job, following)


def ensure(engine: Engine, tasks: Iterable[PeriodicTask], now: dt.datetime) -> None:
    """Give every task its row (a task that has one keeps it: the unique key decides)."""
    for task in tasks:
        with transaction(engine, write=True) as conn:
            queue.enqueue(
                conn, PERIODIC + task.name, {}, workspace_id=None, key=task.name, run_at=now
            )
