"""Which storage backend holds a workspace's files.

New blobs go to the workspace's active backend, or, while a migration runs, to the backend
being migrated into (so nothing uploaded meanwhile is left behind on the old one). Reads try
that one first, then the active one, then replaced backends kept read-only until an admin
retires them. Without any settings a workspace uses its own local folder.

Every call reads the workspace's settings rows from the database, so all server processes
agree the moment a migration starts or switches; only the built backend objects are cached,
per (settings row id, version).
"""

from __future__ import annotations

from typing import Any

from storage_backends import StorageBackend, StorageError
from workspace.crypto import CredentialsUnreadable
from workspace.db import transaction
from workspace.errors import WorkspaceError
from workspace.runtime import Runtime
from workspace.storage import configs

ORDER = {"target": 0, "active": 1, "readonly": 2}


def backend_of(runtime: Runtime, workspace_id: int, row: Any) -> StorageBackend:
    """The backend a settings row describes, built once per row version. A row that no longer
    builds (the server key changed, the operator closed a host) is a StorageError that says
    why, like any backend failure."""
    key = (row.id, row.version)
    backend: StorageBackend | None = runtime.storage.get(key)
    if backend is None:
        try:
            config = configs.open_config(runtime, row)
            backend = configs.build(runtime, workspace_id, row.kind, config)
        except (WorkspaceError, CredentialsUnreadable) as exc:
            why = getattr(exc, "message", str(exc))
            raise StorageError(f"the file storage settings cannot be used: {why}") from None
        runtime.storage[key] = backend
    return backend


def default_backend(runtime: Runtime, workspace_id: int) -> StorageBackend:
    folder = configs.default_folder(runtime, workspace_id)
    return runtime.storage_backends.create("local", {"path": str(folder)})


def _in_use(runtime: Runtime, workspace_id: int) -> list[Any]:
    with transaction(runtime.control) as conn:
        rows = configs.rows_in_use(conn, workspace_id)
    # Newest first within a role: the most recently replaced backend is read first.
    return sorted(rows, key=lambda r: ORDER[r.role])


def write_backend(runtime: Runtime, workspace_id: int) -> StorageBackend:
    """The backend new blobs of the workspace are written to."""
    rows = _in_use(runtime, workspace_id)
    if not rows:
        return default_backend(runtime, workspace_id)
    return backend_of(runtime, workspace_id, rows[0])


def read_backends(runtime: Runtime, workspace_id: int) -> list[StorageBackend]:
    """Backends to read the workspace's blobs from, in the order to try them."""
    rows = _in_use(runtime, workspace_id)
    if not rows:
        return [default_backend(runtime, workspace_id)]
    return [backend_of(runtime, workspace_id, row) for row in rows]
