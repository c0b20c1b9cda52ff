"""What the API rate limits cost: the count's database work per request, and a request's
latency with the limits on and off.

1. In this process, against a fresh MySQL database: ``RateLimiter.admit`` for one bucket,
   ``--admits`` times, with leases of 1 request (a shared counter written per request, the
   design leases replace), 12 (the lease of the default limit, 600 a minute) and 120; and a
   refused bucket (answered from memory).
2. ``workspace serve`` (one process) on fresh databases, ``GET /api/v1/me`` at
   ``--concurrency``: limits off, then on with limits high enough that nothing is refused
   (leases of 20,000 requests: the middleware's own cost).

Prints figures only.

    .venv/bin/python bench/rate_limits.py [--admits 20000] [--requests 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pymysql
from load_client import HttpLoad, Outcome
from report import latency_rows
from server import Server

from workspace import migrate
from workspace import rate_limits as limits
from workspace.boot import build_runtime
from workspace.settings import Settings

MYSQL = "mysql+pymysql://root@127.0.0.1:3306"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--admits", type=int, default=20000, help="admits per lease size")
    p.add_argument("--requests", type=int, default=3000, help="HTTP requests per round")
    p.add_argument("--concurrency", type=int, default=8, help="HTTP requests in flight")
    p.add_argument("--rounds", type=int, default=3, help="HTTP rounds per setting")
    return p.parse_args()


def me(i: int) -> tuple[str, str, None]:
    return ("GET", "/api/v1/me", None)


def database(admin: pymysql.Connection, suffix: str) -> str:
    name = f"bench_limits_{suffix}_{os.getpid()}"
    admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


def admits(args: argparse.Namespace, url: str, data: Path) -> None:
    runtime = build_runtime(Settings(database_url=url, data_dir=data))
    migrate.upgrade(runtime.control)
    limiter = runtime.rate_limits
    assert limiter is not None
    print(f"\n{args.admits} admits of one bucket in one thread\n")
    print("| lease (requests) | database transactions | us per admit |")
    print("|---|---|---|")
    try:
        limit = 10**9  # never refused: every admit counts
        for lease in (1, 12, 120):
            bucket = f"token:bench-{lease}"
            limits.LEASES_PER_LIMIT = limit // lease  # a lease is this share of the limit
            started = time.perf_counter()
            for _ in range(args.admits):
                assert limiter.admit(bucket, limit) is None
            took = time.perf_counter() - started
            print(f"| {lease} | {args.admits // lease} | {took / args.admits * 1e6:.1f} |")
        limits.LEASES_PER_LIMIT = 50  # the server's
        limiter.admit("token:spent", 1)
        started = time.perf_counter()
        for _ in range(args.admits):
            assert limiter.admit("token:spent", 1) is not None
        took = time.perf_counter() - started
        print(f"| refused (memory) | 0 | {took / args.admits * 1e6:.1f} |")
    finally:
        runtime.close()


def http(args: argparse.Namespace, admin: pymysql.Connection, data: Path) -> None:
    phases: dict[str, list[Outcome]] = {}
    for label, limit in (("limits off", "0"), ("limits on", "1000000000")):
        os.environ["WORKSPACE_API_RATE_LIMIT"] = limit
        os.environ["WORKSPACE_API_ADDRESS_RATE_LIMIT"] = limit
        name = database(admin, label.replace(" ", "_"))
        folder = data / name
        folder.mkdir()
        server = Server(f"{MYSQL}/{name}", folder, 1)
        server.start()
        try:
            load = HttpLoad(server.host, server.port, server.token)
            load.run(me, 300, args.concurrency)  # warm up
            phases[label] = [
                load.run(me, args.requests, args.concurrency) for _ in range(args.rounds)
            ]
        finally:
            server.stop()
            admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    print(f"\nGET /api/v1/me at concurrency {args.concurrency}, one server process\n")
    print(latency_rows(phases))
    for label, rounds in phases.items():
        rate = sum(o.ok for o in rounds) / sum(o.wall for o in rounds)
        print(f"{label}: {rate:.0f} requests/s")


def main() -> None:
    args = parse_args()
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    name = database(admin, "admits")
    try:
        with tempfile.TemporaryDirectory() as data:
            admits(args, f"{MYSQL}/{name}", Path(data))
            http(args, admin, Path(data))
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


if __name__ == "__main__":
    main()
