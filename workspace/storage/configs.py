"""A workspace's file backend settings: which backend, its settings, its sealed secrets.

A workspace starts on its own local folder (``<data_dir>/files/<id>``) without any row here.
An admin saves a *draft* backend, tests the connection and migrates to it
(:mod:`workspace.storage.migration`); rows then move through the roles
draft -> target (being migrated into) -> active -> readonly (replaced, still read from) ->
retired (no longer used; its objects are left where they are).

Secrets (the S3 secret key, the FTP password) are sealed with the server key
(:mod:`workspace.crypto`) and never leave the server again: views list which ones are saved,
not their values. Hosts are checked with :mod:`workspace.net`, local folders against the
operator's ``WORKSPACE_STORAGE_LOCAL_ROOTS``, on saving and again when a backend is built.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select, update

from storage_backends import BadConfig, StorageBackend, StorageError
from workspace import crypto
from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, NotFound, ValidationFailed, WorkspaceError
from workspace.net import HostRefused, check_host, checked_addresses
from workspace.principal import Access, Principal
from workspace.runtime import Runtime
from workspace.storage.blobs import run_async

C = m.storage_configs
#: Settings that are secrets, sealed at rest and never shown again (a plugin backend can
#: name its own in a ``secret_keys`` class attribute).
SECRET_KEYS = frozenset({"secret_key", "password"})
#: The setting holding a host the server will connect to, per backend kind.
HOST_KEYS = {"s3": "endpoint_url", "ftp": "host"}
IN_USE = ("target", "active", "readonly")


class ConnectionFailed(WorkspaceError):
    """Test connection failed; the message is the backend's own account of the failing step."""

    status = 422
    code = "connection_failed"


def secret_keys(runtime: Runtime, kind: str) -> frozenset[str]:
    extra = getattr(runtime.storage_backends.get(kind), "secret_keys", ())
    return SECRET_KEYS | frozenset(extra)


def default_folder(runtime: Runtime, workspace_id: int) -> Path:
    """The local folder a workspace's files live in until an admin chooses another backend."""
    return runtime.settings.data_dir / "files" / str(workspace_id)


def local_roots(runtime: Runtime) -> list[Path]:
    roots = (r.strip() for r in runtime.settings.storage_local_roots.split(","))
    return [Path(os.path.realpath(r)) for r in roots if r]


def check_places(runtime: Runtime, kind: str, config: Mapping[str, Any]) -> None:
    """Refuse a host or folder the operator has not opened to workspace admins, naming the
    setting. Symlinks are resolved first, so a link cannot lead out of an allowed root."""
    host_key = HOST_KEYS.get(kind)
    value = config.get(host_key) if host_key else None
    if isinstance(value, str) and value:
        host = (urlsplit(value).hostname or "") if kind == "s3" else value
        try:
            check_host(host, allow_private=runtime.settings.allow_private_hosts)
        except HostRefused as exc:
            raise ValidationFailed.single(host_key or "host", str(exc)) from None
    if kind == "local" and config.get("path") not in (None, ""):
        path = config["path"]
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ValidationFailed.single("path", "must be an absolute folder path")
        real = Path(os.path.realpath(path))
        if not any(real == root or root in real.parents for root in local_roots(runtime)):
            raise ValidationFailed.single(
                "path",
                "is outside the folders the server operator allows "
                "(WORKSPACE_STORAGE_LOCAL_ROOTS); leave it empty for the workspace's own folder",
            )


def build(runtime: Runtime, workspace_id: int, kind: str, config: Mapping[str, Any]) -> Any:
    """A backend from complete settings (secrets included), checked; no I/O on the backend.
    Kind "local" without a path is the workspace's own folder."""
    if kind not in runtime.storage_backends:
        names = ", ".join(runtime.storage_backends.names())
        raise ValidationFailed.single("kind", f"must be one of {names}")
    check_places(runtime, kind, config)
    return _create(runtime, workspace_id, kind, config)


def _create(runtime: Runtime, workspace_id: int, kind: str, config: Mapping[str, Any]) -> Any:
    if kind == "local" and not config.get("path"):
        config = {**config, "path": str(default_folder(runtime, workspace_id))}
    try:
        backend = runtime.storage_backends.create(kind, config)
    except BadConfig as exc:
        raise ValidationFailed(exc.message, fields=exc.fields) from None
    backend.addresses_for = functools.partial(
        checked_addresses, allow_private=runtime.settings.allow_private_hosts
    )
    return backend


