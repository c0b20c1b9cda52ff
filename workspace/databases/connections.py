"""Where a workspace's record tables live: the managed database or the customer's own MySQL.

A workspace starts on the managed database (the control database) without any row here. An
admin connects it to their own MySQL: the settings are tested step by step
(:mod:`workspace.databases.checks`) and stored only when every step passed, with the
password sealed by the server key and never shown again. Record types created afterwards
get their tables, and a readable view each (:mod:`workspace.databases.sql_views`), there.

A workspace without record types is switched at once (:func:`connect`, :func:`disconnect`);
one with records is moved (:mod:`workspace.databases.moves`): copied, verified and
switched while it keeps working, and the settings of the database it moves to are kept here
in role ``target`` until the switch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import crypto
from workspace import models as m
from workspace.clock import utcnow
from workspace.data_engines import describe
from workspace.databases import gate, move_status
from workspace.databases.checks import MINIMUM_TEXT, PRIVILEGES, Target, check
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, ValidationFailed
from workspace.principal import Access, Principal
from workspace.runtime import Runtime

D, RT = m.data_databases, m.record_types
DEFAULT_PORT = 3306
SETTINGS = ("host", "port", "database", "user", "password", "tls", "ca_cert")


def overview(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """Where the workspace's records live, what a connection needs, and whether it can be
    switched now (admins only)."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        row = active_row(conn, acc.workspace_id)
        types = _type_count(conn, acc.workspace_id)
        move = move_status.latest(conn, acc.workspace_id)
        old_copy = move_status.old_copy(conn, acc.workspace_id)
    return {
        "managed": row is None,
        "location": describe(row),
        "connection": public(row) if row is not None else None,
        "record_types": types,
        # Without records the database is switched at once; with records it is moved.
        "can_switch": types == 0 and not (move and move["state"] in gate.UNFINISHED),
        "move": move,
        "old_copy": old_copy,
        "privileges": list(PRIVILEGES),
        "minimum_version": MINIMUM_TEXT,
        "character_set": "utf8mb4",
    }


def public(row: Any) -> dict[str, Any]:
    """A connection as admins see it: no password, only that one is saved."""
    return {
        "id": row.id,
        "host": row.host,
        "port": row.port,
        "database": row.database_name,
        "user": row.user_name,
        "tls": row.tls,
        "ca_cert": row.ca_cert,
        "password_saved": True,
        "warnings": list(row.warnings or []),
        "version": row.version,
        "updated_at": row.updated_at,
    }


def active_row(conn: Connection, workspace_id: int) -> Any:
    return conn.execute(
        select(D).where(D.c.workspace_id == workspace_id, D.c.role == "active")
    ).first()


