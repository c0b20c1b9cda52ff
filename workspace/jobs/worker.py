"""The worker: dispatches outbox events and runs due jobs and periodic tasks.

``workspace worker`` runs one in the foreground (``WORKSPACE_WORKER_THREADS`` threads, a
graceful stop on SIGTERM: running jobs end, claimed ones not yet started go back to the
queue); ``workspace serve`` runs one inside the server process unless
``WORKSPACE_EMBEDDED_WORKER=false``. Any number of workers share one database.

Each thread loops: dispatch a batch of events, claim a batch of jobs, run them one by one,
and sleep ``WORKSPACE_WORKER_POLL_MS`` when there was nothing to do. One heartbeat thread
renews the leases of every claim the worker holds. Tests and the command line use
:func:`run_until_idle`, which does the same synchronously until nothing is due.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import traceback

from workspace.clock import utcnow
from workspace.errors import Unavailable
from workspace.jobs import claims, dispatch, kinds, periodic, prune
from workspace.jobs.kinds import Job, Registries
from workspace.leases import LeaseLost
from workspace.runtime import Runtime

log = logging.getLogger(__name__)
#: Jobs one claim takes, and events one dispatch takes.
CLAIM_BATCH = 10
EVENT_BATCH = 200


def registries(runtime: Runtime) -> Registries:
    """What this runtime's plugins let the worker run, plus its own tasks."""
    return kinds.registries(runtime, _built_ins)


def _built_ins(regs: Registries) -> None:
    regs.add_periodic(prune.TASK)
    for task in regs.periodic.values():
        regs.add_kind(periodic.as_kind(task))


def run_until_idle(runtime: Runtime, *, now: dt.datetime | None = None) -> int:
    """Dispatch events and run every due job and periodic task, in this thread, until
    nothing is due at ``now`` (default: the clock); returns how many jobs ran."""
    regs = registries(runtime)
    periodic.ensure(runtime.control, regs.periodic.values(), now or utcnow())
    ran = 0
    while True:
        moment = now or utcnow()
        events = dispatch.dispatch(runtime.control, regs.consumers, limit=EVENT_BATCH, now=moment)
        jobs = _claim(runtime, regs, _name(), moment)
        for job in jobs:
            run_job(runtime, regs, job)
        ran += len(jobs)
        if not events and not jobs:
            return ran


def _claim(runtime: Runtime, regs: Registries, worker: str, now: dt.datetime) -> list[Job]:
    lease = dt.timedelta(seconds=runtime.settings.job_lease_seconds)
    return claims.claim(
        runtime.control, regs.kinds, limit=CLAIM_BATCH, worker=worker, lease=lease, now=now
    )


def run_job(runtime: Runtime, regs: Registries, job: Job) -> str:
    """Run one claimed job; returns how it ended (done, failed, dead or lost)."""
    kind = regs.kinds[job.kind]
    try:
        kind.run(runtime, job)
    except LeaseLost:
        log.info("job %s (%s) was taken over or cancelled; its work rolled back", job.id, job.kind)
        return "lost"
    except Exception as exc:
        error = "".join(traceback.format_exception_only(exc)).strip()
        state = claims.failed(runtime.control, job, kind, error, _now(job))
        logger = log.error if state == "dead" else log.warning
        logger(
            "job %s (%s) attempt %s failed (%s): %s", job.id, job.kind, job.attempts, state, error
        )
        return state
    if not job.ended:
        claims.done(runtime.control, job, _now(job))
    return "done"


def _now(job: Job) -> dt.datetime:
    """The clock, or the moment the job was claimed at if that is later (a test's ``now``)."""
    return max(utcnow(), job.claimed_at)


def _name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class Worker:
    """Threads that run jobs until :meth:`stop`."""

    def __init__(self, runtime: Runtime, *, threads: int | None = None) -> None:
        self.runtime = runtime
        self.threads = threads or runtime.settings.worker_threads
        self.stopping = threading.Event()
        self._stopped = threading.Event()
        self._held: dict[str, int] = {}  # lease token -> jobs of that claim still held
        self._lock = threading.Lock()
        self._loops: list[threading.Thread] = []
        self._beat = threading.Thread(target=self._heartbeat, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        regs = registries(self.runtime)
        periodic.ensure(self.runtime.control, regs.periodic.values(), utcnow())
        for n in range(self.threads):
            thread = threading.Thread(
                target=self._loop, args=(regs,), name=f"worker-{n + 1}", daemon=True
            )
            thread.start()
            self._loops.append(thread)
        self._beat.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming and wait (up to ``timeout`` seconds per thread) for the jobs being
        run to end; their leases are renewed until then."""
        self.stopping.set()
        for thread in self._loops:
            thread.join(timeout)
        self._stopped.set()
        if self._beat.is_alive():
            self._beat.join(timeout)

    def _loop(self, regs: Registries) -> None:
        poll = self.runtime.settings.worker_poll_ms / 1000
        while not self.stopping.is_set():
            try:
                busy = self._step(regs)
            except Unavailable as exc:
                # An outage is an expected bad day, not a bug: one line, not a traceback.
                log.warning("worker waits for the database: %s", exc)
                busy = False
            except Exception:
                log.exception("worker step failed; trying again shortly")
                busy = False
            if not busy:
                self.stopping.wait(poll)

    def _step(self, regs: Registries) -> bool:
        events = dispatch.dispatch(
            self.runtime.control, regs.consumers, limit=EVENT_BATCH, now=utcnow()
        )
        if self.stopping.is_set():
            return False
        jobs = _claim(self.runtime, regs, _name(), utcnow())  # after: what dispatch queued
        if not jobs:
            return events > 0
        token = jobs[0].lease_token
        self._hold(token, len(jobs))
        try:
            for index, job in enumerate(jobs):
                if self.stopping.is_set():
                    claims.release(self.runtime.control, jobs[index:])
                    break
                run_job(self.runtime, regs, job)
        finally:
            self._hold(token, 0)
        return True

    def _hold(self, token: str, count: int) -> None:
        with self._lock:
            if count:
                self._held[token] = count
            else:
                self._held.pop(token, None)

    def _heartbeat(self) -> None:
        seconds = self.runtime.settings.job_lease_seconds
        lease = dt.timedelta(seconds=seconds)
        while not self._stopped.wait(max(seconds / 3, 0.2)):
            with self._lock:
                tokens = list(self._held)
            try:
                claims.renew(self.runtime.control, tokens, lease, utcnow())
            except Unavailable as exc:
                log.warning("renewing job leases waits for the database: %s", exc)
            except Exception:
                log.exception("renewing job leases failed; trying again")
