"""The job queue: enqueue with unique keys, claims under a lease, takeover of an expired
lease, retries with backoff, the dead letter and replay, cancel, durable waits, progress,
periodic tasks, the dispatch of outbox events, and real worker processes (killed with
SIGKILL mid-way; two at once on MariaDB) doing every job exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import func, select, update

from tests.helpers import field, make_type, records_path
from tests.plugins import job_counter
from tests.plugins.job_counter import effects
from tests.workers import stop, wait_for, worker_process
from workspace import models as m
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.cli import cli
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import Conflict
from workspace.jobs import claims, queue
from workspace.jobs.kinds import exponential
from workspace.jobs.worker import Worker, registries, run_until_idle
from workspace.leases import LeaseLost
from workspace.plugins import make_plugin_manager
from workspace.runtime import Runtime
from workspace.settings import Settings

J = m.jobs
ROOT = Path(__file__).parent.parent


@pytest.fixture
def jobs(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose plugins include the test job kinds; the effects table exists and the
    test's unfinished test jobs are cancelled afterwards (the database is shared)."""
    pm = make_plugin_manager(settings)
    pm.register(job_counter, name="test-job-counter")
    runtime = build_runtime(settings, pm)
    job_counter.metadata.create_all(runtime.control)
    yield runtime
    _cancel_test_jobs(runtime)
    runtime.close()


def _cancel_test_jobs(runtime: Runtime) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(J)
            .where(J.c.kind.in_(job_counter.KINDS), J.c.state.in_(queue.UNFINISHED))
            .values(state="cancelled", live_key=None, lease_token=None)
        )


def add(runtime: Runtime, kind: str, payload: dict[str, Any] | None = None, **kw: Any) -> Any:
    with transaction(runtime.control, write=True) as conn:
        return queue.enqueue(conn, kind, payload or {}, workspace_id=None, **kw)


