"""Contacts benchmark: the REST API on MySQL against raw SQL on an equivalent table.

Starts ``workspace serve`` on a fresh MySQL database, loads contacts over the API in batches,
measures single create, get, filtered page, e-mail lookup and update over loopback, repeats
the same operations with PyMySQL on a plain indexed table in another fresh database, and
prints one table. It prints figures only; nothing here fails on a slow result.

    .venv/bin/python bench/contacts.py [--quick] [--records N] [--workers N]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import contact_data as data
import pymysql
import raw_sql
from api_requests import BATCH, ContactRequests
from cpu import CpuMeter, machine_ticks, pids_named
from load_client import HttpLoad, Outcome, process_cpu
from profiler import Profile, summary
from report import Phase, detail_table, main_table
from server import REPO, Server

# operation -> (requests, concurrency) for the full run, as issue 2 asks
PLAN = {"create": (2000, 16), "get": (2000, 16), "page": (500, 8), "email": (1000, 16),
        "update": (1000, 16)}  # fmt: skip
QUICK_RECORDS, QUICK_SHARE = 5000, 10  # --quick: 5,000 records and a tenth of the requests
DB_METER = CpuMeter(lambda: pids_named(["mariadbd", "mysqld"]))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, help="records to load (default 100000; quick 5000)")
    p.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer records and requests")
    p.add_argument("--bulk-concurrency", type=int, default=2, help="bulk calls in flight")
    p.add_argument(
        "--mysql",
        default=os.environ.get("BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
        help="server URL without database (default $BENCH_MYSQL_URL or root@127.0.0.1:3306)",
    )
    p.add_argument("--keep-db", action="store_true", help="keep the two bench databases")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the server during each API phase, write DIR/<op>.txt and print hot spots",
    )
    args = p.parse_args()
    if args.records is None:
        args.records = QUICK_RECORDS if args.quick else 100_000
    return args


def mysql_params(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


def fresh_database(params: dict[str, Any], name: str, drop_only: bool = False) -> None:
    conn = raw_sql.connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            if not drop_only:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def measure(
    op: str, concurrency: int, run: Callable[[], Outcome], server: CpuMeter | None, rows: int = 1
) -> Phase:
    """Run one phase and charge CPU to the server, MariaDB, this client and everything else."""
    server_before = server.snapshot() if server else {}
    db_before = DB_METER.snapshot()
    client_before, (busy_before, _) = process_cpu(), machine_ticks()
    started = time.perf_counter()
    outcome = run()
    wall = time.perf_counter() - started
    client, (busy_after, _) = process_cpu() - client_before, machine_ticks()
    phase = Phase(op, outcome, concurrency, rows_per_request=rows)
    phase.server_cpu = server.delta(server_before) if server else 0.0
    phase.db_cpu = DB_METER.delta(db_before)
    phase.client_cpu = outcome.cpu
    # Other sessions on this machine (tests, other benches) take cores from us: show how many.
    others = busy_after - busy_before - phase.server_cpu - phase.db_cpu - client
    phase.other_cores = max(others, 0.0) / wall
    return phase


def progress(side: str, phase: Phase) -> None:
    o = phase.outcome
    unit = "rows/s" if phase.rows_per_request > 1 else "req/s"
    print(
        f"  {side} {phase.op:<6} {phase.requests:>6} ok in {o.wall:6.1f}s  "
        f"{phase.throughput:9,.0f} {unit}  p50 {phase.percentile(0.5):7.1f} ms  "
        f"errors {o.statuses.total() - o.ok}  misses {o.misses}",
        flush=True,
    )
    for error in o.errors[:3]:
        print(f"    ! {error}", flush=True)


def plan(args: argparse.Namespace) -> dict[str, tuple[int, int]]:
    share = QUICK_SHARE if args.quick else 1
    return {op: (max(n // share, c), c) for op, (n, c) in PLAN.items()}


def warm_count(count: int, concurrency: int) -> int:
    return min(4 * concurrency, max(count // 10, concurrency))


def run_api(args: argparse.Namespace, params: dict[str, Any], db: str) -> dict[str, Phase]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-contacts-"))
    url = "mysql+pymysql://{user}:{pw}@{host}:{port}/{db}".format(
        user=quote(params["user"]), pw=quote(params["password"]), host=params["host"],
        port=params["port"], db=db,
    )  # fmt: skip
    server = Server(url.replace(":@", "@"), data_dir, args.workers)
    try:
        server.start()
        print(f"server up on port {server.port}, pids {server.pids()}", flush=True)
        return api_phases(args, server)
    except BaseException:
        print("server log tail:\n" + server.log_tail(), file=sys.stderr)
        raise
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def profiled(args: argparse.Namespace, server: Server, op: str, run: Callable[[], Phase]) -> Phase:
    """``run()``, under py-spy when ``--profile`` asks for it."""
    if args.profile is None or server.proc is None:
        return run()
    args.profile.mkdir(parents=True, exist_ok=True)
    profile = Profile(server.proc.pid, args.profile / f"{op}.txt")
    try:
        return run()
    finally:
        profile.stop()
        print(summary(profile.out), flush=True)


def api_phases(args: argparse.Namespace, server: Server) -> dict[str, Phase]:
    status, ws = server.call("POST", "/api/v1/workspaces", {"name": "bench"})
    assert status in (200, 201), (status, ws)
    body = {"name": "contacts", "fields": data.TYPE_FIELDS}
    status, rt = server.call("POST", f"/api/v1/workspaces/{ws['id']}/types", body)
    assert status in (200, 201), (status, rt)
    requests = ContactRequests(
        f"/api/v1/workspaces/{ws['id']}/types/{rt['id']}/records", args.records
    )
    load = HttpLoad(server.host, server.port, server.token)
    meter = CpuMeter(server.pids)
    phases: dict[str, Phase] = {}

    bodies = requests.bulk_bodies()
    path, conc = requests.base + "/bulk", args.bulk_concurrency

    def send(i: int) -> tuple[str, str, bytes]:
        return "POST", path, bodies[i]

    bulk = functools.partial(load.run, send, len(bodies), conc, requests.keep_ids)
    phases["bulk"] = profiled(
        args, server, "bulk", lambda: measure("bulk", conc, bulk, meter, BATCH)
    )
    progress("API", phases["bulk"])
    bodies.clear()
    if not requests.ids:
        raise RuntimeError("bulk load created no records; see the errors above")

    builders = requests.phases()
    for op, (count, conc) in plan(args).items():
        make, check = builders[op]
        load.run(lambda i, make=make, count=count: make(count + i), warm_count(count, conc), conc)
        run = functools.partial(load.run, make, count, conc, check)
        phases[op] = profiled(args, server, op, functools.partial(measure, op, conc, run, meter))
        progress("API", phases[op])
    return phases


def run_raw(args: argparse.Namespace, params: dict[str, Any], db: str) -> dict[str, Phase]:
    raw_sql.create_table(params, db)
    phases: dict[str, Phase] = {}
    batches = [
        [row(i) for i in range(s, min(s + BATCH, args.records))]
        for s in range(0, args.records, BATCH)
    ]
    conc = args.bulk_concurrency
    bulk = functools.partial(
        raw_sql.run, params, db, raw_sql.insert_many(batches.__getitem__), len(batches), conc
    )
    phases["bulk"] = measure("bulk", conc, bulk, None, rows=BATCH)
    progress("raw", phases["bulk"])
    batches.clear()
    conn = raw_sql.connect(params, db)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM contacts ORDER BY id")
        ids = [r[0] for r in cur.fetchall()]
    conn.close()

    ops = raw_ops(ids, args.records)
    for op, (count, conc) in plan(args).items():
        fn = ops[op]
        warm = warm_count(count, conc)
        raw_sql.run(params, db, lambda cur, i, fn=fn, count=count: fn(cur, count + i), warm, conc)
        run = functools.partial(raw_sql.run, params, db, fn, count, conc)
        phases[op] = measure(op, conc, run, None)
        progress("raw", phases[op])
    return phases


def row(i: int, tag: str = "") -> tuple[Any, ...]:
    contact = data.contact(i, tag)
    return tuple(contact[c] for c in data.COLUMNS)


def raw_ops(ids: list[int], records: int) -> dict[str, raw_sql.Op]:
    """The raw SQL twin of each API phase, with the same parameters request by request."""
    return {
        "create": raw_sql.execute(raw_sql.INSERT, lambda i: row(i, tag="n")),
        "get": raw_sql.query(raw_sql.GET, lambda i: (ids[data.pick(i, len(ids), 1)],)),
        "page": raw_sql.query(raw_sql.PAGE, data.filter_params),
        "email": raw_sql.query(
            raw_sql.BY_EMAIL, lambda i: (data.email_of(data.pick(i, records, 2)),)
        ),
        "update": raw_sql.execute(
            raw_sql.UPDATE, lambda i: (data.new_amount(i), ids[data.pick(i, len(ids), 3)])
        ),
    }


def describe(args: argparse.Namespace, params: dict[str, Any]) -> str:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    conn = raw_sql.connect(params)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    conn.close()
    return (
        f"contacts bench: {args.records:,} records, batches of {BATCH} "
        f"(bulk c={args.bulk_concurrency}), {args.workers} server worker(s), "
        f"WORKSPACE_THREADS={os.environ.get('WORKSPACE_THREADS', 'default')}\n"
        f"app {commit}, Python {platform.python_version()}, MariaDB/MySQL {version}, "
        f"{os.cpu_count()} cores, {sys.platform}"
    )


def main() -> None:
    args = parse_args()
    params = mysql_params(args.mysql)
    api_db, raw_db = f"bench_contacts_api_{os.getpid()}", f"bench_contacts_raw_{os.getpid()}"
    print(describe(args, params), flush=True)
    for db in (api_db, raw_db):
        fresh_database(params, db)
    try:
        print(f"API on database {api_db}:", flush=True)
        api = run_api(args, params, api_db)
        print(f"raw SQL (PyMySQL, one connection per thread) on database {raw_db}:", flush=True)
        raw = run_raw(args, params, raw_db)
    finally:
        if not args.keep_db:
            for db in (api_db, raw_db):
                fresh_database(params, db, drop_only=True)
    print()
    print("API/raw = API throughput / raw SQL throughput; API/peer = API throughput / peer's.")
    print("server CPU = all server processes; bulk figures are per 100-row request.\n")
    print(main_table(api, raw))
    print()
    print(detail_table(api, raw))


if __name__ == "__main__":
    try:
        main()
    except pymysql.MySQLError as exc:
        raise SystemExit(f"MySQL: {exc}") from None
