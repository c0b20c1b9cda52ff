"""Automations: what an enabled automation adds to a record write, how fast one worker does
set-fields actions, and how long an event takes to become an action.

One run on a throw-away database (MariaDB by default, ``--db sqlite`` for the embedded one),
with the services in-process (no HTTP):

1. **Write cost**: ``--writes`` single ``records.create`` calls on a type without any
   automation and on a type with an enabled one (record created -> set a field), in
   alternating rounds; p50 and mean of each. Runs are not worked off meanwhile: the write
   path only writes its outbox row either way.
2. **Throughput**: ``--runs`` records created in bulk, then one worker (``--threads``)
   dispatches their events and does every run (conditions, one set-fields step, its log);
   runs per second. Compared in the same run with the same updates done directly in SQL
   (one UPDATE and commit per record, PyMySQL/sqlite3 through SQLAlchemy Core).
3. **Latency**: with a worker running (poll ``--poll-ms``), records created at ``--rate``
   per second for ``--seconds``; per record the time from its create returning to its
   run's step committed (``automation_steps.finished_at``); p50 and p99.

    .venv/bin/python bench/automations.py
    .venv/bin/python bench/automations.py --db sqlite
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedupe_workspace import BenchWorkspace
from sqlalchemy import func, select, update

from workspace import models as m
from workspace.automations import automations
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.jobs.worker import Worker, run_until_idle
from workspace.records import records

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"
FIELDS = [{"name": "Name", "type": "text"}, {"name": "Note", "type": "text"}]


def _type(bench: BenchWorkspace, name: str, automated: bool) -> int:
    type_id = bench.new_type(name, FIELDS)
    if automated:
        body = {
            "name": f"{name} note",
            "record_type": type_id,
            "trigger": {"type": "record_created"},
            "actions": [{"type": "set_fields", "values": {"note": "seen"}}],
        }
        automations.create(bench.runtime, bench.acc, body)
    return type_id


def write_cost(bench: BenchWorkspace, writes: int, rounds: int) -> dict[str, float]:
    plain = bench.rt(_type(bench, "Plain", automated=False))
    automated = bench.rt(_type(bench, "Automated", automated=True))
    times: dict[str, list[float]] = {"without": [], "with": []}
    per_round = writes // (2 * rounds)
    for r in range(rounds):
        for mode, rt in (("without", plain), ("with", automated)):
            for i in range(per_round):
                started = time.perf_counter()
                records.create(bench.runtime, bench.acc, rt, {"name": f"{mode} {r} {i}"})
                times[mode].append(time.perf_counter() - started)
    run_until_idle(bench.runtime)  # work off the runs before the next part
    return {
        "p50 ms without": statistics.median(times["without"]) * 1000,
        "p50 ms with": statistics.median(times["with"]) * 1000,
        "mean ms without": statistics.fmean(times["without"]) * 1000,
        "mean ms with": statistics.fmean(times["with"]) * 1000,
    }


def throughput(bench: BenchWorkspace, runs: int, threads: int) -> dict[str, float]:
    rt = bench.rt(_type(bench, "Throughput", automated=True))
    bench.load(rt.id, [{"name": f"T{i}"} for i in range(runs)])
    worker = Worker(bench.runtime, threads=threads)
    started = time.perf_counter()
    worker.start()
    runs_table = m.automation_runs
    while True:
        with transaction(bench.runtime.control) as conn:
            done = conn.execute(
                select(func.count()).where(
                    runs_table.c.record_type_id == rt.id, runs_table.c.state == "done"
                )
            ).scalar_one()
        if done >= runs:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    worker.stop()
    # The same updates done directly, one statement and commit per record.
    ids = records.list_records(bench.runtime, bench.acc, rt, limit=200)["items"]
    table = rt.table
    column = rt.field_by_key("note").column  # type: ignore[union-attr]
    engine = bench.runtime.data_engine(bench.acc.workspace_id)
    all_ids = [r["id"] for r in ids]
    direct_started = time.perf_counter()
    n = 0
    while n < runs:
        for record_id in all_ids:
            with transaction(engine, write=True) as conn:
                conn.execute(update(table).where(table.c.id == record_id).values({column: f"d{n}"}))
            n += 1
            if n == runs:
                break
    direct = time.perf_counter() - direct_started
    return {
        "runs": runs,
        "threads": threads,
        "runs/s": runs / seconds,
        "direct SQL updates/s": runs / direct,
    }


def latency(bench: BenchWorkspace, rate: float, seconds: float, threads: int) -> dict[str, float]:
    rt = bench.rt(_type(bench, "Latency", automated=True))
    created: dict[int, float] = {}
    worker = Worker(bench.runtime, threads=threads)
    worker.start()
    gap = 1 / rate
    deadline = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        made = records.create(bench.runtime, bench.acc, rt, {"name": "L"})
        created[made["id"]] = time.time()
        next_at += gap
        time.sleep(max(0.0, next_at - time.perf_counter()))
    runs, steps = m.automation_runs, m.automation_steps
    while True:
        with transaction(bench.runtime.control) as conn:
            rows = conn.execute(
                select(runs.c.record_id, steps.c.finished_at)
                .join(steps, steps.c.run_id == runs.c.id)
                .where(runs.c.record_type_id == rt.id, steps.c.state == "done")
            ).all()
        if len(rows) >= len(created):
            break
        time.sleep(0.1)
    worker.stop()
    waits = sorted(done.timestamp() - created[record_id] for record_id, done in rows)
    return {
        "events": len(created),
        "p50 ms": statistics.median(waits) * 1000,
        "p99 ms": waits[min(len(waits) - 1, int(len(waits) * 0.99))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["mysql", "sqlite"], default="mysql")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll-ms", type=int, default=100)
    args = parser.parse_args()
    bench = BenchWorkspace(
        args.db,
        args.mysql_url,
        "automations",
        worker_poll_ms=args.poll_ms,
        automation_runs_per_minute=0,
    )
    started = utcnow()
    try:
        print(f"database: {args.db}, started {started:%Y-%m-%d %H:%M} UTC")
        for name, value in write_cost(bench, args.writes, args.rounds).items():
            print(f"  write     {name:28} {value:9.3f}")
        for name, value in throughput(bench, args.runs, args.threads).items():
            print(f"  runs      {name:28} {value:9.1f}")
        for name, value in latency(bench, args.rate, args.seconds, args.threads).items():
            print(f"  latency   {name:28} {value:9.1f}")
    finally:
        bench.close()


if __name__ == "__main__":
    main()