def saved_secrets(runtime: Runtime, row: Any) -> dict[str, Any]:
    """The secrets of a stored row; CredentialsUnreadable if the server key changed."""
    if not row.sealed:
        return {}
    return crypto.open_sealed(runtime.settings.resolved_secret_key(), row.sealed)


def open_config(runtime: Runtime, row: Any) -> dict[str, Any]:
    """The full settings of a stored row, secrets unsealed."""
    return {**row.config, **saved_secrets(runtime, row)}


def describe(runtime: Runtime, workspace_id: int, row: Any) -> str:
    """Where a stored backend keeps objects ("S3 bucket 'files' at ..."), for people. Built
    without the host check: naming a place resolves nothing and connects nowhere."""
    try:
        config = open_config(runtime, row)
    except crypto.CredentialsUnreadable:
        config = dict(row.config)
    try:
        backend: StorageBackend = _create(runtime, workspace_id, row.kind, config)
    except (WorkspaceError, LookupError) as exc:
        return f"{row.kind} ({getattr(exc, 'message', exc)})"
    return backend.location


def public(runtime: Runtime, workspace_id: int, row: Any) -> dict[str, Any]:
    """A row as admins see it: settings without secret values, and which secrets are saved
    (none, with the reason, when the server key no longer opens them)."""
    view = {
        "id": row.id,
        "kind": row.kind,
        "role": row.role,
        "config": dict(row.config),
        "secrets_saved": [],
        "location": describe(runtime, workspace_id, row),
        "version": row.version,
        "updated_at": row.updated_at,
    }
    try:
        view["secrets_saved"] = sorted(saved_secrets(runtime, row))
    except crypto.CredentialsUnreadable as exc:
        view["problem"] = str(exc)
    return view


def rows_in_use(conn: Connection, workspace_id: int) -> list[Any]:
    """The workspace's target, active and read-only backends, the most recently changed
    first (so the backend replaced last is read first among the read-only ones)."""
    query = (
        select(C)
        .where(C.c.workspace_id == workspace_id, C.c.role.in_(IN_USE))
        .order_by(C.c.updated_at.desc(), C.c.id.desc())
    )
    return list(conn.execute(query))


def draft_row(conn: Connection, workspace_id: int) -> Any:
    query = select(C).where(C.c.workspace_id == workspace_id, C.c.role == "draft")
    return conn.execute(query.order_by(C.c.id.desc())).first()


