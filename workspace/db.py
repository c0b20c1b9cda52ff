"""Engines and transactions for the control database and each workspace's data database.

SQLite and MySQL differ where it matters to us, so the differences are settled here once:
SQLite write transactions start with ``BEGIN IMMEDIATE`` (no lock upgrade deadlocks), run in
WAL mode with a busy timeout, and get a Unicode ``lower()`` like MySQL's; MySQL connections use
utf8mb4 and READ COMMITTED (fewer gap-lock deadlocks under concurrent upserts).

Reads cost one round trip per statement and nothing more: they run on autocommit connections
(a second small pool on MySQL; no BEGIN on SQLite), and no pool ever sends a reset ROLLBACK,
because ``transaction`` always ends what it began. Measured on the get-by-id path this cut
database round trips from nine to three.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import PoolProxiedConnection

from workspace.errors import Unavailable

#: The autocommit engine that serves read-only transactions of a (writer) engine.
_readers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
#: Where a customer's database is ("host:port"), for engines whose outage is the customer's.
_outside: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def make_engine(
    url: str | URL,
    *,
    pool_size: int = 20,
    timeout: int = 10,
    connect_args: Mapping[str, Any] | None = None,
    outside: str | None = None,
    connect: Callable[[dict[str, Any]], Any] | None = None,
) -> Engine:
    """Create an engine with this project's per-dialect settings applied.

    ``connect_args`` add to (or override) the driver's (MySQL: ``read_timeout``, ``ssl``).
    ``outside`` names a database the operator does not run ("host:port"): when it cannot be
    reached, :func:`transaction` answers 503 naming it, not 500. ``connect`` (MySQL) opens
    every new connection from the driver's keyword arguments in place of the driver: a
    customer's database is reached at a checked address (``workspace.data_engines``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(str(url), pool_size=pool_size, timeout=timeout)
    if parsed.get_backend_name() in {"mysql", "mariadb"}:
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
        args = {"connect_timeout": timeout, "read_timeout": 300, **(connect_args or {})}
        writer = _mysql_engine(parsed, "READ COMMITTED", pool_size, timeout, args, connect)
        reader = _mysql_engine(parsed, "AUTOCOMMIT", pool_size, timeout, args, connect)
        if outside is not None:
            _outside[writer] = _outside[reader] = outside
        # Autocommit connections have nothing to commit or roll back; PyMySQL would still
        # send COMMIT/ROLLBACK round trips for SQLAlchemy's bookkeeping calls.
        reader.dialect.do_commit = reader.dialect.do_rollback = _nothing  # type: ignore[method-assign]
        _readers[writer] = reader
        return writer
    raise SystemExit(f"unsupported database URL scheme: {parsed.get_backend_name()}")


def _mysql_engine(
    url: Any,
    isolation: str,
    pool_size: int,
    timeout: int,
    connect_args: dict[str, Any],
    connect: Callable[[dict[str, Any]], Any] | None,
) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        pool_recycle=1800,
        pool_reset_on_return=None,
        isolation_level=isolation,
        connect_args=connect_args,
    )

    if connect is not None:

        @event.listens_for(engine, "do_connect")
        def _do_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> Any:
            return connect(cparams)

    @event.listens_for(engine, "connect")
    def _on_mysql_connect(dbapi_conn: Any, _record: Any) -> None:
        # Fail a blocked write after `timeout` seconds (503) instead of InnoDB's 50.
        with dbapi_conn.cursor() as cursor:
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {int(timeout)}")

    return engine


def _nothing(dbapi_connection: PoolProxiedConnection) -> None:
    return None


def dispose(engine: Engine) -> None:
    """Close every pooled connection of ``engine`` and of its reader."""
    reader = _readers.get(engine)
    if reader is not None:
        reader.dispose()
    engine.dispose()


def _sqlite_engine(url: str, *, pool_size: int, timeout: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        pool_reset_on_return=None,
        connect_args={"check_same_thread": False, "timeout": timeout},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how each transaction starts.
        dbapi_conn.isolation_level = None
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Reads run without a transaction (autocommit); writes take the write lock up front.
        if conn.get_execution_options().get("write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def is_mysql(conn_or_engine: Connection | Engine) -> bool:
    return conn_or_engine.dialect.name in {"mysql", "mariadb"}


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row ``insert()`` (without ``returning``) wrote."""
    key = result.inserted_primary_key
    # Typed Optional by SQLAlchemy; it is None only for other kinds of statement.
    assert key is not None
    return key[0]


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction; commits on success, rolls back on any exception.

    ``write=False`` promises the block only reads: it runs on autocommit connections, each
    statement seeing the latest committed data.
    """
    if not write:
        engine = _readers.get(engine, engine)
    with _translated_errors(_outside.get(engine)), engine.connect() as conn:
        conn = conn.execution_options(write=write)
        with conn.begin():
            yield conn


@dataclass
class Tx:
    """The connections one unit of work uses: control data and the workspace's record data.

    When the workspace lives in the control database both are the same connection, so a
    record write and its activity entry commit or roll back together.
    """

    control: Connection
    data: Connection


@contextmanager
def unit_of_work(control: Engine, data: Engine, *, write: bool = False) -> Iterator[Tx]:
    with (
        transaction(control, write=write) as control_conn,
        joined(control_conn, control, data, write=write) as tx,
    ):
        yield tx


@contextmanager
def joined(
    control_conn: Connection, control: Engine, data: Engine, *, write: bool = False
) -> Iterator[Tx]:
    """The data side of a unit of work whose control transaction ``control_conn`` (of
    ``control``) is already open: the same connection when the data lives there too."""
    if data is control:
        yield Tx(control_conn, control_conn)
        return
    with transaction(data, write=write) as data_conn:
        yield Tx(control_conn, data_conn)


@contextmanager
def _translated_errors(outside: str | None = None) -> Iterator[None]:
    """Turn "busy, try again" database states into a 503 the client can retry; for a
    customer's database (``outside``) also a lost or refused connection and a full pool."""
    try:
        yield
    except OperationalError as exc:
        if _is_transient(exc):
            raise Unavailable("the database is busy; retry in a moment") from exc
        if outside is not None and _is_unreachable(exc):
            raise Unavailable(
                f"the workspace's database at {outside} is not answering: {_reason(exc)}",
                retry_after=5,
            ) from exc
        raise
    except PoolTimeout as exc:
        if outside is None:
            raise
        raise Unavailable(
            f"the workspace's database at {outside} is not answering: every connection to it "
            "is busy (it is slow or stopped)",
            retry_after=5,
        ) from exc


def is_deadlock(exc: BaseException | None) -> bool:
    """A deadlock victim: the whole transaction may simply be run again."""
    return isinstance(exc, DBAPIError) and _code(exc) == 1213


def _code(exc: DBAPIError) -> object:
    orig = exc.orig
    return orig.args[0] if orig is not None and orig.args else None


def _is_unreachable(exc: DBAPIError) -> bool:
    # Client-side errors (2000-2999: cannot connect, lost connection, timed out), too many
    # connections (1040) and a refused login (1044/1045: the password was changed there).
    code = _code(exc)
    return isinstance(code, int) and (2000 <= code < 3000 or code in {1040, 1044, 1045})


def _reason(exc: DBAPIError) -> str:
    orig = exc.orig
    args = orig.args if orig is not None else ()
    return str(args[1]) if len(args) > 1 else str(orig)


def _is_transient(exc: DBAPIError) -> bool:
    # MySQL: 1205 lock wait timeout, 1213 deadlock; SQLite: "database is locked".
    return _code(exc) in {1205, 1213} or "database is locked" in str(exc.orig)
