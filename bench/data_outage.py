"""One customer's database hangs: how long do requests to another workspace take meanwhile?

Starts ``workspace serve`` (one process, default threads, pools and timeouts) on a fresh MySQL
database, makes two workspaces: one on its own MySQL (a database on the same MariaDB, reached
through a relay), one on the managed database. Then, ``--rounds`` times, measures reads of
the healthy workspace's records (p50, p99, max) while the customer's database answers and
nobody asks it, and again while it hangs (the relay is replaced by a listener that takes
connections and never answers) and ``--dead`` clients keep asking the dead workspace (each
asks again half a second after its answer, as people clicking again would; in a process of
their own). The rounds alternate so that the load other programs put on the machine falls
on both phases alike. Prints figures.

    .venv/bin/python bench/data_outage.py [--requests 2000] [--concurrency 8] [--dead 40]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pymysql
from load_client import HttpLoad, Outcome
from report import latency_rows, pooled_p99
from server import REPO, Server

sys.path.insert(0, str(REPO))  # the test suite's relay and customer database helpers
from tests.customer_mysql import Unanswering, customer_database, good
from tests.storage_servers import Relay

#: Seconds a client of the dead workspace waits after an answer before asking again.
PAUSE = 0.5


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="healthy reads per phase")
    p.add_argument("--concurrency", type=int, default=8, help="healthy reads in flight")
    p.add_argument("--dead", type=int, default=40, help="clients asking the dead workspace")
    p.add_argument("--rounds", type=int, default=4, help="rounds of each phase, alternating")
    return p.parse_args()


class DeadClients:
    """``count`` clients asking the dead workspace while ``active`` is set, each sending
    again :data:`PAUSE` seconds after its answer; in a process of their own, so their threads
    do not slow the measuring client down."""

    def __init__(self, server: Server, path: str, count: int) -> None:
        url = f"http://{server.host}:{server.port}"
        context = multiprocessing.get_context("spawn")
        self.stop, self.active = context.Event(), context.Event()
        self.answers: Any = context.Queue()
        self.process = context.Process(
            target=ask_dead,
            args=(url, server.token, path, count, self.stop, self.active, self.answers),
        )
        self.statuses: Counter[int] = Counter()

    def __enter__(self) -> DeadClients:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.statuses = Counter(self.answers.get(timeout=120))
        self.process.join(timeout=60)


def ask_dead(
    url: str, token: str, path: str, count: int, stop: Any, active: Any, answers: Any
) -> None:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def ask() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            n = 0
            while not stop.is_set():
                if not active.wait(0.2):
                    continue
                try:
                    if n % 2:
                        answer = client.post(path, json={"fields": {"title": "x"}})
                    else:
                        answer = client.get(path)
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    statuses[status] += 1
                n += 1
                stop.wait(PAUSE)

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    answers.put(dict(statuses))


class Outage:
    """The customer's database hung (its relay replaced by a listener that never answers)
    or answering again (the relay back on the same port)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.hung: Unanswering | None = None

    def begin(self) -> None:
        self.relay.cut()
        self.hung = Unanswering(self.relay.port)

    def end(self) -> None:
        if self.hung is not None:
            self.hung.close()
            self.hung = None
            self.relay.resume()


def main() -> None:
    args = parse_args()
    name = f"bench_outage_{os.getpid()}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    os.environ["WORKSPACE_ALLOW_PRIVATE_HOSTS"] = "true"
    outage = Outage(Relay(3306))
    try:
        with customer_database(), tempfile.TemporaryDirectory() as data:
            server = Server(f"mysql+pymysql://root@127.0.0.1:3306/{name}", Path(data), 1)
            server.start()
            try:
                dead, healthy = setup(server, outage.relay.port)
                measure(args, server, outage, dead, healthy)
            finally:
                server.stop()
    finally:
        outage.end()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def measure(args: Any, server: Server, outage: Outage, dead: str, healthy: str) -> None:
    load = HttpLoad(server.host, server.port, server.token)
    read = ("GET", healthy, None)
    load.run(lambda i: read, 200, args.concurrency)  # warm up
    before: list[Outcome] = []
    during: list[Outcome] = []
    with DeadClients(server, dead, args.dead) as clients:
        for _ in range(args.rounds):
            before.append(load.run(lambda i: read, args.requests, args.concurrency))
            outage.begin()
            clients.active.set()
            time.sleep(1)  # the dead workspace's clients are waiting on it by now
            during.append(load.run(lambda i: read, args.requests, args.concurrency))
            clients.active.clear()
            outage.end()
            time.sleep(1)
    report(args, before, during, clients.statuses)


def setup(server: Server, port: int) -> tuple[str, str]:
    """The two workspaces' record paths: (on the customer's MySQL, on the managed one)."""
    paths = []
    for label, own in (("On its own MySQL", True), ("Managed", False)):
        _, ws = server.call("POST", "/api/v1/workspaces", {"name": label})
        if own:
            status, body = server.call(
                "PUT", f"/api/v1/workspaces/{ws['id']}/database", good(port=port)
            )
            assert status == 200, body
        spec = {"name": "Order", "fields": [{"name": "Title", "type": "text"}]}
        _, rt = server.call("POST", f"/api/v1/workspaces/{ws['id']}/types", spec)
        path = f"/api/v1/workspaces/{ws['id']}/types/{rt['id']}/records"
        for i in range(25):
            server.call("POST", path, {"fields": {"title": f"order {i}"}})
        paths.append(path + "?limit=25")
    return paths[0], paths[1]


def report(args: Any, before: list[Outcome], during: list[Outcome], dead: Counter[int]) -> None:
    print(f"\nhealthy workspace: {args.requests} reads at concurrency {args.concurrency}, ")
    print(f"{args.dead} clients asking the hung workspace during the outage\n")
    print(latency_rows({"healthy": before, "outage": during}))
    ratio = pooled_p99(during) / pooled_p99(before)
    print(f"\np99 during the outage / p99 without it (all rounds): {ratio:.2f}x")
    print(f"answers to the hung workspace: {dict(sorted(dead.items()))}")


if __name__ == "__main__":
    main()
