"""Connections: a workspace's account at one SaaS tool, with its sealed credentials.

An admin connects an account (a connector kind, a name, the tool's credentials and
settings), tests it, and maps its remote objects to record types (:mod:`mappings`).
Secrets are sealed with the server key (:mod:`workspace.crypto`) and never shown again,
like storage credentials: views list which ones are saved, not their values. The API address
is the vendor's unless the admin gives another, which is checked by the same rules as every
host an admin names (:mod:`workspace.net`) when it is saved, and pinned when it is used
(:mod:`workspace.outbound`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, insert, select, update

from workspace import crypto, outbound
from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import ownership
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, ValidationFailed, WorkspaceError
from workspace.net import HostRefused, check_host
from workspace.principal import Access
from workspace.remote import Connector, RemoteError
from workspace.remote_http import Api
from workspace.runtime import Runtime
from workspace.types import schema_changes

CN = m.connections
#: Most minutes between scheduled pulls an admin may choose (a week).
MAX_EVERY = 7 * 24 * 60


class ConnectionFailed(WorkspaceError):
    """Test connection failed; the message names the step that failed and why."""

    status = 422
    code = "connection_failed"


def connector(runtime: Runtime, kind: Any) -> Connector:
    if not isinstance(kind, str) or kind not in runtime.connectors:
        names = ", ".join(runtime.connectors.names()) or "none installed"
        raise ValidationFailed.single("kind", f"must be one of: {names}")
    return runtime.connectors.get(kind)


def kinds(runtime: Runtime) -> list[dict[str, Any]]:
    """Every installed connector: what a connection of it asks for and what it offers."""
    return [describe(runtime.connectors.get(name)) for name in runtime.connectors.names()]


def describe(c: Connector) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "label": c.label,
        "default_base_url": c.default_base_url,
        "can_push": c.can_push,
        "webhook_help": c.webhook_help,
        "credentials": [
            {"name": k.name, "label": k.label, "secret": k.secret, "required": k.required}
            | {"hint": k.hint}
            for k in c.credentials
        ],
        "objects": [
            {
                "name": o.name,
                "label": o.label,
                "properties": [
                    {"name": p.name, "label": p.label, "type": p.type, "read_only": p.read_only}
                    for p in o.properties
                ],
            }
            for o in c.objects
        ],
    }


# ---- saving ----------------------------------------------------------------------------


def create(runtime: Runtime, acc: Access, body: Mapping[str, Any]) -> dict[str, Any]:
    """Save a connection (nothing is contacted: see :func:`test`). Admins only."""
    acc.require("admin")
    c = connector(runtime, body.get("kind"))
    with _all_errors() as checked:
        name = checked(_name, body.get("name") or c.label)
        config = checked(_settings, c, body.get("config"), saved={})
        base_url = checked(_base_url, runtime, body.get("base_url"))
        every = checked(_every, body.get("pull_every"))
    now = utcnow()
    with transaction(runtime.control, write=True) as conn:
        connection_id = inserted_id(
            conn.execute(
                insert(CN).values(
                    workspace_id=acc.workspace_id,
                    kind=c.kind,
                    name=name,
                    base_url=base_url,
                    state="active",
                    webhook_token=secrets.token_urlsafe(32),
                    pull_every=every,
                    next_pull_at=now if every else None,
                    version=1,
                    created_by=acc.user_id,
                    created_at=now,
                    updated_at=now,
                    **_sealed(runtime, c, config),
                )
            )
        )
    return get(runtime, acc, connection_id)


def update_connection(
    runtime: Runtime, acc: Access, connection_id: int, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Change name, address, settings (a blank secret keeps the saved one) or schedule.
    New credentials clear a "credentials rejected" stop."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        row = load(conn, acc.workspace_id, connection_id)
    c = connector(runtime, row.kind)
    values: dict[str, Any] = {"updated_at": utcnow(), "version": row.version + 1}
    if "name" in body:
        values["name"] = _name(body["name"])
    if "base_url" in body:
        values["base_url"] = _base_url(runtime, body["base_url"])
    if "pull_every" in body:
        values["pull_every"] = _every(body["pull_every"])
        values["next_pull_at"] = utcnow() if values["pull_every"] else None
    if "config" in body:
        config = _settings(c, body["config"], saved=opened(runtime, row))
        values |= _sealed(runtime, c, config)
        values |= {"state": "active", "problem": None}
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(CN).where(CN.c.id == connection_id).values(values))
        if values.get("name", row.name) != row.name:  # owners are shown by name
            for record_type_id in ownership.types_owned_by(conn, connection_id):
                schema_changes.publish(conn, record_type_id)
    return get(runtime, acc, connection_id)


def delete(runtime: Runtime, acc: Access, connection_id: int) -> None:
    """Disconnect: nothing runs any more and the fields it owned go back to the workspace.
    Its payloads and external ids stay on file."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        load(conn, acc.workspace_id, connection_id)
        ownership.release_all(conn, connection_id)
        conn.execute(
            update(CN)
            .where(CN.c.id == connection_id)
            .values(deleted_at=utcnow(), pull_every=None, next_pull_at=None, sealed=None)
        )


