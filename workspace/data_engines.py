"""Engines of customer-owned data databases: which one a workspace uses, built once per process.

A workspace's record tables live in the managed database (the control database) unless an
admin connected the workspace to their own MySQL (a ``data_databases`` row in role
``active``). Each such database gets engines of its own, keyed by (row id, version), with a
small pool and short connect, read, write and pool timeouts from the settings: a customer
database that is down or crawling ties up a few request threads of its own workspace for a
few seconds, answers 503 naming itself (see ``workspace.db``), and leaves every other
workspace's pool alone.

Which database a workspace uses is read from the control database, together with the
workspace's ``data_epoch``, and kept for :data:`ROUTE_SECONDS` (a time-to-live cache, not a
version check on every request: that would add a control-database round trip to every record
read). A move switches the route and bumps the epoch in one transaction. Writes
cannot go to the wrong place: the write gate (:mod:`workspace.databases.gate`) reads the
epoch under a lock inside every write's transaction and passes it here, and a cached route of
another epoch is read afresh. Reads in other processes may see the old copy for those seconds,
which is equal to the new one at the switch and kept read-only.

Every new connection of those engines, pooled reconnections included, goes to a checked
address: :func:`pinned_connection` looks the host up, refuses internal addresses unless the
operator allows them, opens the TCP connection to the address itself and hands the socket
to PyMySQL, which keeps the host name for TLS (SNI and the certificate check). PyMySQL never
looks the name up, so a DNS answer that changes between check and connection (rebinding)
cannot lead it elsewhere; a database that moves to a new public address is still followed.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs; only connect() and its errors
from sqlalchemy import Engine, select
from sqlalchemy.engine import URL

from workspace import crypto
from workspace import models as m
from workspace.cache import TtlCache
from workspace.db import dispose, make_engine, transaction
from workspace.errors import Unavailable
from workspace.net import HostRefused, checked_addresses, connect_tcp
from workspace.settings import Settings

D, W = m.data_databases, m.workspaces
ROUTE_SECONDS = 5.0
#: The route cache's answer for "the managed database".
MANAGED = "managed"


def tls_context(ca_cert: str | None) -> ssl.SSLContext:
    """A client TLS context that checks the server's certificate and host name against
    ``ca_cert`` (PEM text) or, without one, the system's trusted CAs. Raises ``ssl.SSLError``
    (or ValueError) for a CA that is not a PEM certificate."""
    if ca_cert:
        return ssl.create_default_context(cadata=ca_cert)
    return ssl.create_default_context()


def url_of(row: Any, password: str) -> URL:
    return URL.create(
        "mysql+pymysql",
        username=row.user_name,
        password=password,
        host=row.host,
        port=row.port,
        database=row.database_name,
    )


def mysql_connection(sock: socket.socket, params: Mapping[str, Any]) -> Any:
    """A PyMySQL connection over ``sock``, already connected to a checked address.
    ``params["host"]`` stays the name the admin typed: PyMySQL uses it for TLS SNI and the
    certificate check only, never to connect. Closes ``sock`` if the login fails."""
    conn = pymysql.connect(**{**params, "defer_connect": True})
    conn.connect(sock)
    return conn


def pinned_connection(params: Mapping[str, Any], *, allow_private: bool) -> Any:
    """Connect as PyMySQL would with ``params`` (its keyword arguments), but to an address
    of ``params["host"]`` that was looked up and checked just now. A refused or unreachable
    host is PyMySQL's own "cannot connect" error (2003), which the engines answer with 503."""
    host, port = params["host"], int(params.get("port", 3306))
    try:
        addresses = checked_addresses(host, allow_private=allow_private)
        sock = connect_tcp(addresses, port, timeout=float(params.get("connect_timeout", 10)))
    except (HostRefused, OSError) as exc:
        raise pymysql.err.OperationalError(
            2003, f"Can't connect to MySQL server on {host!r} ({exc})"
        ) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return mysql_connection(sock, params)


def location(row: Any) -> str:
    """Where a customer database is, for people: ``host:port``."""
    return f"{row.host}:{row.port}"


def describe(row: Any) -> str:
    """A data database for people (None: the managed one)."""
    if row is None:
        return "The managed database of this server"
    tls = "TLS" if row.tls else "no TLS"
    return (
        f"MySQL database {row.database_name!r} at {location(row)} as user {row.user_name!r} ({tls})"
    )


class DataEngines:
    """This process's engines of customer data databases and its cache of who uses which."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._routes: TtlCache[Any] = TtlCache(ROUTE_SECONDS)
        self._engines: dict[tuple[int, int], Engine] = {}
        self._lock = threading.Lock()

    def engine_for(
        self, control: Engine, workspace_id: int, epoch: int | None = None
    ) -> Engine | None:
        """The engine of the workspace's own database, or None for the managed one. With
        ``epoch`` (read by the caller under the workspace's lock), a route cached at another
        epoch is read again."""
        key = str(workspace_id)
        cached = self._routes.get(key)
        if cached is None or (epoch is not None and cached[2] != epoch):
            active = (D.c.workspace_id == W.c.id) & (D.c.role == "active")
            query = select(W.c.data_epoch, D).outerjoin(D, active).where(W.c.id == workspace_id)
            with transaction(control) as conn:
                found = conn.execute(query).first()
            route = MANAGED if found is None or found.id is None else found
            cached = (workspace_id, route, found.data_epoch if found is not None else 0)
            self._routes.put(key, cached)
        if cached[1] is MANAGED:
            return None
        return self.engine_of(cached[1])

    def forget(self, workspace_id: int) -> None:
        """Read the workspace's route afresh on its next request (after a switch)."""
        self._routes.discard_where(lambda cached: cached[0] == workspace_id)

    def engine_of(self, row: Any) -> Engine:
        """The engine of a ``data_databases`` row, built on first use."""
        with self._lock:
            found = self._engines.get((row.id, row.version))
            if found is not None:
                return found
            for old in [k for k in self._engines if k[0] == row.id]:
                dispose(self._engines.pop(old))
            engine = self._build(row)
            self._engines[(row.id, row.version)] = engine
            return engine

    def _build(self, row: Any) -> Engine:
        where = location(row)
        allow_private = self.settings.allow_private_hosts
        try:
            # Checked again on use: the operator may have closed private hosts since. Each
            # connection checks the address it connects to as well (pinned_connection).
            checked_addresses(row.host, allow_private=allow_private)
            secret = crypto.open_sealed(self.settings.resolved_secret_key(), row.sealed)
        except (HostRefused, crypto.CredentialsUnreadable) as exc:
            raise Unavailable(
                f"the workspace's database at {where} cannot be used: {exc}"
            ) from None
        args: dict[str, Any] = {
            # PyMySQL would encode a text password as Latin-1; servers hash UTF-8.
            "password": secret["password"].encode(),
            "read_timeout": self.settings.customer_db_read_timeout,
            "write_timeout": self.settings.customer_db_read_timeout,
        }
        if row.tls:
            args["ssl"] = tls_context(row.ca_cert)
        return make_engine(
            url_of(row, secret["password"]),
            pool_size=self.settings.customer_db_pool_size,
            timeout=self.settings.customer_db_timeout,
            connect_args=args,
            outside=where,
            connect=functools.partial(pinned_connection, allow_private=allow_private),
        )

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                dispose(engine)
            self._engines.clear()