def row(runtime: Runtime, job_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        return dict(conn.execute(select(J).where(J.c.id == job_id)).mappings().one())


def effects_of(runtime: Runtime, job_id: int, what: str = "effect") -> int:
    with transaction(runtime.control) as conn:
        return job_counter.count(conn, job_id, what)


# ---- enqueue, claim, finish --------------------------------------------------------------


def test_a_job_runs_once_and_is_done(jobs):
    job_id = add(jobs, "test.count")
    assert row(jobs, job_id)["state"] == "queued"
    assert run_until_idle(jobs) >= 1
    done = row(jobs, job_id)
    assert (done["state"], done["attempts"], done["lease_token"]) == ("done", 1, None)
    assert done["result"] == {"pid": os.getpid()} and done["finished_at"] is not None
    assert effects_of(jobs, job_id) == 1
    run_until_idle(jobs)
    assert effects_of(jobs, job_id) == 1


def test_an_enqueue_rolled_back_leaves_no_job(jobs):
    with pytest.raises(RuntimeError), transaction(jobs.control, write=True) as conn:
        job_id = queue.enqueue(conn, "test.count", {}, workspace_id=None)
        raise RuntimeError("the caller's change failed")
    with transaction(jobs.control) as conn:
        assert conn.execute(select(J).where(J.c.id == job_id)).first() is None


def test_a_key_is_held_by_one_unfinished_job_of_a_kind(jobs):
    key = f"sync-{time.time_ns()}"
    first = add(jobs, "test.count", key=key)
    assert first is not None
    assert add(jobs, "test.count", key=key) is None
    other_kind = add(jobs, "test.noop", key=key)
    assert other_kind is not None
    run_until_idle(jobs)
    again = add(jobs, "test.count", key=key)
    assert again not in (None, first)
    assert row(jobs, first)["key"] == key and row(jobs, first)["live_key"] is None


def test_a_handler_that_returns_without_finishing_is_finished_by_the_worker(jobs):
    job_id = add(jobs, "test.noop")
    run_until_idle(jobs)
    assert row(jobs, job_id)["state"] == "done"


def test_progress_is_kept_with_the_job(jobs):
    job_id = add(jobs, "test.count", {"progress": True})
    run_until_idle(jobs)
    assert row(jobs, job_id)["progress"] == {"done": 1, "total": 2, "message": "half way"}


# ---- leases ------------------------------------------------------------------------------


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_finish(jobs):
    job_id = add(jobs, "test.count")
    start = utcnow()
    lease = dt.timedelta(seconds=jobs.settings.job_lease_seconds)
    kinds = ["test.count"]
    (stale,) = [
        j
        for j in claims.claim(jobs.control, kinds, limit=100, worker="dead", lease=lease, now=start)
        if j.id == job_id
    ]
    # Before the lease runs out nobody else takes it...
    run_until_idle(jobs, now=start + lease - dt.timedelta(seconds=1))
    assert row(jobs, job_id)["state"] == "running" and effects_of(jobs, job_id) == 0
    # ...after, a worker takes it over, counting the attempt.
    run_until_idle(jobs, now=start + lease + dt.timedelta(seconds=1))
    assert (row(jobs, job_id)["state"], row(jobs, job_id)["attempts"]) == ("done", 2)
    # The first worker wakes up and tries to commit its effect with the finish: refused,
    # and its effect rolls back with it.
    with pytest.raises(LeaseLost), transaction(jobs.control, write=True) as conn:
        job_counter.effect(conn, job_id)
        queue.finish(conn, stale)
    assert effects_of(jobs, job_id) == 1


def test_a_job_whose_workers_keep_dying_goes_dead(jobs):
    job_id = add(jobs, "test.count", max_attempts=2)
    lease = dt.timedelta(seconds=jobs.settings.job_lease_seconds)
    moment = utcnow()
    for _ in range(2):
        claimed = claims.claim(
            jobs.control, ["test.count"], limit=100, worker="dying", lease=lease, now=moment
        )
        assert job_id in [j.id for j in claimed]
        moment += lease + dt.timedelta(seconds=1)
    run_until_idle(jobs, now=moment)
    dead = row(jobs, job_id)
    assert dead["state"] == "dead" and "lease ran out" in dead["last_error"]
    assert effects_of(jobs, job_id) == 0


# ---- failures, backoff, the dead letter --------------------------------------------------


def test_a_failing_job_is_retried_with_backoff_then_dead_then_replayed(jobs):
    job_id = add(jobs, "test.flaky", {"fail_times": 3})
    now = utcnow()
    run_until_idle(jobs, now=now)
    first = row(jobs, job_id)
    assert (first["state"], first["attempts"]) == ("failed", 1)
    assert "flaky failure 1" in first["last_error"]
    wait = first["run_at"] - now
    assert dt.timedelta(seconds=53) < wait < dt.timedelta(seconds=67)  # 60 s, give or take
    run_until_idle(jobs, now=now + dt.timedelta(seconds=30))
    assert row(jobs, job_id)["attempts"] == 1  # not due yet
    run_until_idle(jobs, now=now + dt.timedelta(minutes=2))
    assert (row(jobs, job_id)["state"], row(jobs, job_id)["attempts"]) == ("failed", 2)
    run_until_idle(jobs, now=now + dt.timedelta(minutes=10))
    dead = row(jobs, job_id)
    assert (dead["state"], dead["attempts"]) == ("dead", 3)  # the kind allows 3
    assert "flaky failure 3" in dead["last_error"] and dead["live_key"] is None
    run_until_idle(jobs, now=now + dt.timedelta(days=1))
    assert effects_of(jobs, job_id, "failure") == 3 and effects_of(jobs, job_id) == 0
    with transaction(jobs.control, write=True) as conn:
        queue.replay(conn, job_id)
    assert (row(jobs, job_id)["state"], row(jobs, job_id)["attempts"]) == ("queued", 0)
    run_until_idle(jobs)
    assert row(jobs, job_id)["state"] == "done" and effects_of(jobs, job_id) == 1


def test_only_dead_or_cancelled_jobs_replay(jobs):
    job_id = add(jobs, "test.count")
    with (
        pytest.raises(Conflict, match="only dead or cancelled"),
        transaction(jobs.control, write=True) as conn,
    ):
        queue.replay(conn, job_id)


def test_the_default_backoff_spreads_five_attempts_over_about_an_hour():
    waits = [exponential()(n).total_seconds() for n in range(1, 5)]
    assert waits == sorted(waits)
    assert 0.85 * 3600 < sum(waits) < 1.15 * 3600


# ---- cancel and durable waits -------------------------------------------------------------


def test_a_cancelled_job_does_not_run_and_a_running_one_cannot_commit(jobs):
    queued = add(jobs, "test.count")
    with transaction(jobs.control, write=True) as conn:
        assert queue.cancel(conn, queued) is True
        assert queue.cancel(conn, queued) is False
    running = add(jobs, "test.count")
    lease = dt.timedelta(minutes=1)
    (job,) = [
        j
        for j in claims.claim(
            jobs.control, ["test.count"], limit=100, worker="w", lease=lease, now=utcnow()
        )
        if j.id == running
    ]
    with transaction(jobs.control, write=True) as conn:
        queue.cancel(conn, running)
    with pytest.raises(LeaseLost), transaction(jobs.control, write=True) as conn:
        job_counter.effect(conn, running)
        queue.finish(conn, job)
    run_until_idle(jobs)
    assert effects_of(jobs, queued) == 0 and effects_of(jobs, running) == 0
    assert row(jobs, queued)["state"] == row(jobs, running)["state"] == "cancelled"


def test_a_durable_wait_puts_the_job_back_until_its_time(jobs):
    job_id = add(jobs, "test.wait")
    now = utcnow()
    run_until_idle(jobs, now=now)
    waiting = row(jobs, job_id)
    assert (waiting["state"], waiting["attempts"]) == ("queued", 0)
    assert waiting["run_at"] == now + dt.timedelta(hours=1)
    run_until_idle(jobs, now=now + dt.timedelta(minutes=59))
    assert effects_of(jobs, job_id) == 0
    run_until_idle(jobs, now=now + dt.timedelta(hours=1, seconds=1))
    assert row(jobs, job_id)["state"] == "done" and effects_of(jobs, job_id) == 1


# ---- periodic tasks -----------------------------------------------------------------------


def _ticks(runtime: Runtime) -> int:
    with transaction(runtime.control) as conn:
        return job_counter.count(conn, 0, "tick")


def test_a_periodic_task_runs_once_per_interval(jobs):
    run_until_idle(jobs)  # the task has its row (and runs if it is due)
    with transaction(jobs.control) as conn:
        due = conn.execute(select(J.c.run_at).where(J.c.kind == "periodic:test.tick")).scalar_one()
    before = _ticks(jobs)
    run_until_idle(jobs, now=due)
    assert _ticks(jobs) == before + 1
    run_until_idle(jobs, now=due + dt.timedelta(seconds=30))
    assert _ticks(jobs) == before + 1
    run_until_idle(jobs, now=due + dt.timedelta(seconds=61))
    assert _ticks(jobs) == before + 2
    # Another process's worker finds the task's row and adds none.
    other = build_runtime(jobs.settings, jobs.pm)
    run_until_idle(other, now=due + dt.timedelta(seconds=61))
    other.close()
    with transaction(jobs.control) as conn:
        rows = conn.execute(select(func.count()).where(J.c.kind == "periodic:test.tick"))
        assert rows.scalar_one() == 1
    assert _ticks(jobs) == before + 2


def test_the_worker_prunes_what_it_finished_long_ago(jobs):
    old = add(jobs, "test.noop")
    run_until_idle(jobs)
    long_ago = utcnow() - dt.timedelta(days=jobs.settings.jobs_keep_days + 1)
    with transaction(jobs.control, write=True) as conn:
        conn.execute(update(J).where(J.c.id == old).values(finished_at=long_ago))
    recent = add(jobs, "test.noop")
    run_until_idle(jobs)
    from workspace.jobs import prune

    prune.prune(jobs)
    with transaction(jobs.control) as conn:
        left = set(conn.execute(select(J.c.id).where(J.c.id.in_([old, recent]))).scalars())
    assert left == {recent}


# ---- the outbox ---------------------------------------------------------------------------


class EventCounter:
    """A consumer that enqueues a test.count job for each event of its workspace."""

    def __init__(self, workspace_id: int, fail: bool = False) -> None:
        self.workspace_id, self.fail = workspace_id, fail
        self.seen: list[Any] = []

    def __call__(self, conn: Any, event: Any) -> None:
        if event.workspace_id != self.workspace_id:
            return
        if self.fail:
            raise RuntimeError("this consumer is broken")
        self.seen.append(event)
        queue.enqueue(conn, "test.count", {"event": event.id}, workspace_id=event.workspace_id)


def _consumers(*consumers: Any) -> Any:
    from workspace import hookimpl

    class Plugin:
        @hookimpl
        def register_event_consumers(self, register: Any) -> None:
            for consumer in consumers:
                register(consumer)

    return Plugin()


def test_events_reach_consumers_and_what_they_enqueue_commits_with_the_dispatch(
    settings, api, ws, caplog
):
    counter, broken = EventCounter(ws), EventCounter(ws, fail=True)
    pm = make_plugin_manager(settings)
    pm.register(job_counter, name="test-job-counter")
    pm.register(_consumers(broken, counter), name="test-consumers")
    runtime = build_runtime(settings, pm)
    job_counter.metadata.create_all(runtime.control)
    try:
        rt, rows = make_type(api, ws, "Lead", field("Name", "text"), rows=[{"name": "Ada"}])
        api.patch(f"{records_path(ws, rt)}/{rows[0]['id']}", {"fields": {"name": "Ada L."}})
        with caplog.at_level(logging.ERROR, logger="workspace.jobs.dispatch"):
            run_until_idle(runtime)
        assert [e.kind for e in counter.seen] == ["record.created", "record.updated"]
        assert counter.seen[1].changed("name") == {"field": "name", "old": "Ada", "new": "Ada L."}
        assert "EventCounter failed on event" in caplog.text
        with transaction(runtime.control) as conn:
            pending = conn.execute(
                select(func.count()).where(
                    m.event_outbox.c.workspace_id == ws, m.event_outbox.c.dispatched_at.is_(None)
                )
            ).scalar_one()
            counted = conn.execute(
                select(func.count())
                .select_from(J)
                .where(J.c.workspace_id == ws, J.c.kind == "test.count", J.c.state == "done")
            ).scalar_one()
        assert pending == 0 and counted == 2
        run_until_idle(runtime)
        assert len(counter.seen) == 2  # dispatched once
    finally:
        runtime.close()


# ---- worker threads and processes ---------------------------------------------------------


def _many(runtime: Runtime, n: int, payload: dict[str, Any]) -> list[int]:
    now = utcnow()
    with transaction(runtime.control, write=True) as conn:
        first = queue.enqueue(conn, "test.count", payload, workspace_id=None, run_at=now)
        conn.execute(
            J.insert(),
            [
                {
                    "workspace_id": None,
                    "kind": "test.count",
                    "payload": payload,
                    "state": "queued",
                    "run_at": now,
                    "attempts": 0,
                    "max_attempts": 5,
                    "created_at": now,
                }
                for _ in range(n - 1)
            ],
        )
        ids = list(
            conn.execute(
                select(J.c.id).where(J.c.id >= first, J.c.kind == "test.count").order_by(J.c.id)
            ).scalars()
        )
    assert len(ids) == n
    return ids


def _tally(runtime: Runtime, ids: list[int]) -> dict[str, Any]:
    """Per job how many effects committed, the states, and effects per process."""
    with transaction(runtime.control) as conn:
        per_job = dict(
            conn.execute(
                select(effects.c.job_id, func.count())
                .where(effects.c.job_id.between(ids[0], ids[-1]), effects.c.what == "effect")
                .group_by(effects.c.job_id)
            ).all()
        )
        states = dict(
            conn.execute(
                select(J.c.state, func.count())
                .where(J.c.id.between(ids[0], ids[-1]), J.c.kind == "test.count")
                .group_by(J.c.state)
            ).all()
        )
        pids = dict(
            conn.execute(
                select(effects.c.pid, func.count())
                .where(effects.c.job_id.between(ids[0], ids[-1]), effects.c.what == "effect")
                .group_by(effects.c.pid)
            ).all()
        )
    return {"per_job": per_job, "states": states, "pids": pids}


def _in_state(runtime: Runtime, ids: list[int], state: str) -> list[int]:
    with transaction(runtime.control) as conn:
        query = select(J.c.id).where(J.c.id.between(ids[0], ids[-1]), J.c.state == state)
        return list(conn.execute(query.where(J.c.kind == "test.count")).scalars())


def test_worker_threads_run_each_job_once(jobs):
    ids = _many(jobs, 60, {})
    worker = Worker(jobs, threads=3)
    worker.start()
    try:
        wait_for(lambda: _tally(jobs, ids)["states"] == {"done": 60}, 60, "the jobs")
    finally:
        worker.stop(timeout=10)
    tally = _tally(jobs, ids)
    assert set(tally["per_job"].values()) == {1} and len(tally["per_job"]) == 60


def test_a_worker_killed_mid_way_leaves_every_job_done_exactly_once(jobs, settings, tmp_path):
    ids = _many(jobs, 1000, {"sleep": 0.01})
    first = worker_process(settings, tmp_path, "first")
    try:
        wait_for(lambda: len(_tally(jobs, ids)["per_job"]) >= 150, 120, "the first jobs")
        wait_for(lambda: _in_state(jobs, ids, "running"), 30, "a claimed batch")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        stop(first)
    killed_at = _tally(jobs, ids)
    assert killed_at["states"].get("done", 0) < 1000  # killed in the middle...
    orphans = _in_state(jobs, ids, "running")
    assert orphans  # ...holding claimed jobs
    second = worker_process(settings, tmp_path, "second")
    try:
        wait_for(lambda: _tally(jobs, ids)["states"] == {"done": 1000}, 300, "every job")
    finally:
        stop(second)
    assert second.returncode == 0  # SIGTERM stops a worker gracefully
    tally = _tally(jobs, ids)
    assert len(tally["per_job"]) == 1000 and set(tally["per_job"].values()) == {1}
    assert set(tally["pids"]) == {first.pid, second.pid}
    with transaction(jobs.control) as conn:
        attempts = conn.execute(select(J.c.attempts).where(J.c.id.in_(orphans))).scalars()
        assert min(attempts) >= 2  # the orphans were taken over once their lease ran out


@pytest.mark.mysql_only
def test_two_worker_processes_never_run_the_same_job_twice(jobs, settings, tmp_path):
    ids = _many(jobs, 1000, {"sleep": 0.001})
    workers = [worker_process(settings, tmp_path, name) for name in ("one", "two")]
    try:
        wait_for(lambda: _tally(jobs, ids)["states"] == {"done": 1000}, 300, "every job")
    finally:
        for process in workers:
            stop(process)
    tally = _tally(jobs, ids)
    assert len(tally["per_job"]) == 1000 and set(tally["per_job"].values()) == {1}
    assert set(tally["pids"]) == {w.pid for w in workers}  # both took part
    assert sum(tally["pids"].values()) == 1000


def test_registries_refuse_a_kind_twice(jobs):
    regs = registries(jobs)
    assert "test.count" in regs.kinds and "periodic:jobs.prune" in regs.kinds
    with pytest.raises(ValueError, match="twice"):
        regs.add_kind(regs.kinds["test.count"])


def test_the_server_runs_jobs_with_its_embedded_worker(jobs, settings):
    fast = dataclasses.replace(settings, worker_poll_ms=50)
    job_id = add(jobs, "test.count")
    with TestClient(create_app(fast, jobs, embedded_worker=True)):
        wait_for(lambda: row(jobs, job_id)["state"] == "done", 30, "the embedded worker")
    assert effects_of(jobs, job_id) == 1


def test_the_command_runs_what_is_due_and_exits(jobs, settings, monkeypatch):
    job_id = add(jobs, "test.count")
    env = {
        "WORKSPACE_DATABASE_URL": settings.database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
        "WORKSPACE_PLUGIN_MODULES": "tests.plugins.job_counter",
        "WORKSPACE_MIGRATE_ON_START": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["worker", "--until-idle"])
    assert result.exit_code == 0, result.output
    assert "nothing more is due" in result.output
    assert row(jobs, job_id)["state"] == "done"
