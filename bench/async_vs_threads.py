"""Sync handlers in threads (PyMySQL) against async handlers (SQLAlchemy asyncio + aiomysql).

The same tiny Litestar API (``tiny_api.py``) is served twice by uvicorn on a fresh MySQL
database holding a 10,000-row table of 11 columns: (A) sync handlers with
``sync_to_thread=True`` on a SQLAlchemy Core engine with PyMySQL, as the workspace server is
built, and (B) async handlers on ``create_async_engine`` with aiomysql. Each serves
``GET /rows/{id}`` and ``POST /rows`` at concurrency 16 after a warm-up, and the run prints
throughput, latency and CPU per request side by side. It prints figures only.

    .venv/bin/python bench/async_vs_threads.py [--workers 1,2] [--rounds 4]

Needs ``pip install -e '.[bench]'`` (aiomysql, greenlet) and a MySQL/MariaDB where the user
may create databases (default root@127.0.0.1:3306; ``--mysql`` or ``BENCH_MYSQL_URL``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib.metadata import version as pkg
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pymysql
import sqlalchemy
import tiny_api
from contacts import fresh_database, measure, mysql_params
from cpu import CpuMeter, context_switches
from load_client import HttpLoad, Outcome, Request
from report import Phase
from server import REPO, Server

BENCH = Path(__file__).resolve().parent
VARIANTS = {"threads": "A: sync + threads, PyMySQL", "async": "B: async, aiomysql"}
OPS = {"get": "GET /rows/{id}", "create": "POST /rows"}
STATUSES = ["lead", "active", "customer", "churned", "prospect"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workers", default="1", help="comma-separated worker counts (default 1)")
    p.add_argument("--requests", type=int, default=3000, help="measured requests per phase")
    p.add_argument("--warmup", type=int, default=300, help="uncounted requests before each phase")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rows", type=int, default=10_000, help="rows in the table")
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="measure both variants this often, alternating which goes first",
    )
    p.add_argument(
        "--mysql",
        default=os.environ.get("BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
        help="server URL without database (default $BENCH_MYSQL_URL or root@127.0.0.1:3306)",
    )
    p.add_argument("--keep-db", action="store_true", help="keep the bench database")
    args = p.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


class TinyServer(Server):
    """``uvicorn tiny_api:app_from_env`` in its own process group (stop/pids from Server)."""

    def __init__(self, variant: str, db_url: str, workers: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-async-"))
        super().__init__(db_url, self.tmp, workers)
        self.variant = variant

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "BENCH_VARIANT": self.variant,
            "BENCH_DB_URL": self.database_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")])),
        }
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "tiny_api:app_from_env"]
        cmd += ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        cmd += ["--no-access-log", "--log-level", "warning"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=BENCH, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(deadline)
            try:
                if self.call("GET", "/rows/1")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        # With several workers, wait until every one has started (uvicorn spawns them).
        while len(self.pids()) < 1 + (self.workers if self.workers > 1 else 0):
            self._check_alive(deadline)
            time.sleep(0.2)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def new_row(i: int) -> dict[str, Any]:
    """Deterministic row ``i`` as the API takes it (JSON types)."""
    return {
        "name": f"Person {i}",
        "email": f"person{i}@example.com",
        "phone": f"+49 30 {1000000 + i}",
        "company": f"Company {i % 500}",
        "status": STATUSES[i % len(STATUSES)],
        "amount": f"{(i * 7919) % 1000000 / 100:.2f}",
        "score": i % 1000,
        "created": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "notes": "Some notes about this person. " * (1 + i % 4),
    }


def seed(db_url: str, rows: int) -> None:
    engine = sqlalchemy.create_engine(db_url)
    try:
        tiny_api.metadata.create_all(engine)
        with engine.begin() as conn:
            for start in range(0, rows, 1000):
                batch = [new_row(i) for i in range(start, min(start + 1000, rows))]
                for r in batch:
                    r["updated"] = f"{r['created']} 12:00:00"
                conn.execute(tiny_api.INSERT_ROW, batch)
    finally:
        engine.dispose()


def requests(rows: int) -> dict[str, Any]:
    """op -> (make(i), check(i, body)); ids spread over the seeded rows, the same for A and B."""

    def get_id(i: int) -> int:
        return (i * 7919) % rows + 1

    def make_get(i: int) -> Request:
        return "GET", f"/rows/{get_id(i)}", None

    def check_get(i: int, body: bytes) -> bool:
        return b'"id":%d,' % get_id(i) in body

    def make_create(i: int) -> Request:
        return "POST", "/rows", json.dumps(new_row(rows + i)).encode()

    def check_create(i: int, body: bytes) -> bool:
        return b"person%d@" % (rows + i) in body

    return {"get": (make_get, check_get), "create": (make_create, check_create)}


@dataclass
class ServerPhase(Phase):
    """One measured phase plus the context switches of every server thread meanwhile."""

    switches: int = 0


def measure_server(
    op: str, concurrency: int, run: Callable[[], Outcome], meter: CpuMeter
) -> ServerPhase:
    before = context_switches(meter.pids())
    phase = measure(op, concurrency, run, meter)
    switches = context_switches(meter.pids()) - before
    return ServerPhase(**{f.name: getattr(phase, f.name) for f in fields(phase)}, switches=switches)


Round = tuple[dict[str, ServerPhase], dict[str, ServerPhase]]  # (A: threads, B: async), by op


def run_workers(
    args: argparse.Namespace, db_url: str, workers: int, offset: int
) -> tuple[list[Round], int]:
    """Serve both variants at once and measure them op by op, back to back, each round.

    The idle server costs nothing while the other is measured; A and B of one op run seconds
    apart (their order alternates every round) so a change in the machine's load hits both.
    ``offset`` keeps every created row and every request number unique across phases; the
    next free one is returned with the rounds.
    """
    servers = {v: TinyServer(v, db_url, workers) for v in VARIANTS}
    n, c, w = args.requests, args.concurrency, args.warmup
    rounds: list[Round] = []
    try:
        for server in servers.values():
            server.start()
        loads = {v: HttpLoad(s.host, s.port, "unused") for v, s in servers.items()}
        meters = {v: CpuMeter(s.pids) for v, s in servers.items()}
        for rnd in range(args.rounds):
            order = list(VARIANTS) if rnd % 2 == 0 else list(reversed(VARIANTS))
            got: dict[str, dict[str, ServerPhase]] = {v: {} for v in VARIANTS}
            for op, (make, check) in requests(args.rows).items():
                for v in order:
                    loads[v].run(shifted(make, offset), w, c)
                    run = functools.partial(
                        loads[v].run, shifted(make, offset + w), n, c,
                        shifted_check(check, offset + w),
                    )  # fmt: skip
                    got[v][op] = measure_server(op, c, run, meters[v])
                    offset += w + n
                    progress(v, workers, rnd, got[v][op])
            rounds.append((got["threads"], got["async"]))
    except BaseException:
        for v, server in servers.items():
            print(f"{v} server log tail:\n" + server.log_tail(), file=sys.stderr)
        raise
    finally:
        for server in servers.values():
            server.stop()
    return rounds, offset


def shifted(make: Callable[[int], Request], base: int) -> Callable[[int], Request]:
    return lambda i: make(base + i)


def shifted_check(check: Callable[[int, bytes], bool], base: int) -> Callable[[int, bytes], bool]:
    return lambda i, body: check(base + i, body)


def progress(variant: str, workers: int, rnd: int, p: Phase) -> None:
    o = p.outcome
    print(
        f"  w={workers} round {rnd + 1} {variant:<7} {p.op:<6} {p.requests:>5} ok "
        f"in {o.wall:5.1f}s "
        f"{p.throughput:7,.0f} req/s  p50 {p.percentile(0.5):6.1f} ms  "
        f"server CPU {p.per_request_ms(p.server_cpu):5.2f} ms/req  "
        f"errors {o.statuses.total() - o.ok}  misses {o.misses}  load {loadavg()}",
        flush=True,
    )
    for error in o.errors[:3]:
        print(f"    ! {error}", flush=True)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


Metric = tuple[str, Callable[[ServerPhase], float], str, bool]  # name, value, format, has ratio
METRICS: list[Metric] = [
    ("req/s", lambda p: p.throughput, "{:,.0f}", True),
    ("p50 ms", lambda p: p.percentile(0.5), "{:.1f}", True),
    ("p99 ms", lambda p: p.percentile(0.99), "{:.1f}", True),
    ("server CPU ms/req", lambda p: p.per_request_ms(p.server_cpu), "{:.2f}", True),
    ("server context switches/req", lambda p: p.switches / (p.requests or 1), "{:.1f}", True),
    ("client CPU ms/req", lambda p: p.per_request_ms(p.client_cpu), "{:.3f}", True),
    ("client CPU %core", lambda p: 100 * p.client_cpu / (p.outcome.wall or 1), "{:.0f}", True),
    ("MariaDB CPU ms/req", lambda p: p.per_request_ms(p.db_cpu), "{:.2f}", True),
    ("other procs, cores", lambda p: p.other_cores, "{:.2f}", False),
    ("errors + misses",
     lambda p: p.outcome.statuses.total() - p.outcome.ok + p.outcome.misses, "{:.0f}", False),
]  # fmt: skip


def _lines(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def _header() -> list[str]:
    return ["op", "metric", VARIANTS["threads"], VARIANTS["async"], "B/A"]


def table(a: dict[str, ServerPhase], b: dict[str, ServerPhase]) -> str:
    rows = []
    for op, label in OPS.items():
        for name, value, fmt, has_ratio in METRICS:
            va, vb = value(a[op]), value(b[op])
            ratio = f"{vb / va:.2f}" if va and has_ratio else "-"
            rows.append([label, name, fmt.format(va), fmt.format(vb), ratio])
    return _lines(_header(), rows)


def summary(rounds: list[Round]) -> str:
    """Median (min-max) of each metric over the rounds, and of B/A taken round by round."""
    rows = []
    for op, label in OPS.items():
        for name, value, fmt, has_ratio in METRICS[:-1]:  # all but errors + misses
            a = [value(r[0][op]) for r in rounds]
            b = [value(r[1][op]) for r in rounds]
            cells = [_spread(a, fmt), _spread(b, fmt)]
            ratios = [vb / va for va, vb in zip(a, b, strict=True) if va]
            rows.append([label, name, *cells, _spread(ratios, "{:.2f}") if has_ratio else "-"])
    header = _header()
    header[-1] = "B/A by round"
    return _lines(header, rows)


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})"


def describe(args: argparse.Namespace, params: dict[str, Any]) -> str:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    conn = pymysql.connect(**params)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    conn.close()
    libs = ", ".join(
        f"{name} {pkg(name)}"
        for name in ("litestar", "uvicorn", "sqlalchemy", "pymysql", "aiomysql", "uvloop")
    )
    return (
        f"async vs threads: {args.rows:,} rows, {args.requests:,} requests per phase after "
        f"{args.warmup} warm-up, concurrency {args.concurrency}, workers {args.workers}, "
        f"rounds {args.rounds}\n"
        f"repo {commit}, Python {platform.python_version()}, MariaDB/MySQL {version}, {libs}, "
        f"{os.cpu_count()} cores, load average {loadavg()}"
    )


def main() -> None:
    args = parse_args()
    params = mysql_params(args.mysql)
    db = f"bench_async_{os.getpid()}"
    db_url = "mysql+pymysql://{user}:{pw}@{host}:{port}/{db}".format(
        user=quote(params["user"]), pw=quote(params["password"]), host=params["host"],
        port=params["port"], db=db,
    ).replace(":@", "@")  # fmt: skip
    print(describe(args, params), flush=True)
    fresh_database(params, db)
    results: dict[int, list[Round]] = {}
    try:
        seed(db_url, args.rows)
        offset = 0
        for workers in args.workers:
            results[workers], offset = run_workers(args, db_url, workers, offset)
            print(f"  load average after {workers} worker(s): {loadavg()}", flush=True)
    finally:
        if not args.keep_db:
            fresh_database(params, db, drop_only=True)
    print()
    print("server CPU = user + system of the uvicorn process tree; client = the load client;")
    print("B/A = async / threads (above 1 for req/s means async is faster, for ms it is worse).")
    for workers, rounds in results.items():
        for rnd, (a, b) in enumerate(rounds):
            first = "A first" if rnd % 2 == 0 else "B first"
            print(f"\n{workers} worker(s), round {rnd + 1} ({first})\n")
            print(table(a, b))
    for workers, rounds in results.items():
        if len(rounds) > 1:
            print(f"\n{workers} worker(s), median (min-max) over {len(rounds)} rounds\n")
            print(summary(rounds))


if __name__ == "__main__":
    try:
        main()
    except pymysql.MySQLError as exc:
        raise SystemExit(f"MySQL: {exc}") from None
