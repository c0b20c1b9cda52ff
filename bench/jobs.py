"""The job queue and the event outbox: what they cost and how fast they go.

One run on a throw-away database (MariaDB by default, ``--db sqlite`` for the embedded one):

1. **Outbox cost on the write path**: ``--writes`` single record creates through
   ``records.create`` (4 fields, no dedupe rule), in alternating rounds with the outbox on
   and with ``outbox.write`` replaced by a no-op; the p50 and mean per write of each, and the
   time spent inside ``outbox.write`` itself (timed around each call).
2. **Dispatch throughput**: the outbox rows of step 1 handed to one no-op consumer.
3. **Worker throughput for a trivial job**: ``--jobs`` jobs whose handler finishes the job in
   its own transaction (the smallest job that counts exactly once), run by a ``Worker`` with
   ``--threads`` threads until all are done; jobs per second.

    .venv/bin/python bench/jobs.py                 # MariaDB on 127.0.0.1:3306
    .venv/bin/python bench/jobs.py --db sqlite
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedupe_workspace import BenchWorkspace
from sqlalchemy import func, select

from workspace import activity, hookimpl
from workspace import models as m
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.jobs import dispatch, queue
from workspace.jobs.kinds import Job, JobKind
from workspace.jobs.worker import Worker
from workspace.plugins import make_plugin_manager
from workspace.records import records
from workspace.runtime import Runtime

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"
J = m.jobs


def _finish_only(runtime: Runtime, job: Job) -> None:
    with transaction(runtime.control, write=True) as conn:
        queue.finish(conn, job)


class BenchKinds:
    @hookimpl
    def register_job_kinds(self, register: Callable[[JobKind], None]) -> None:
        register(JobKind("bench.finish", _finish_only))


def outbox_cost(bench: BenchWorkspace, writes: int, rounds: int) -> dict[str, Any]:
    """Per-write times with the outbox on and off, and the time inside ``outbox.write``."""
    type_id = bench.new_type(
        "Contact",
        [
            {"name": "Name", "type": "text"},
            {"name": "Email", "type": "email"},
            {"name": "Company", "type": "text"},
            {"name": "Score", "type": "number"},
        ],
    )
    rt = bench.rt(type_id)
    real_write = activity.outbox.write
    inside: list[float] = []

    def timed(conn: Any, events: Any) -> None:
        started = time.perf_counter()
        real_write(conn, events)
        inside.append(time.perf_counter() - started)

    times: dict[str, list[float]] = {"on": [], "off": []}
    per_round = writes // (2 * rounds)
    n = 0
    for _ in range(rounds):
        for mode in ("on", "off"):
            activity.outbox.write = timed if mode == "on" else (lambda conn, events: None)  # type: ignore[assignment]
            for _ in range(per_round):
                n += 1
                fields = {"name": f"P {n}", "email": f"p{n}@example.org", "company": "Acme"}
                started = time.perf_counter()
                records.create(bench.runtime, bench.acc, rt, {**fields, "score": n})
                times[mode].append(time.perf_counter() - started)
    activity.outbox.write = real_write  # type: ignore[assignment]
    return {
        "writes per mode": per_round * rounds,
        "p50 on ms": statistics.median(times["on"]) * 1000,
        "p50 off ms": statistics.median(times["off"]) * 1000,
        "mean on ms": statistics.fmean(times["on"]) * 1000,
        "mean off ms": statistics.fmean(times["off"]) * 1000,
        "inside outbox.write p50 ms": statistics.median(inside) * 1000,
        "inside outbox.write mean ms": statistics.fmean(inside) * 1000,
    }


def dispatch_rate(runtime: Runtime) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        pending = conn.execute(
            select(func.count()).where(m.event_outbox.c.dispatched_at.is_(None))
        ).scalar_one()
    started = time.perf_counter()
    done = 0
    while True:
        n = dispatch.dispatch(runtime.control, [lambda conn, event: None], limit=200, now=utcnow())
        if not n:
            break
        done += n
    seconds = time.perf_counter() - started
    return {"events": done, "pending before": pending, "events/s": done / seconds}


def worker_rate(runtime: Runtime, jobs: int, threads: int) -> dict[str, Any]:
    now = utcnow()
    row = {
        "workspace_id": None,
        "kind": "bench.finish",
        "payload": {},
        "state": "queued",
        "run_at": now,
        "attempts": 0,
        "max_attempts": 5,
        "created_at": now,
    }
    with transaction(runtime.control, write=True) as conn:
        for start in range(0, jobs, 1000):
            conn.execute(J.insert(), [row] * min(1000, jobs - start))
    worker = Worker(runtime, threads=threads)
    started = time.perf_counter()
    worker.start()
    while True:
        with transaction(runtime.control) as conn:
            left = conn.execute(
                select(func.count()).where(J.c.kind == "bench.finish", J.c.state != "done")
            ).scalar_one()
        if not left:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    worker.stop()
    return {"jobs": jobs, "threads": threads, "seconds": seconds, "jobs/s": jobs / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["mysql", "sqlite"], default="mysql")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL)
    parser.add_argument("--writes", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    bench = BenchWorkspace(args.db, args.mysql_url, "jobs", worker_poll_ms=50)
    try:
        print(f"database: {args.db}")
        for name, value in outbox_cost(bench, args.writes, args.rounds).items():
            print(f"  outbox  {name:30} {value:10.3f}")
        for name, value in dispatch_rate(bench.runtime).items():
            print(f"  dispatch {name:29} {value:10.1f}")
        pm = make_plugin_manager(bench.runtime.settings)
        pm.register(BenchKinds(), name="bench-kinds")
        runtime = build_runtime(bench.runtime.settings, pm)
        try:
            for threads in sorted({1, args.threads}):
                result = worker_rate(runtime, args.jobs, threads)
                print(
                    f"  worker  trivial job, {threads} thread(s): {result['jobs/s']:8.0f} jobs/s "
                    f"({result['jobs']} in {result['seconds']:.1f} s)"
                )
        finally:
            runtime.close()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
