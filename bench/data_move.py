"""Moving a workspace's records to the customer's own MySQL, against a plain SQL copy.

One run, on one MySQL/MariaDB server (default ``root@127.0.0.1:3306``):

1. a fresh managed database (``bench_dedupe_move_<pid>``, migrated) and a fresh customer
   database ``bench_move_cust_<pid>`` with a user holding the privileges the server asks for
   (as ``tests/customer_mysql.py`` makes them); the server's settings let admins use
   loopback hosts;
2. a workspace with a small ``Company`` type (1,000 records) and a ``Person`` type of 8
   fields (text, email, single choice, number, date, long text, multiple choice, a relation
   to Company) with the ``email`` dedupe rule, ``--records`` people loaded through
   ``records.bulk`` (1,000 per call; not timed as part of the move);
3. the move: ``moves.begin`` (tests the connection, records the move) and
   ``data_mover.run`` in this process, the same code the background thread runs, while a
   writer thread creates people through ``records.create`` at ``--rate`` per second and
   counts the 503s (``DataMoving``). The phases are timed by wrapping the mover's steps
   (prepare, copy, walk, freeze, settle, switch); a second thread polls the move's state
   every 20 ms as a cross-check;
4. the same tables copied with plain SQL on the same server, one ``CREATE TABLE ... LIKE``
   and one ``INSERT INTO ... SELECT * FROM`` per table, and ``mysqldump | mysql`` when the
   clients are installed;
5. a table of the figures; every database and the user are dropped unless ``--keep-db``.

    .venv/bin/python bench/data_move.py --quick      # 10,000 people
    .venv/bin/python bench/data_move.py              # 100,000 people
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contact_data import contact
from cpu import pids_named, process_cpu_seconds
from dedupe_workspace import BenchWorkspace, mysql_admin
from sqlalchemy import select
from sqlalchemy.engine import make_url

from workspace import models as m
from workspace.databases import copies as data_copy
from workspace.databases import gate, moves, verify
from workspace.databases import mover as data_mover
from workspace.databases.checks import PRIVILEGES
from workspace.db import transaction
from workspace.errors import DataMoving
from workspace.records import records

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"
PID = os.getpid()
CUSTOMER, USER, PASSWORD = f"bench_move_cust_{PID}", f"bmove_{PID}", "bench-Pässword-6"
RAW, DUMP = f"bench_move_raw_{PID}", f"bench_move_dump_{PID}"
COMPANIES = 1000
TAGS = ["hot", "cold", "vip", "partner"]
STATUSES = ["lead", "active", "customer", "churned", "prospect"]
POLL = 0.02


def person_fields(company_type: int) -> list[dict[str, Any]]:
    return [
        {"name": "Name", "type": "text"},
        {"name": "Email", "type": "email"},
        {"name": "Status", "type": "single_choice", "config": {"choices": STATUSES}},
        {"name": "Amount", "type": "number", "config": {"decimals": 2}},
        {"name": "Created", "type": "date"},
        {"name": "Notes", "type": "long_text"},
        {"name": "Tags", "type": "multiple_choice", "config": {"choices": TAGS}},
        {"name": "Employer", "type": "relation", "config": {"target": company_type}},
    ]


def person(i: int, companies: list[int], tag: str = "") -> dict[str, Any]:
    c = contact(i, tag)
    tags = [TAGS[(i + k) % len(TAGS)] for k in range(i % 3)]  # none, one or two
    return {
        "name": c["name"],
        "email": c["email"],
        "status": c["status"],
        "amount": c["amount"],
        "created": c["created"],
        "notes": c["notes"],
        "tags": tags,
        "employer": [companies[i % len(companies)]],
    }


# ---- the server's databases ------------------------------------------------------------


def admin_sql(url: str, *statements: str) -> list[Any]:
    conn = mysql_admin(url)
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            return list(cursor.fetchall())
    finally:
        conn.close()


@contextmanager
def customer_database(url: str, keep: bool) -> Iterator[dict[str, Any]]:
    """The customer's database and user, and the empty databases of the plain SQL copies."""
    drop = [f"DROP DATABASE IF EXISTS `{name}`" for name in (CUSTOMER, RAW, DUMP)]
    drop.append(f"DROP USER IF EXISTS '{USER}'@'127.0.0.1'")
    admin_sql(url, *drop)
    admin_sql(
        url,
        *[
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            for name in (CUSTOMER, RAW, DUMP)
        ],
        f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
        f"GRANT {', '.join(PRIVILEGES)} ON `{CUSTOMER}`.* TO '{USER}'@'127.0.0.1'",
    )
    u = make_url(url)
    spec = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 3306,
        "database": CUSTOMER,
        "user": USER,
        "password": PASSWORD,
    }
    try:
        yield spec
    finally:
        if not keep:
            admin_sql(url, *drop)


