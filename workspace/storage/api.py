"""A workspace's file backend (admins only): settings, test connection, migrations."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post, put
from litestar.params import JSONBody

from workspace.access import workspaces
from workspace.storage import configs
from workspace.storage import migration as storage_migration
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body

WS = "/workspaces/{workspace_id:int}"


class BackendIn(Body):
    """A backend's kind and settings. Secrets (``secret_key``, ``password``) are stored
    sealed and never returned; leave one out to keep the saved value."""

    kind: str
    config: dict[str, Any] = {}


class StorageController(Controller):
    path = WS + "/storage"
    tags = ["storage"]

    @get("/", sync_to_thread=True)
    def overview(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """The active backend, the one being migrated into, the read-only ones, the draft
        and the latest migration with its progress."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return storage_migration.overview(runtime, acc)

    @put("/draft", sync_to_thread=True)
    def save_draft(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[BackendIn],
    ) -> dict[str, Any]:
        """Save the backend to migrate to next, without contacting it."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return configs.save_draft(runtime, acc, data.kind, data.config)

    @post("/test", sync_to_thread=True, status_code=200)
    def test_connection(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[BackendIn],
    ) -> dict[str, Any]:
        """Write, read back and delete a probe object. On success the settings are saved as
        the draft; on failure (422 ``connection_failed``) nothing is stored and the message
        says which step failed and why."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return configs.test_connection(runtime, acc, data.kind, data.config)

    @post("/migrations", sync_to_thread=True)
    def start_migration(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """Copy every file to the draft backend, verify each, then switch to it."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return storage_migration.start(runtime, acc)

    @get("/migrations/{migration_id:int}", sync_to_thread=True)
    def migration(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, migration_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return storage_migration.progress(runtime, acc, migration_id)

    @post("/migrations/{migration_id:int}/retry", sync_to_thread=True, status_code=200)
    def retry_migration(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, migration_id: int
    ) -> dict[str, Any]:
        """Carry on with a failed migration from where it stopped."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return storage_migration.retry(runtime, acc, migration_id)

    @post("/migrations/{migration_id:int}/abandon", sync_to_thread=True, status_code=200)
    def abandon_migration(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, migration_id: int
    ) -> dict[str, Any]:
        """Give up a failed migration: the old backend stays active and takes new files
        again; the target stays read-only (files uploaded meanwhile are there)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return storage_migration.abandon(runtime, acc, migration_id)

    @post("/backends/{config_id:int}/retire", sync_to_thread=True, status_code=200)
    def retire(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, config_id: int
    ) -> dict[str, Any]:
        """Stop reading from a replaced backend; its objects are left where they are."""
        acc = workspaces.access(runtime, principal, workspace_id)
        configs.retire(runtime, acc, config_id)
        return storage_migration.overview(runtime, acc)
