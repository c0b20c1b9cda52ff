"""Slowloris against ``workspace serve``: how long do other requests take meanwhile, and how
many slow connections does the server keep?

Starts ``workspace serve`` (one process, default settings) on a fresh MySQL database and
measures ``GET /api/v1/me`` at ``--concurrency`` (p50, p99, max), then opens ``--slow``
connections from another process that each send a request's headers one byte a second and
open a new connection whenever the server closes one, and measures again for at least
``--attack-seconds`` (longer than the header timeout). Prints the figures and how many slow
connections the server closed meanwhile. Prints figures only.

    .venv/bin/python bench/slow_clients.py [--requests 3000] [--concurrency 8] [--slow 500]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql
from load_client import HttpLoad, Outcome
from report import latency_rows, pooled_p99
from server import Server

HEAD = b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=3000, help="requests per round")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--slow", type=int, default=500, help="slow connections kept open")
    p.add_argument("--rounds", type=int, default=3, help="rounds before the attack")
    p.add_argument(
        "--fd-limit",
        type=int,
        default=0,
        help="start the server with this many file descriptors (e.g. 1024, a common default)",
    )
    p.add_argument(
        "--attack-seconds",
        type=float,
        default=40,
        help="measure during the attack for at least this long (past the header timeout)",
    )
    return p.parse_args()


def slowloris(port: int, count: int, stop: Any, closed: Any) -> None:
    """``count`` connections trickling header bytes, each replaced when the server closes it;
    ``closed`` counts the closes."""

    async def one() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(HEAD)
                while not stop.is_set() and not reader.at_eof():
                    await asyncio.sleep(1)
                    writer.write(b"x")
                    await writer.drain()
            except OSError:
                pass
            with closed.get_lock():
                closed.value += 1
            await asyncio.sleep(0.1)

    async def all_of_them() -> None:
        tasks = [asyncio.create_task(one()) for _ in range(count)]
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(all_of_them())


def main() -> None:
    args = parse_args()
    name = f"bench_slow_{os.getpid()}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        with tempfile.TemporaryDirectory() as data:
            server = Server(f"mysql+pymysql://root@127.0.0.1:3306/{name}", Path(data), 1)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if args.fd_limit:  # the server inherits it; the slow clients do not
                resource.setrlimit(resource.RLIMIT_NOFILE, (args.fd_limit, hard))
            try:
                server.start()
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            try:
                measure(args, server)
            finally:
                server.stop()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def measure(args: argparse.Namespace, server: Server) -> None:
    load = HttpLoad(server.host, server.port, server.token)
    me = ("GET", "/api/v1/me", None)
    load.run(lambda i: me, 300, args.concurrency)  # warm up
    before = [load.run(lambda i: me, args.requests, args.concurrency) for _ in range(args.rounds)]
    context = multiprocessing.get_context("spawn")
    stop, closed = context.Event(), context.Value("i", 0)
    attack = context.Process(target=slowloris, args=(server.port, args.slow, stop, closed))
    attack.start()
    time.sleep(3)  # every slow connection is open by now
    started = time.monotonic()
    during: list[Outcome] = []
    while len(during) < args.rounds or time.monotonic() - started < args.attack_seconds:
        during.append(load.run(lambda i: me, args.requests, args.concurrency))
    seconds = time.monotonic() - started
    stop.set()
    attack.join(timeout=30)
    print(f"\n{args.requests} x GET /api/v1/me at concurrency {args.concurrency}; ")
    limit = f", the server limited to {args.fd_limit} file descriptors" if args.fd_limit else ""
    print(f"{args.slow} connections sending headers one byte a second during the attack{limit}\n")
    print(latency_rows({"before": before, "slowloris": during}))
    errors = sum(o.statuses[0] for o in during)
    print(
        f"\np99 during the attack / p99 before (all rounds): "
        f"{pooled_p99(during) / pooled_p99(before):.2f}x; connections that failed: {errors}"
    )
    print(f"slow connections the server closed in {seconds:.0f} s: {closed.value}")


if __name__ == "__main__":
    main()
