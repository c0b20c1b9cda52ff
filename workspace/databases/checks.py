"""Test connection to a customer's MySQL, one step at a time, so a failure names its step.

The steps, in order: DNS (the name resolves), host (no loopback, private, link-local or
metadata address unless the operator allows them: checked before any socket opens), TLS
settings (the CA is a PEM certificate), TCP (something listens), TLS handshake and login,
server version, the database's default character set, and the privileges the server needs on
that database. Each failure is a :class:`ConnectionFailed` naming the step and the form field
it concerns. The name is looked up once: the TCP step connects to the address the host step
checked, and the login runs over that very connection (see ``workspace.net``).
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs; only its errors and connect()

from workspace.data_engines import mysql_connection, tls_context
from workspace.errors import WorkspaceError
from workspace.net import HostRefused, connect_tcp, refuse_internal, resolve

#: What the server needs on the customer's database: record tables and their link tables
#: (CREATE, ALTER, DROP, INDEX, REFERENCES for the links' foreign keys), records (SELECT,
#: INSERT, UPDATE, DELETE) and the readable views (CREATE VIEW).
PRIVILEGES = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "ALTER",
    "DROP",
    "INDEX",
    "CREATE VIEW",
    "REFERENCES",
)
#: The oldest servers supported: utf8mb4 index keys up to 3072 bytes by default, JSON
#: columns, window functions, and on MariaDB INSERT ... RETURNING (10.5), which bulk creates
#: use where the server has it. Older releases are past their vendors' support anyway.
MINIMUM = {"MySQL": (8, 0), "MariaDB": (10, 5)}
MINIMUM_TEXT = "MySQL 8.0 or MariaDB 10.5"

STEPS = {
    "dns": "DNS",
    "host": "Host refused",
    "tcp": "TCP",
    "tls": "TLS",
    "auth": "Login",
    "database": "Database",
    "version": "Version",
    "charset": "Character set",
    "privileges": "Privileges",
}


class ConnectionFailed(WorkspaceError):
    """A step of the test connection failed; ``fields`` names the setting it concerns and
    ``step`` (in the error body) which step it was."""

    status = 422
    code = "connection_failed"

    def __init__(self, step: str, field: str, reason: str) -> None:
        super().__init__(f"{STEPS[step]}: {reason}", fields={field: reason}, details={"step": step})
        self.step = step


@dataclass(frozen=True)
class Target:
    """Complete settings of a customer database, password included."""

    host: str
    port: int
    database: str
    user: str
    password: str
    tls: bool
    ca_cert: str | None
    #: What the last connection test found risky about the server (durability settings).
    warnings: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def check(target: Target, *, allow_private: bool, timeout: float) -> dict[str, Any]:
    """Run every step against ``target``; returns what was found: the server's version and
    ``warnings`` about its durability (never a refusal: it is the customer's server)."""
    addresses, context = _before_connecting(target, allow_private=allow_private)
    conn = _login(target, _tcp(target, addresses, timeout), context, timeout)
    try:
        with conn.cursor() as cursor:
            version = _version(target, cursor)
            _charset(target, cursor)
            granted = _privileges(target, cursor)
            warnings = _durability(target, cursor) + _without_triggers(target, granted)
    finally:
        conn.close()
    return {"server_version": version, "warnings": warnings}


def _before_connecting(
    target: Target, *, allow_private: bool
) -> tuple[list[str], ssl.SSLContext | None]:
    """The checked addresses to connect to, and the TLS context (None without TLS)."""
    try:
        found = resolve(target.host)
    except HostRefused:
        raise ConnectionFailed(
            "dns", "host", f"no address found for the host name {target.host!r}"
        ) from None
    try:
        addresses = refuse_internal(target.host, found, allow_private=allow_private)
    except HostRefused as exc:
        raise ConnectionFailed("host", "host", str(exc)) from None
    if not target.tls:
        return addresses, None
    try:
        return addresses, tls_context(target.ca_cert)
    except (ssl.SSLError, ValueError):
        raise ConnectionFailed(
            "tls", "ca_cert", "is not a PEM certificate (-----BEGIN CERTIFICATE----- ...)"
        ) from None


def _tcp(target: Target, addresses: list[str], timeout: float) -> socket.socket:
    try:
        return connect_tcp(addresses, target.port, timeout=timeout)
    except ConnectionRefusedError:
        raise ConnectionFailed(
            "tcp", "port", f"nothing accepts connections on {target.where} (connection refused)"
        ) from None
    except TimeoutError:
        raise ConnectionFailed(
            "tcp", "host", f"no answer from {target.where} within {timeout:g} seconds"
        ) from None
    except OSError as exc:
        raise ConnectionFailed("tcp", "host", f"cannot reach {target.where}: {exc}") from None


def _login(
    target: Target, sock: socket.socket, context: ssl.SSLContext | None, timeout: float
) -> Any:
    params = {
        "host": target.host,
        "port": target.port,
        "user": target.user,
        # PyMySQL would encode a text password as Latin-1; servers hash UTF-8.
        "password": target.password.encode(),
        "database": target.database,
        "ssl": context,
        "connect_timeout": timeout,
        "read_timeout": timeout,
        "write_timeout": timeout,
        "charset": "utf8mb4",
    }
    try:
        return mysql_connection(sock, params)
    except pymysql.MySQLError as exc:
        # PyMySQL reports a failed TLS handshake as "cannot connect" (2003) around it.
        cause = getattr(exc, "original_exception", None)
        if isinstance(cause, ssl.SSLError):
            field = "ca_cert" if "CERTIFICATE" in str(cause).upper() else "tls"
            reason = cause.reason or cause
            raise ConnectionFailed(
                "tls", field, f"the TLS handshake with {target.where} failed: {reason}"
            ) from None
        raise _login_failure(target, exc) from None


def _login_failure(target: Target, exc: pymysql.MySQLError) -> ConnectionFailed:
    code = exc.args[0] if exc.args else None
    if code == 2026:
        return ConnectionFailed(
            "tls", "tls", f"{target.where} does not offer TLS; turn TLS off or enable it there"
        )
    if code == 1045:
        return ConnectionFailed(
            "auth", "password", f"{target.where} refused user {target.user!r}: wrong password"
        )
    if code == 1044:
        # MySQL answers this also for a database that does not exist, so as not to tell.
        return ConnectionFailed(
            "database",
            "database",
            f"user {target.user!r} may not use the database {target.database!r}, or there is "
            "no such database",
        )
    if code == 1049:
        return ConnectionFailed(
            "database", "database", f"there is no database {target.database!r} on {target.where}"
        )
    message = exc.args[1] if len(exc.args) > 1 else str(exc)
    return ConnectionFailed("tcp", "host", f"cannot connect to {target.where}: {message}")


def _version(target: Target, cursor: Any) -> str:
    cursor.execute("SELECT VERSION()")
    return check_version(target, str(cursor.fetchone()[0]))


def check_version(target: Target, text: str) -> str:
    """ "MariaDB 10.11.6" from what ``SELECT VERSION()`` said, or ConnectionFailed naming the
    minimum when the server is older."""
    product = "MariaDB" if "mariadb" in text.lower() else "MySQL"
    numbers = tuple(int(n) for n in re.findall(r"\d+", text)[:2])
    if numbers < MINIMUM[product]:
        raise ConnectionFailed(
            "version",
            "host",
            f"{target.where} runs {product} {text.split('-')[0]}; the minimum is {MINIMUM_TEXT}",
        )
    return f"{product} {text.split('-')[0]}"


def _charset(target: Target, cursor: Any) -> None:
    cursor.execute(
        "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = DATABASE()"
    )
    charset = str(cursor.fetchone()[0])
    if charset.lower() != "utf8mb4":
        raise ConnectionFailed(
            "charset",
            "database",
            f"the database {target.database!r} uses the character set {charset} by default; "
            "it must be utf8mb4 (ALTER DATABASE ... CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_unicode_ci)",
        )


def _privileges(target: Target, cursor: Any) -> set[str]:
    """The user's privileges on the database; refused if one the server needs is missing."""
    cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
    granted = granted_privileges([str(row[0]) for row in cursor.fetchall()], target.database)
    missing = [p for p in PRIVILEGES if p not in granted]
    if missing:
        raise ConnectionFailed(
            "privileges",
            "user",
            f"user {target.user!r} lacks {', '.join(missing)} on the database "
            f"{target.database!r}; grant them with GRANT {', '.join(missing)} ON "
            f"`{target.database}`.* TO ...",
        )
    return granted


def _without_triggers(target: Target, granted: set[str]) -> list[str]:
    """TRIGGER is not needed to work, only to have the database itself refuse changes to an
    old copy a move leaves here (workspace.databases.read_only): a warning, not a refusal."""
    if "TRIGGER" in granted:
        return []
    return [
        f"user {target.user!r} lacks TRIGGER on {target.database!r}: an old copy a move "
        "leaves here is kept read-only by this server only, not by the database "
        f"(GRANT TRIGGER ON `{target.database}`.* TO ...)"
    ]


def _durability(target: Target, cursor: Any) -> list[str]:
    cursor.execute(
        "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.log_bin, @@GLOBAL.sync_binlog"
    )
    flush_log, binary_log, sync_binlog = cursor.fetchone()
    return durability_warnings(
        target.where, int(flush_log), bool(int(binary_log)), int(sync_binlog)
    )


def durability_warnings(
    where: str, flush_log: int, binary_log: bool, sync_binlog: int
) -> list[str]:
    """What the server's settings risk of changes it has reported as committed: a
    warning per setting that lets a crash lose some (InnoDB's log flushed about once a
    second; a binary log the operating system writes out when it likes)."""
    found = []
    if flush_log != 1:
        stops = "MySQL or the machine stops" if flush_log == 0 else "the machine stops"
        found.append(
            f"{where} runs with innodb_flush_log_at_trx_commit = {flush_log}: committed "
            f"changes reach the disk about once a second, so when {stops}, up to a second "
            "of them is lost. Set it to 1 (the default) to keep every committed change."
        )
    if binary_log and sync_binlog == 0:
        found.append(
            f"{where} keeps a binary log with sync_binlog = 0: the operating system decides "
            "when it reaches the disk, so after a crash of the machine the log (replicas, "
            "point-in-time recovery) may lack changes the tables have. Set sync_binlog = 1."
        )
    return found


_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<db>\S+)\.(?P<table>\S+) TO ", re.DOTALL)


def granted_privileges(grants: list[str], database: str) -> set[str]:
    """The privileges ``SHOW GRANTS`` lines give on every table of ``database`` (global and
    database-wide grants, database name patterns included; table and column grants do not
    cover tables yet to be created). Privileges that come through roles are not seen."""
    found: set[str] = set()
    for line in grants:
        match = _GRANT.match(line)
        if not match or match["table"] != "*" or not _covers(match["db"], database):
            continue
        for privilege in match["privs"].split(","):
            name = privilege.strip().upper()
            if name in {"ALL", "ALL PRIVILEGES"}:
                found.update(PRIVILEGES, ("TRIGGER",))
            elif "(" not in name:
                found.add(name)
    return found


def _covers(pattern: str, database: str) -> bool:
    if pattern == "*":
        return True
    pattern = pattern.strip("`").replace("``", "`")
    regex, escaped = "", False
    for char in pattern:
        if escaped:
            regex += re.escape(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex += ".*"
        elif char == "_":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, database) is not None
