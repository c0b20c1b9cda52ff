"""Connections for API clients (admins): connect a tool, test it, map its objects, sync,
push, read every run's payloads with their outcomes, decide conflicts."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, UnsetType

from workspace.access import workspaces
from workspace.connectors import conflicts, connections, engine, mappings, push, runs
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body

ONE = "/{connection_id:int}"


class ConnectionIn(Body):
    """A connector ``kind`` (see ``GET .../connections/kinds``), its ``config`` (secrets are
    stored sealed and never returned), and optionally a ``name``, a ``base_url`` (empty: the
    vendor's) and ``pull_every`` minutes."""

    kind: str
    config: dict[str, Any] = {}
    name: str | None = None
    base_url: str | None = None
    pull_every: int | None = None


class ConnectionPatch(Body):
    """Leave a secret out (or empty) to keep the saved one."""

    name: str | UnsetType = UNSET
    base_url: str | UnsetType | None = UNSET
    config: dict[str, Any] | UnsetType = UNSET
    pull_every: int | UnsetType | None = UNSET


class MappedIn(Body):
    property: str
    field: str
    direction: str = "pull"
    owner: str = "workspace"


class MappingIn(Body):
    """Map a remote ``object`` to a record type (``type``: its id), property by property."""

    object: str
    type: int
    properties: list[MappedIn]


class PushIn(Body):
    """Push the changes of ``records`` (ids; omitted: every linked record) of ``type``."""

    type: int
    records: list[int] | None = None


class DecisionIn(Body):
    """keep_workspace, take_remote or dismiss."""

    decision: str


class ConnectionController(Controller):
    path = "/workspaces/{workspace_id:int}/connections"
    tags = ["connections"]

    @get("/kinds", sync_to_thread=True)
    def kinds(self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int) -> list[Any]:
        """The installed connectors: what a connection asks for and the objects it offers."""
        workspaces.access(runtime, principal, workspace_id)
        return connections.kinds(runtime)

    @get("/", sync_to_thread=True)
    def list_connections(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> list[dict[str, Any]]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.list_connections(runtime, acc)

    @post("/", sync_to_thread=True, status_code=201)
    def create(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[ConnectionIn],
    ) -> dict[str, Any]:
        """Save a connection; nothing is contacted until ``test`` or a sync."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.create(runtime, acc, msgspec.structs.asdict(data))

    @get(ONE, sync_to_thread=True)
    def get_connection(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, connection_id: int
    ) -> dict[str, Any]:
        """The connection (its ``problem`` says why the last sync stopped, e.g. credentials
        rejected), its mappings and latest runs."""
        acc = workspaces.access(runtime, principal, workspace_id)
        found = connections.get(runtime, acc, connection_id)
        found["mappings"] = mappings.list_mappings(runtime, acc, connection_id)
        found["runs"] = runs.list_runs(runtime, acc, connection_id, limit=5)
        return found

    @patch(ONE, sync_to_thread=True)
    def update(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        data: JSONBody[ConnectionPatch],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.update_connection(runtime, acc, connection_id, data.sent())

    @delete(ONE, sync_to_thread=True, status_code=204)
    def delete_connection(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, connection_id: int
    ) -> None:
        """Disconnect; the fields it owned go back to the workspace, its payloads stay."""
        acc = workspaces.access(runtime, principal, workspace_id)
        connections.delete(runtime, acc, connection_id)

    @post(ONE + "/test", sync_to_thread=True, status_code=200)
    def test(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, connection_id: int
    ) -> dict[str, Any]:
        """One authenticated read; 422 ``connection_failed`` names the step that failed."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.test(runtime, acc, connection_id)

    @put(ONE + "/mappings", sync_to_thread=True)
    def save_mapping(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        data: JSONBody[MappingIn],
    ) -> dict[str, Any]:
        """Create or replace the mapping of one remote object. Per property: ``field`` (key),
        ``owner`` (connection: the tool alone writes the field, pulled; workspace: the
        default) and ``direction`` (pull: fill the field while empty; push; both)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return mappings.save(runtime, acc, connection_id, msgspec.to_builtins(data))

    @post(ONE + "/mappings/{mapping_id:int}/reset", sync_to_thread=True, status_code=200)
    def reset(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        mapping_id: int,
    ) -> dict[str, Any]:
        """The next pull of this object is a full one."""
        acc = workspaces.access(runtime, principal, workspace_id)
        mappings.reset_cursor(runtime, acc, connection_id, mapping_id)
        return mappings.get(runtime, acc, connection_id, mapping_id)

    @post(ONE + "/mappings/{mapping_id:int}/retire", sync_to_thread=True, status_code=200)
    def retire(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        mapping_id: int,
    ) -> dict[str, Any]:
        """Retire the object: no pull, no push; its fields go back to the workspace."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return mappings.set_state(runtime, acc, connection_id, mapping_id, "retired")

    @post(ONE + "/mappings/{mapping_id:int}/restore", sync_to_thread=True, status_code=200)
    def restore(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        mapping_id: int,
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return mappings.set_state(runtime, acc, connection_id, mapping_id, "active")

    @post(ONE + "/sync", sync_to_thread=True, status_code=202)
    def sync(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, connection_id: int
    ) -> dict[str, Any]:
        """Queue a pull now (a background job; its run shows under ``runs``); 409 when one is
        queued or running already."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return engine.start(runtime, acc, connection_id)

    @post(ONE + "/push", sync_to_thread=True, status_code=200)
    def push_changes(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        data: JSONBody[PushIn],
    ) -> dict[str, Any]:
        """Send the workspace's changes of mapped fields now; a value changed in the tool
        since the last sync becomes a conflict instead."""
        acc = workspaces.access(runtime, principal, workspace_id)
        acc.require("admin")
        connections.get(runtime, acc, connection_id)
        return push.push_records(
            runtime, connection_id, data.type, data.records, trigger="manual", by=acc.user_id
        )

    @get(ONE + "/runs", sync_to_thread=True)
    def list_runs(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, connection_id: int
    ) -> list[dict[str, Any]]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return runs.list_runs(runtime, acc, connection_id, limit=100)

    @get(ONE + "/runs/{run_id:int}", sync_to_thread=True)
    def get_run(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        run_id: int,
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return runs.get_run(runtime, acc, connection_id, run_id)

    @get(ONE + "/runs/{run_id:int}/rows", sync_to_thread=True)
    def run_rows(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        run_id: int,
        outcome: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> dict[str, Any]:
        """Every payload of the run with its outcome; ``next_after`` pages on."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return runs.run_rows(
            runtime, acc, connection_id, run_id, outcome=outcome, after=after, limit=limit
        )

    @get(ONE + "/conflicts", sync_to_thread=True)
    def list_conflicts(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        connection_id: int,
        wanted: Annotated[str, QueryParameter(name="state")] = "open",
    ) -> list[dict[str, Any]]:
        """The connection's conflicts (``state``: open, kept_workspace, took_remote,
        dismissed)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return conflicts.list_conflicts(runtime, acc, connection_id, state=wanted)

    @post("/conflicts/{conflict_id:int}", sync_to_thread=True, status_code=200)
    def decide(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        conflict_id: int,
        data: JSONBody[DecisionIn],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return conflicts.resolve(runtime, acc, conflict_id, data.decision)