def test_connection(runtime: Runtime, acc: Access, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Try the settings step by step without storing anything; a failure is a 422
    ``connection_failed`` naming the step and the setting."""
    acc.require("admin")
    target = _target(runtime, acc, spec)
    found = _check(runtime, target)
    return {
        "ok": True,
        **found,
        "message": f"Connected to {target.where} ({found['server_version']}): the database "
        f"{target.database!r} is utf8mb4 and user {target.user!r} has every privilege needed."
        + (
            " Its server runs with settings that can lose changes in a crash: see below."
            if found["warnings"]
            else ""
        ),
    }


def connect(runtime: Runtime, acc: Access, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Test the settings, then make that database the workspace's data database. Only while
    the workspace has no record types (409 pointing at a move otherwise); stores nothing when
    the test fails."""
    acc.require("admin")
    target = checked(runtime, acc, spec, before=_require_no_types)
    with transaction(runtime.control, write=True) as conn:
        _require_no_types(conn, acc.workspace_id)
        old = active_row(conn, acc.workspace_id)
        _retire(conn, old)
        add_row(runtime, conn, acc, target, "active")
        new = active_row(conn, acc.workspace_id)
        gate.bump_epoch(conn, acc.workspace_id)
        log(conn, acc.workspace_id, acc.principal, describe(old), describe(new))
    runtime.data_engines.forget(acc.workspace_id)
    return overview(runtime, acc)


def checked(
    runtime: Runtime,
    acc: Access,
    spec: Mapping[str, Any],
    *,
    before: Callable[[Connection, int], None],
) -> Target:
    """The submitted settings, tested step by step after ``before`` (a cheap refusal, run
    first so a refused request opens no connection to the customer's server), with what
    the test warned about."""
    target = _target(runtime, acc, spec)
    with transaction(runtime.control) as conn:
        before(conn, acc.workspace_id)
    found = _check(runtime, target)
    return dataclasses.replace(target, warnings=tuple(found["warnings"]))


def add_row(runtime: Runtime, conn: Connection, acc: Access, target: Target, role: str) -> int:
    """Store tested settings with the password sealed, in ``role`` (active or target)."""
    sealed = crypto.seal(runtime.settings.resolved_secret_key(), {"password": target.password})
    now = utcnow()
    return inserted_id(
        conn.execute(
            insert(D).values(
                workspace_id=acc.workspace_id,
                host=target.host,
                port=target.port,
                database_name=target.database,
                user_name=target.user,
                sealed=sealed,
                tls=target.tls,
                ca_cert=target.ca_cert,
                warnings=list(target.warnings),
                role=role,
                version=1,
                created_by=acc.user_id,
                created_at=now,
                updated_at=now,
            )
        )
    )


def disconnect(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """Go back to the managed database (only while the workspace has no record types)."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        old = active_row(conn, acc.workspace_id)
        if old is not None:
            _require_no_types(conn, acc.workspace_id)
            _retire(conn, old)
            gate.bump_epoch(conn, acc.workspace_id)
            log(conn, acc.workspace_id, acc.principal, describe(old), describe(None))
    runtime.data_engines.forget(acc.workspace_id)
    return overview(runtime, acc)


def _check(runtime: Runtime, target: Target) -> dict[str, Any]:
    return check(
        target,
        allow_private=runtime.settings.allow_private_hosts,
        timeout=runtime.settings.customer_db_timeout,
    )


def _retire(conn: Connection, row: Any) -> None:
    if row is not None:
        conn.execute(update(D).where(D.c.id == row.id).values(role="retired", updated_at=utcnow()))


def _type_count(conn: Connection, workspace_id: int) -> int:
    query = select(func.count()).select_from(RT).where(RT.c.workspace_id == workspace_id)
    return int(conn.execute(query).scalar_one())


def _require_no_types(conn: Connection, workspace_id: int) -> None:
    """Lock the workspace (a move starting meanwhile waits) and refuse a switch once it has
    record types or a move is under way: its records must be moved, not left behind."""
    gate.lock_workspace(conn, workspace_id, exclusive=True)
    move = gate.unfinished_move(conn, workspace_id)
    if move is not None:
        raise Conflict(f"move {move.id} of this workspace's records is not finished yet")
    count = _type_count(conn, workspace_id)
    if count:
        raise Conflict(
            f"this workspace has {count} record type(s) with their records: move them with "
            f"POST /api/v1/workspaces/{workspace_id}/database/moves (copied, verified and "
            "switched while the workspace keeps working) instead of switching the database"
        )


def _target(runtime: Runtime, acc: Access, spec: Mapping[str, Any]) -> Target:
    """The submitted settings, checked one by one (422 naming the setting); a blank password
    keeps the saved one when the host, port, database and user are unchanged."""
    unknown = sorted(set(spec) - set(SETTINGS))
    if unknown:
        raise ValidationFailed.single(unknown[0], "is not a setting of a data database")
    host = _text(spec, "host", 255)
    port = spec.get("port") if spec.get("port") not in (None, "") else DEFAULT_PORT
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValidationFailed.single("port", "must be a port number from 1 to 65535")
    database = _text(spec, "database", 64)
    user = _text(spec, "user", 80)
    tls = spec.get("tls", False)
    if not isinstance(tls, bool):
        raise ValidationFailed.single("tls", "must be true or false")
    ca_cert = spec.get("ca_cert") or None
    if ca_cert is not None and (not isinstance(ca_cert, str) or len(ca_cert) > 20_000):
        raise ValidationFailed.single("ca_cert", "must be a PEM certificate (text)")
    if ca_cert is not None and not tls:
        raise ValidationFailed.single("ca_cert", "is used only with TLS on")
    password = spec.get("password") or ""
    if not isinstance(password, str):
        raise ValidationFailed.single("password", "must be text")
    if not password:
        password = _saved_password(runtime, acc, host, port, database, user)
    return Target(host, port, database, user, password, tls, ca_cert)


def _text(spec: Mapping[str, Any], key: str, longest: int) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.single(key, "is required")
    value = value.strip()
    if len(value) > longest or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValidationFailed.single(key, f"must be at most {longest} characters, no spaces")
    return value


def _saved_password(
    runtime: Runtime, acc: Access, host: str, port: int, database: str, user: str
) -> str:
    with transaction(runtime.control) as conn:
        row = active_row(conn, acc.workspace_id)
    same = row is not None and (row.host, row.port, row.database_name, row.user_name) == (
        host,
        port,
        database,
        user,
    )
    if not same:
        raise ValidationFailed.single("password", "is required")
    secret = crypto.open_sealed(runtime.settings.resolved_secret_key(), row.sealed)
    return str(secret["password"])


def log(
    conn: Connection, workspace_id: int, principal: Principal | None, old: str, new: str
) -> None:
    """A workspace activity entry (action "database") for a switch of data database;
    ``principal`` None is the server itself (a move finishing in the background)."""
    conn.execute(
        insert(m.activity).values(
            workspace_id=workspace_id,
            record_type_id=None,
            record_id=None,
            action="database",
            actor_user_id=principal.user_id if principal else None,
            source=principal.source if principal else "system",
            source_ref=principal.source_ref if principal else None,
            at=utcnow(),
            changes=[{"field": "data database", "old": old, "new": new}],
        )
    )
