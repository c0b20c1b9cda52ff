"""Which storage backend holds a workspace's files.

New blobs go to the workspace's active backend; reads try the active backend first and then
the backend it replaced while that one is kept read-only after a migration.
"""

from __future__ import annotations

from storage_backends import StorageBackend
from workspace.runtime import Runtime


def write_backend(runtime: Runtime, workspace_id: int) -> StorageBackend:
    """The backend new blobs of the workspace are written to."""
    folder = runtime.settings.data_dir / "files" / str(workspace_id)
    return runtime.storage_backends.create("local", {"path": str(folder)})


def read_backends(runtime: Runtime, workspace_id: int) -> list[StorageBackend]:
    """Backends to read the workspace's blobs from, in the order to try them."""
    return [write_backend(runtime, workspace_id)]