def status(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """The backends in use and the draft (admins only)."""
    acc.require("admin")
    ws = acc.workspace_id
    with transaction(runtime.control) as conn:
        in_use = rows_in_use(conn, ws)
        draft = draft_row(conn, ws)
    by_role = {role: [public(runtime, ws, r) for r in in_use if r.role == role] for role in IN_USE}
    default: dict[str, Any] = {
        "id": None,
        "kind": "local",
        "role": "active",
        "config": {},
        "secrets_saved": [],
        "location": f"local folder {os.path.abspath(default_folder(runtime, ws))}",
    }
    return {
        "active": (by_role["active"] or [default])[0],
        "target": by_role["target"][0] if by_role["target"] else None,
        "readonly": by_role["readonly"],
        "draft": public(runtime, ws, draft) if draft else None,
        "kinds": runtime.storage_backends.names(),
    }


def _complete(
    runtime: Runtime, acc: Access, kind: Any, config: Any
) -> tuple[str, dict[str, Any], StorageBackend]:
    """The submitted settings with blank secrets taken from the saved draft of the same kind,
    validated into a backend (ValidationFailed naming the setting otherwise)."""
    if not isinstance(kind, str) or kind not in runtime.storage_backends:
        names = ", ".join(runtime.storage_backends.names())
        raise ValidationFailed.single("kind", f"must be one of {names}")
    if not isinstance(config, dict):
        raise ValidationFailed.single("config", "must be an object of settings")
    config = {k: v for k, v in config.items() if v is not None and v != ""}
    with transaction(runtime.control) as conn:
        draft = draft_row(conn, acc.workspace_id)
    if draft is not None and draft.kind == kind:
        # Secrets sealed under an earlier server key are lost: they must be typed again.
        with suppress(crypto.CredentialsUnreadable):
            config = {**saved_secrets(runtime, draft), **config}
    backend = build(runtime, acc.workspace_id, kind, config)
    if kind == "local":
        _refuse_shared_folder(runtime, acc.workspace_id, Path(backend.root))
    return kind, config, backend


def _refuse_shared_folder(runtime: Runtime, workspace_id: int, root: Path) -> None:
    """Blobs are stored once per hash, and a workspace purges those it no longer needs: two
    workspaces sharing a folder would delete each other's files. So a local folder may not
    be, hold or lie inside another workspace's folder (its own, or one it chose)."""
    real = Path(os.path.realpath(root))
    others = [Path(os.path.realpath(default_folder(runtime, 0))).parent]
    query = select(C.c.config).where(C.c.kind == "local", C.c.workspace_id != workspace_id)
    with transaction(runtime.control) as conn:
        others += [
            Path(os.path.realpath(c["path"]))
            for c in conn.execute(query).scalars()
            if c.get("path")
        ]
    own = Path(os.path.realpath(default_folder(runtime, workspace_id)))
    for other in others:
        shared = real == other or other in real.parents or real in other.parents
        if shared and real != own and own not in real.parents:
            raise ValidationFailed.single(
                "path", "is, holds or lies inside a folder of another workspace"
            )


def save_draft(runtime: Runtime, acc: Access, kind: Any, config: Any) -> dict[str, Any]:
    """Save the settings of the backend to migrate to next; leave a secret blank to keep the
    saved one. Nothing is contacted: see :func:`test_connection`."""
    acc.require("admin")
    kind, full, _ = _complete(runtime, acc, kind, config)
    return _store_draft(runtime, acc, kind, full)


async def probe(backend: StorageBackend) -> None:
    try:
        await backend.probe()
    except StorageError as exc:
        raise ConnectionFailed(exc.message) from None


def test_connection(runtime: Runtime, acc: Access, kind: Any, config: Any) -> dict[str, Any]:
    """Write, read back and delete a probe object with the given settings (blank secrets
    from the saved draft). Saves them as the draft only when that worked; otherwise stores
    nothing and raises :class:`ConnectionFailed` with the backend's message."""
    acc.require("admin")
    kind, full, backend = _complete(runtime, acc, kind, config)
    run_async(probe, backend)
    saved = _store_draft(runtime, acc, kind, full)
    return {**saved, "message": f"Test connection to {backend.location} worked."}


def _store_draft(runtime: Runtime, acc: Access, kind: str, full: dict[str, Any]) -> dict[str, Any]:
    secret_names = secret_keys(runtime, kind)
    secrets = {k: v for k, v in full.items() if k in secret_names}
    plain = {k: v for k, v in full.items() if k not in secret_names}
    sealed = crypto.seal(runtime.settings.resolved_secret_key(), secrets) if secrets else None
    now = utcnow()
    values = {"kind": kind, "config": plain, "sealed": sealed, "updated_at": now}
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        draft = draft_row(conn, acc.workspace_id)
        if draft is None:
            row_id = inserted_id(
                conn.execute(
                    insert(C).values(
                        workspace_id=acc.workspace_id,
                        role="draft",
                        version=1,
                        created_by=acc.user_id,
                        created_at=now,
                        **values,
                    )
                )
            )
        else:
            row_id = draft.id
            conn.execute(
                update(C).where(C.c.id == row_id).values(version=C.c.version + 1, **values)
            )
        row = conn.execute(select(C).where(C.c.id == row_id)).one()
        view = public(runtime, acc.workspace_id, row)
        log(conn, acc.workspace_id, acc.principal, "draft saved", None, view["location"])
    return view


def retire(runtime: Runtime, acc: Access, config_id: int) -> None:
    """Stop reading from a replaced (read-only) backend. Its objects stay where they are:
    they belong to the customer, and deleting them is theirs to decide."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = conn.execute(
            select(C).where(C.c.id == config_id, C.c.workspace_id == acc.workspace_id)
        ).first()
        if row is None:
            raise NotFound("storage backend not found")
        if row.role != "readonly":
            raise Conflict(
                f"only a replaced (read-only) backend can be retired; this one is {row.role}"
            )
        conn.execute(update(C).where(C.c.id == row.id).values(role="retired", updated_at=utcnow()))
        where = describe(runtime, acc.workspace_id, row)
        log(conn, acc.workspace_id, acc.principal, "retired", where, None)


def log(
    conn: Connection,
    workspace_id: int,
    principal: Principal | None,
    what: str,
    old: Any,
    new: Any,
) -> None:
    """A workspace activity entry for a storage change (action "storage"); ``principal``
    None is the server itself (a resumed migration)."""
    conn.execute(
        insert(m.activity).values(
            workspace_id=workspace_id,
            record_type_id=None,
            record_id=None,
            action="storage",
            actor_user_id=principal.user_id if principal else None,
            source=principal.source if principal else "system",
            source_ref=principal.source_ref if principal else None,
            at=utcnow(),
            changes=[{"field": f"storage: {what}", "old": old, "new": new}],
        )
    )