# ---- the move, timed -----------------------------------------------------------------


def database_cpu() -> float:
    """CPU seconds of the MySQL/MariaDB server so far (0 when it is not on this machine)."""
    return sum(process_cpu_seconds(pid) or 0 for pid in pids_named(("mariadbd", "mysqld")))


class Timeline:
    """When each step of the mover started and ended, and the CPU seconds the mover's thread
    and the database server spent meanwhile, by wrapping the module functions the mover
    calls (timing only; the steps run unchanged)."""

    STEPS: list[tuple[ModuleType, str, str]] = [
        (data_copy, "prepare_target", "prepare target tables"),
        (data_copy, "copy_tables", "copy (online, keyset batches)"),
        (verify, "walk", "walk + repair, both sides in full (online)"),
        (gate, "freeze", "freeze (waits for writes in flight)"),
        (verify, "settle", "settle: records written since the walk, counts (frozen)"),
        (data_mover, "_switch", "switch (one control transaction)"),
    ]

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float]] = {}
        self.cpu: dict[str, tuple[float, float]] = {}  # (mover thread, database server)
        self._originals: list[tuple[ModuleType, str, Callable[..., Any]]] = []

    def __enter__(self) -> Timeline:
        for module, name, label in self.STEPS:
            original = getattr(module, name)
            self._originals.append((module, name, original))
            setattr(module, name, self._timed(original, label))
        return self

    def __exit__(self, *exc: object) -> None:
        for module, name, original in self._originals:
            setattr(module, name, original)

    def _timed(self, original: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, own, db = time.perf_counter(), time.thread_time(), database_cpu()
            try:
                return original(*args, **kwargs)
            finally:
                self.marks[label] = (started, time.perf_counter())
                self.cpu[label] = (time.thread_time() - own, database_cpu() - db)

        return timed

    def start(self, step: str) -> float:
        return next(v[0] for k, v in self.marks.items() if k.startswith(step))

    def end(self, step: str) -> float:
        return next(v[1] for k, v in self.marks.items() if k.startswith(step))


class Writer:
    """Creates people at ``rate`` per second through ``records.create`` (the service behind
    ``POST /records``) and counts the answers; a 503 is not retried, the next tick makes
    the next attempt, as a client retrying after a moment would."""

    def __init__(self, ws: BenchWorkspace, type_id: int, companies: list[int], rate: float):
        self.ws, self.type_id, self.companies, self.rate = ws, type_id, companies, rate
        self.made: list[tuple[float, int]] = []
        self.refused: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, name="writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _write(self) -> None:
        i, tick = 0, time.perf_counter()
        while not self._stop.is_set():
            fields = person(i, self.companies, tag=f"w{PID}")
            i += 1
            try:
                rt = self.ws.rt(self.type_id)
                made = records.create(self.ws.runtime, self.ws.acc, rt, fields)
                self.made.append((time.perf_counter(), int(made["id"])))
            except DataMoving:
                self.refused.append(time.perf_counter())
            except Exception as exc:  # counted and shown, never hidden
                self.errors.append(f"{type(exc).__name__}: {exc}")
            tick += 1 / self.rate
            self._stop.wait(max(0.0, tick - time.perf_counter()))


class StatePoller:
    """The move's state read from its row every 20 ms: when it was first seen switching
    (frozen) and done (switched)."""

    def __init__(self, ws: BenchWorkspace, move_id: int) -> None:
        self.ws, self.move_id = ws, move_id
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        query = select(m.data_moves.c.state).where(m.data_moves.c.id == self.move_id)
        while not self._stop.is_set():
            with transaction(self.ws.runtime.control) as conn:
                state = conn.execute(query).scalar_one()
            self.seen.setdefault(state, time.perf_counter())
            self._stop.wait(POLL)


def move(ws: BenchWorkspace, spec: dict[str, Any], writer: Writer) -> dict[str, Any]:
    """Run the move with the writer going; its timings and outcome."""
    writer.start()
    time.sleep(1)  # the writer is going before the move starts
    with Timeline() as timeline:
        started = time.perf_counter()
        claim = moves.begin(ws.runtime, ws.acc, spec)
        begun = time.perf_counter()
        poller = StatePoller(ws, claim.id)
        state = data_mover.run(ws.runtime, claim)
        ended = time.perf_counter()
    poller.stop()
    time.sleep(0.5)  # and goes on after the switch, on the new database
    writer.stop()
    status = moves.status(ws.runtime, ws.acc, claim.id)
    return {
        "state": state,
        "status": status,
        "started": started,
        "begun": begun,
        "ended": ended,
        "timeline": timeline,
        "polled": poller.seen,
    }


# ---- the plain SQL copies --------------------------------------------------------------


def raw_copy(url: str, managed: str, names: list[str]) -> dict[str, float]:
    """CREATE TABLE ... LIKE and INSERT ... SELECT per table, on the same server; seconds
    per table."""
    took = {}
    conn = mysql_admin(url)
    try:
        with conn.cursor() as cursor:
            for name in names:
                started = time.perf_counter()
                cursor.execute(f"CREATE TABLE `{RAW}`.`{name}` LIKE `{managed}`.`{name}`")
                cursor.execute(f"INSERT INTO `{RAW}`.`{name}` SELECT * FROM `{managed}`.`{name}`")
                took[name] = time.perf_counter() - started
    finally:
        conn.close()
    return took


def dump_copy(url: str, managed: str, names: list[str]) -> float | None:
    """``mysqldump --single-transaction managed tables | mysql dump_db``; None without the
    clients."""
    dump, client = shutil.which("mysqldump"), shutil.which("mysql")
    if dump is None or client is None:
        return None
    u = make_url(url)
    login = [f"--host={u.host or '127.0.0.1'}", f"--port={u.port or 3306}"]
    login.append(f"--user={u.username or 'root'}")
    env = {**os.environ, "MYSQL_PWD": u.password or ""}
    started = time.perf_counter()
    producer = subprocess.Popen(
        [dump, *login, "--single-transaction", managed, *names], stdout=subprocess.PIPE, env=env
    )
    subprocess.run([client, *login, DUMP], stdin=producer.stdout, env=env, check=True)
    if producer.wait() != 0:
        raise RuntimeError("mysqldump failed")
    return time.perf_counter() - started


# ---- the run ---------------------------------------------------------------------------


def load(ws: BenchWorkspace, n: int) -> tuple[int, list[int]]:
    """The two types, the dedupe rule and the records; (person type id, company ids)."""
    company_type = ws.new_type("Company", [{"name": "Name", "type": "text"}])
    companies, _ = ws.load(company_type, [{"name": f"Firma {i}"} for i in range(COMPANIES)])
    person_type = ws.new_type("Person", person_fields(company_type))
    ws.add_rules(person_type, [{"rule": "email", "fields": ["email"], "on_create": "block"}])
    ids = [i for i in companies if i is not None]
    started = time.perf_counter()
    for chunk in range(0, n, 10_000):
        rows = [person(i, ids) for i in range(chunk, min(n, chunk + 10_000))]
        _, refused = ws.load(person_type, rows)
        assert refused == 0, f"{refused} people refused while loading"
        done = chunk + len(rows)
        rate = done / (time.perf_counter() - started)
        print(f"  {done:>9,} people loaded ({rate:,.0f} rows/s)", flush=True)
    return person_type, ids


def report(
    n: int,
    result: dict[str, Any],
    rows: dict[str, int],
    raw: dict[str, float],
    dumped: float | None,
    writer: Writer,
    present: int,
) -> None:
    t: Timeline = result["timeline"]
    total = result["ended"] - result["started"]
    copied = sum(rows.values())
    freeze = t.end("switch") - t.start("freeze")
    settle = t.end("settle") - t.start("settle")
    raw_s = sum(raw.values())
    during = [i for at, i in writer.made if result["started"] <= at <= result["ended"]]
    polled = result["polled"]
    print(f"\nMove of {n:,} people to the customer database: {result['state']}")
    print(
        "\n| step | s | share of the move | mover thread CPU s | database server CPU s |"
        "\n| --- | --- | --- | --- | --- |"
    )
    print(f"| test connection, record the move | {result['begun'] - result['started']:.2f} |")
    for _, _, label in Timeline.STEPS:
        a, b = t.marks[label]
        own, db = t.cpu[label]
        print(f"| {label} | {b - a:.2f} | {100 * (b - a) / total:.0f} % | {own:.2f} | {db:.2f} |")
    after = result["ended"] - t.end("switch")
    print(f"| after the switch (readable views) | {after:.2f} |")
    print(f"| **whole move** | **{total:.2f}** |")
    print("\n| table | rows | raw INSERT ... SELECT s |\n| --- | --- | --- |")
    for name, count in rows.items():
        print(f"| {name} | {count:,} | {raw[name]:.2f} |")
    print(
        "\n| records | rows copied (all tables) | move total s | rows/s | freeze s "
        "| raw SQL INSERT...SELECT s | move/raw | mysqldump \\| mysql s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {n:,} | {copied:,} | {total:.1f} | {copied / total:,.0f} | {freeze:.2f} "
        f"| {raw_s:.1f} | {total / raw_s:.1f}x | "
        + ("-" if dumped is None else f"{dumped:.1f}")
        + " |"
    )
    print(
        f"\nfreeze: {freeze:.2f} s from the freeze call to the switch's commit (instrumented), "
        f"of which settling {settle:.2f} s ({100 * settle / freeze:.0f} %)"
    )
    if "switching" in polled and "done" in polled:
        print(
            f"freeze polled every {POLL * 1000:.0f} ms (state switching -> done): "
            f"{polled['done'] - polled['switching']:.2f} s"
        )
    if writer.refused:
        window = writer.refused[-1] - writer.refused[0]
        print(f"the writer's first to last 503: {window:.2f} s")
    print(
        f"writes: {len(writer.refused)} refused (503) during the freeze, "
        f"{len(during)} made during the move ({len(writer.made)} in all, "
        f"{present} of them found in the customer database after the move), "
        f"{len(writer.errors)} other errors"
    )
    for error in writer.errors[:5]:
        print(f"  {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="people to load")
    parser.add_argument("--quick", action="store_true", help="10,000 people")
    parser.add_argument("--rate", type=float, default=20, help="writer's creates per second")
    parser.add_argument("--mysql", default=os.environ.get("BENCH_MYSQL_URL", DEFAULT_MYSQL))
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.records
    run_started = time.perf_counter()
    with customer_database(args.mysql, args.keep_db) as spec:
        ws = BenchWorkspace(
            "mysql",
            args.mysql,
            "move",
            keep=args.keep_db,
            allow_private_hosts=True,
            customer_db_read_timeout=60,
        )
        try:
            print(f"loading {n:,} people into {ws.database}", flush=True)
            started = time.perf_counter()
            person_type, companies = load(ws, n)
            print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)
            # A real workspace's records were written before the move, not seconds before:
            # wait until the load is older than the clock allowance the frozen step rereads.
            settled = data_mover.CLOCK_SKEW.total_seconds()
            print(f"  waiting {settled:.0f} s (data_mover.CLOCK_SKEW)", flush=True)
            time.sleep(settled)
            assert ws.database is not None
            writer = Writer(ws, person_type, companies, args.rate)
            print(f"moving to {CUSTOMER} with a writer at {args.rate:g}/s", flush=True)
            result = move(ws, spec, writer)
            # Rows copied: each table's source rows as verification counted them when frozen.
            rows = {t["name"]: t["source_rows"] for t in result["status"]["tables"]}
            names = list(rows)
            ids = [i for _, i in writer.made]
            person_table = f"rt_{person_type}"
            present = int(
                admin_sql(
                    args.mysql,
                    f"SELECT COUNT(*) FROM `{CUSTOMER}`.`{person_table}` "
                    f"WHERE id IN ({','.join(map(str, ids)) or 'NULL'})",
                )[0][0]
            )
            print("plain SQL copies of the same tables", flush=True)
            raw = raw_copy(args.mysql, ws.database, names)
            dumped = dump_copy(args.mysql, ws.database, names)
            report(n, result, rows, raw, dumped, writer, present)
        finally:
            ws.close()
    print(f"whole run: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
