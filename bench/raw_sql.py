"""The baseline: the same operations as plain SQL with PyMySQL on an equivalent indexed table.

One thread per unit of concurrency, one connection per thread, autocommit (each statement is
its own transaction, as each API request is).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pymysql
from load_client import Outcome, process_cpu

TABLE_DDL = """
CREATE TABLE contacts (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255), email VARCHAR(254), phone VARCHAR(32), company VARCHAR(255),
  status VARCHAR(100), amount DECIMAL(18,2), created DATE, notes MEDIUMTEXT,
  UNIQUE KEY uq_email (email), KEY ix_status (status), KEY ix_amount (amount),
  KEY ix_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
INSERT = (
    "INSERT INTO contacts (name, email, phone, company, status, amount, created, notes) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
GET = "SELECT * FROM contacts WHERE id = %s"
PAGE = "SELECT * FROM contacts WHERE status = %s AND amount > %s ORDER BY name, id LIMIT 25"
BY_EMAIL = "SELECT * FROM contacts WHERE email = %s LIMIT 1"
UPDATE = "UPDATE contacts SET amount = %s WHERE id = %s"

# op(cursor, i) runs request i and returns False when it found nothing (a miss).
Op = Callable[[Any, int], bool]


def connect(params: dict[str, Any], database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(**params, database=database, autocommit=True, charset="utf8mb4")


def create_table(params: dict[str, Any], database: str) -> None:
    conn = connect(params, database)
    try:
        with conn.cursor() as cur:
            cur.execute(TABLE_DDL)
    finally:
        conn.close()


def run(params: dict[str, Any], database: str, op: Op, count: int, concurrency: int) -> Outcome:
    """Run ``op(cursor, 0..count-1)`` on ``concurrency`` threads; latencies like the API's."""
    outcome = Outcome()
    counter = iter(range(count))
    lock = threading.Lock()
    threads_n = min(concurrency, count)
    ready = threading.Barrier(threads_n + 1)

    def worker() -> None:
        conn = connect(params, database)
        latencies, misses, errors = [], 0, []
        try:
            ready.wait()
            with conn.cursor() as cur:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        break
                    t0 = time.perf_counter()
                    try:
                        found = op(cur, i)
                    except pymysql.MySQLError as exc:
                        errors.append(f"request {i}: {exc!r}")
                        continue
                    latencies.append(time.perf_counter() - t0)
                    misses += not found
        finally:
            conn.close()
        with lock:
            outcome.latencies.extend(latencies)
            outcome.statuses[200] += len(latencies)
            outcome.statuses[0] += len(errors)
            outcome.errors.extend(errors[:5])
            outcome.misses += misses

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    ready.wait()
    cpu, started = process_cpu(), time.perf_counter()
    for t in threads:
        t.join()
    outcome.wall = time.perf_counter() - started
    outcome.cpu = process_cpu() - cpu
    return outcome


def insert_many(rows: Callable[[int], list[tuple[Any, ...]]]) -> Op:
    def op(cur: Any, i: int) -> bool:
        cur.executemany(INSERT, rows(i))  # PyMySQL sends one multi-row INSERT
        return True

    return op


def query(sql: str, args: Callable[[int], tuple[Any, ...]]) -> Op:
    def op(cur: Any, i: int) -> bool:
        cur.execute(sql, args(i))
        return bool(cur.fetchall())

    return op


def execute(sql: str, args: Callable[[int], tuple[Any, ...]]) -> Op:
    def op(cur: Any, i: int) -> bool:
        cur.execute(sql, args(i))
        return True

    return op
