"""Job kinds and a periodic task for the queue's tests, loadable in a worker process too
(``WORKSPACE_PLUGIN_MODULES=tests.plugins.job_counter``).

Each kind writes rows to ``test_job_effects`` so the tests can count in SQL how often a job's
effect committed. The table has no unique key on ``job_id`` on purpose: a job run twice
must show as two rows, not as an error that hides it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, func, insert, select

from workspace.db import transaction
from workspace.hookspecs import hookimpl
from workspace.jobs import queue
from workspace.jobs.kinds import Job, JobKind, PeriodicTask, exponential

metadata = MetaData()
effects = Table(
    "test_job_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False),
    # effect | failure | waited | tick
    Column("what", String(16), nullable=False),
    Column("pid", Integer, nullable=False),
)
#: Kinds whose unfinished jobs each test's fixture cancels at its end.
KINDS = ("test.count", "test.flaky", "test.noop", "test.wait")


def effect(conn: Any, job_id: int, what: str = "effect") -> None:
    conn.execute(insert(effects).values(job_id=job_id, what=what, pid=os.getpid()))


def count(conn: Any, job_id: int, what: str) -> int:
    query = select(func.count()).where(effects.c.job_id == job_id, effects.c.what == what)
    return int(conn.execute(query).scalar_one())


def _count(runtime: Any, job: Job) -> None:
    """The effect and the finish in one transaction; ``sleep`` seconds between them give a
    SIGKILL something to interrupt; ``progress`` reports progress first."""
    with transaction(runtime.control, write=True) as conn:
        effect(conn, job.id)
        if job.payload.get("progress"):
            queue.progress(conn, job, done=1, total=2, message="half way")
        if job.payload.get("sleep"):
            time.sleep(job.payload["sleep"])
        queue.finish(conn, job, result={"pid": os.getpid()})


def _flaky(runtime: Any, job: Job) -> None:
    """Fails its first ``fail_times`` runs (counted in SQL, across replays), then works."""
    with transaction(runtime.control, write=True) as conn:
        failures = count(conn, job.id, "failure")
        if failures < job.payload["fail_times"]:
            effect(conn, job.id, "failure")
    if failures < job.payload["fail_times"]:
        raise RuntimeError(f"flaky failure {failures + 1}")
    _count(runtime, job)


def _noop(runtime: Any, job: Job) -> None:
    """Returns without finishing: the worker finishes it."""


def _wait(runtime: Any, job: Job) -> None:
    """Waits an hour (durably) the first time, then counts."""
    with transaction(runtime.control, write=True) as conn:
        if count(conn, job.id, "waited") == 0:
            effect(conn, job.id, "waited")
            queue.reschedule(conn, job, job.claimed_at + dt.timedelta(hours=1))
            return
    _count(runtime, job)


def _tick(runtime: Any) -> None:
    with transaction(runtime.control, write=True) as conn:
        effect(conn, 0, "tick")


@hookimpl
def register_job_kinds(register: Any) -> None:
    register(JobKind("test.count", _count))
    register(JobKind("test.flaky", _flaky, max_attempts=3, backoff=exponential(60, 2)))
    register(JobKind("test.noop", _noop))
    register(JobKind("test.wait", _wait))


@hookimpl
def register_periodic_tasks(register: Any) -> None:
    register(PeriodicTask("test.tick", dt.timedelta(minutes=1), _tick))
