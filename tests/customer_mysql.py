"""A customer's own MySQL for the data database tests: a second database on the
test MariaDB, a user with every privilege the server needs on it (and on a latin1 database),
and a user who may only read and insert; all dropped again at the end. And a MySQL that has
stopped answering: it takes connections and never says a word."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pymysql
import pytest

from tests.conftest import _mysql_admin
from workspace.databases.checks import PRIVILEGES
from workspace.settings import Settings

PID = os.getpid()
DB, LATIN, USER, WEAK = f"ws_cust_{PID}", f"ws_latin_{PID}", f"wsc_{PID}", f"wsw_{PID}"
#: Not ASCII on purpose: servers hash the UTF-8 bytes.
PASSWORD = "s3cret-Pässword"


def _sql(*statements: str) -> None:
    conn = _mysql_admin()
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    conn.close()


@contextmanager
def customer_database() -> Iterator[None]:
    drop = [
        f"DROP DATABASE IF EXISTS `{DB}`",
        f"DROP DATABASE IF EXISTS `{LATIN}`",
        f"DROP USER IF EXISTS '{USER}'@'127.0.0.1'",
        f"DROP USER IF EXISTS '{WEAK}'@'127.0.0.1'",
    ]
    _sql(*drop)
    _sql(
        f"CREATE DATABASE `{DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        f"CREATE DATABASE `{LATIN}` CHARACTER SET latin1",
        f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
        f"CREATE USER '{WEAK}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
        # TRIGGER too: a move's old copy here is then read-only in the database itself.
        f"GRANT {', '.join(PRIVILEGES)}, TRIGGER ON `{DB}`.* TO '{USER}'@'127.0.0.1'",
        f"GRANT {', '.join(PRIVILEGES)} ON `{LATIN}`.* TO '{USER}'@'127.0.0.1'",
        f"GRANT SELECT, INSERT ON `{DB}`.* TO '{WEAK}'@'127.0.0.1'",
    )
    try:
        yield
    finally:
        _sql(*drop)


def good(**changes: Any) -> dict[str, Any]:
    """Settings that pass every check (as the API takes them), with ``changes``."""
    spec = {"host": "127.0.0.1", "port": 3306, "database": DB, "user": USER, "password": PASSWORD}
    return {**spec, **changes}


def customer_sql(statement: str) -> list[tuple[Any, ...]]:
    """Plain SQL on the customer's database, as its owner would run it (autocommit, as the
    mysql client does)."""
    conn = pymysql.connect(host="127.0.0.1", user="root", database=DB, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())
    finally:
        conn.close()


def clear() -> None:
    """Drop every table and view of the customer's database (between tests that reuse it:
    record table ids start again with each fresh control database)."""
    for name, kind in customer_sql("SHOW FULL TABLES"):
        customer_sql(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def customer() -> Iterator[None]:
    """The customer's database and users, for a module's tests."""
    with customer_database():
        yield


@pytest.fixture(autouse=True)
def fresh_customer_database(customer: None) -> Iterator[None]:
    """Imported into a module: each of its tests leaves the customer's database empty."""
    yield
    clear()


def customer_settings(database_url: str, data_dir: Any, **changes: Any) -> Settings:
    """Server settings whose operator lets admins use hosts on loopback (the customer's
    MariaDB is there), with short timeouts to it."""
    defaults: dict[str, Any] = {
        "migrate_on_start": False,
        "db_timeout": 5,
        "allow_private_hosts": True,
        "customer_db_timeout": 3,
        "customer_db_read_timeout": 5,
        "api_rate_limit": 0,  # as the suite's own settings (tests/conftest.py)
        "api_address_rate_limit": 0,
    }
    return Settings(database_url=database_url, data_dir=data_dir, **{**defaults, **changes})


class Unanswering:
    """A "MySQL" on loopback that accepts connections and never answers (a server that hung,
    or a firewall that swallows the packets): a client waits for the greeting until its own
    timeout. Holds every connection open until :meth:`close`."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        for sock in [self.listener, *self.held]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