@contextmanager
def _all_errors() -> Iterator[Callable[..., Any]]:
    """Run each check, and refuse once naming every setting that failed."""
    errors: dict[str, str] = {}

    def checked(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ValidationFailed as exc:
            errors.update(exc.fields)
            return None

    yield checked
    if errors:
        raise ValidationFailed("the connection's settings cannot be used", fields=errors)


def _name(raw: Any) -> str:
    name = str(raw or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed.single("name", "must be 1 to 200 characters")
    return name


def _every(raw: Any) -> int | None:
    if raw in (None, "", 0):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise ValidationFailed.single("pull_every", "must be a number of minutes")
    every = int(raw)
    if not 1 <= every <= MAX_EVERY:
        raise ValidationFailed.single("pull_every", f"must be from 1 to {MAX_EVERY} minutes")
    return every


def _base_url(runtime: Runtime, raw: Any) -> str:
    """'' (the vendor's own address) or an http(s) URL whose host the rules allow."""
    url = str(raw or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or len(url) > 500:
        raise ValidationFailed.single("base_url", "must be an http or https address")
    if parts.username or parts.password:
        raise ValidationFailed.single("base_url", "must not hold a user name or password")
    try:
        check_host(parts.hostname, allow_private=runtime.settings.allow_private_hosts)
    except HostRefused as exc:
        raise ValidationFailed.single("base_url", str(exc)) from None
    return url


def _settings(c: Connector, raw: Any, *, saved: Mapping[str, str]) -> dict[str, str]:
    """Submitted settings over the saved ones (blank: keep), every required one present."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValidationFailed.single("config", "must be an object of settings")
    known = {k.name for k in c.credentials}
    errors = {f"config.{k}": "is not a setting of this connector" for k in raw if k not in known}
    config = {k: v for k, v in saved.items() if k in known}
    for key, value in raw.items():
        if key in known and value not in (None, ""):
            if not isinstance(value, str) or len(value) > 1000:
                errors[f"config.{key}"] = "must be text of at most 1000 characters"
            else:
                config[key] = value.strip()
    for k in c.credentials:
        if k.required and not config.get(k.name):
            errors.setdefault(f"config.{k.name}", f"{k.label} is required")
    if errors:
        raise ValidationFailed("the connection's settings cannot be used", fields=errors)
    return config


def _sealed(runtime: Runtime, c: Connector, config: Mapping[str, str]) -> dict[str, Any]:
    secret_names = {k.name for k in c.credentials if k.secret}
    hidden = {k: v for k, v in config.items() if k in secret_names}
    plain = {k: v for k, v in config.items() if k not in secret_names}
    key = runtime.settings.resolved_secret_key()
    return {"config": plain, "sealed": crypto.seal(key, hidden) if hidden else None}


# ---- reading ---------------------------------------------------------------------------


def load(conn: Connection, workspace_id: int, connection_id: int) -> Any:
    row = conn.execute(
        select(CN).where(
            CN.c.id == connection_id,
            CN.c.workspace_id == workspace_id,
            CN.c.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound("connection not found")
    return row


def opened(runtime: Runtime, row: Any) -> dict[str, str]:
    """The full settings of a stored connection, secrets unsealed (CredentialsUnreadable
    when the server key changed since)."""
    hidden = (
        crypto.open_sealed(runtime.settings.resolved_secret_key(), row.sealed) if row.sealed else {}
    )
    return {**row.config, **hidden}


def public(runtime: Runtime, row: Any) -> dict[str, Any]:
    """A connection as admins see it: settings without secret values."""
    c = runtime.connectors.get(row.kind) if row.kind in runtime.connectors else None
    view = {
        "id": row.id,
        "kind": row.kind,
        "label": c.label if c else row.kind,
        "name": row.name,
        "base_url": row.base_url,
        "effective_base_url": row.base_url or (c.base_url(row.config) if c else ""),
        "config": dict(row.config),
        "secrets_saved": [],
        "pull_every": row.pull_every,
        "state": row.state,
        "problem": row.problem,
        "webhook_path": f"/api/v1/hooks/connections/{row.webhook_token}",
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if c is None:
        view["problem"] = f"the {row.kind} connector is not installed"
    with suppress(crypto.CredentialsUnreadable):
        if row.sealed:
            sealed = crypto.open_sealed(runtime.settings.resolved_secret_key(), row.sealed)
            view["secrets_saved"] = sorted(sealed)
    return view


def get(runtime: Runtime, acc: Access, connection_id: int) -> dict[str, Any]:
    acc.require("admin")
    with transaction(runtime.control) as conn:
        return public(runtime, load(conn, acc.workspace_id, connection_id))


def list_connections(runtime: Runtime, acc: Access) -> list[dict[str, Any]]:
    acc.require("admin")
    query = select(CN).where(CN.c.workspace_id == acc.workspace_id, CN.c.deleted_at.is_(None))
    with transaction(runtime.control) as conn:
        rows = conn.execute(query.order_by(CN.c.id)).all()
    return [public(runtime, row) for row in rows]


# ---- talking to the tool ---------------------------------------------------------------


def open_api(runtime: Runtime, row: Any) -> tuple[Connector, Api]:
    """The connector and API of a stored connection; the caller closes ``api.client``."""
    if row.kind not in runtime.connectors:
        raise ConnectionFailed(f"the {row.kind} connector is not installed")
    c = runtime.connectors.get(row.kind)
    try:
        config = opened(runtime, row)
    except crypto.CredentialsUnreadable as exc:
        raise ConnectionFailed(str(exc)) from None
    timeout = httpx.Timeout(float(runtime.settings.connector_timeout))
    client = outbound.client(allow_private=runtime.settings.allow_private_hosts, timeout=timeout)
    return c, Api(c, row.base_url or c.base_url(config), config, client)


def test(runtime: Runtime, acc: Access, connection_id: int) -> dict[str, Any]:
    """One authenticated read with the saved settings. Raises ConnectionFailed naming the
    failing step; on success clears a recorded problem."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        row = load(conn, acc.workspace_id, connection_id)
    c, api = open_api(runtime, row)
    try:
        c.check(api)
    except RemoteError as exc:
        raise ConnectionFailed(f"Test failed while {exc}") from None
    finally:
        api.client.close()
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(CN).where(CN.c.id == connection_id).values(state="active", problem=None)
        )
    view = get(runtime, acc, connection_id)
    return {**view, "message": f"Connected to {c.label} at {view['effective_base_url']}."}
