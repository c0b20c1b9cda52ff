"""A workspace's data database (admins only): where its record tables live, test connection,
connect a workspace without record types to its own MySQL and back, and move one with records
there and back (copy, verify, switch; the old copy kept until retired)."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody

from workspace.access import workspaces
from workspace.databases import connections
from workspace.databases import moves as data_moves
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body

WS = "/workspaces/{workspace_id:int}"


class DatabaseIn(Body):
    """A customer MySQL database. The password is stored sealed and never returned; leave it
    out to keep the saved one (same host, port, database and user)."""

    host: str
    database: str
    user: str
    port: int = 3306
    password: str | None = None
    tls: bool = False
    ca_cert: str | None = None


class MoveIn(Body):
    """Where to move the workspace's records: ``"managed"`` (the server's own database) or
    the settings of a MySQL database, tested before anything is copied."""

    target: DatabaseIn | Literal["managed"]


def _spec(data: DatabaseIn) -> dict[str, Any]:
    return {name: getattr(data, name) for name in data.__struct_fields__}


class DatabaseController(Controller):
    path = WS + "/database"
    tags = ["database"]

    @get("/", sync_to_thread=True)
    def overview(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """Where the records live now, the privileges and server version a connection needs,
        whether it can be switched at once (no record types), the latest move (``move``) and
        the read-only copy the last move left (``old_copy``)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.overview(runtime, acc)

    @post("/test", sync_to_thread=True, status_code=200)
    def test_connection(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[DatabaseIn],
    ) -> dict[str, Any]:
        """Try the settings step by step (DNS, host, TCP, TLS, login, version, character set,
        privileges) and store nothing. A failure is 422 ``connection_failed`` with ``step``
        and the setting it concerns in ``fields``."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.test_connection(runtime, acc, _spec(data))

    @put("/", sync_to_thread=True)
    def connect(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[DatabaseIn],
    ) -> dict[str, Any]:
        """Test, then keep the workspace's record tables in this database from now on. Only
        while the workspace has no record types (409 otherwise); nothing is stored when the
        test fails."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.connect(runtime, acc, _spec(data))

    @delete("/", sync_to_thread=True, status_code=200)
    def disconnect(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """Back to the managed database (only while the workspace has no record types)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return connections.disconnect(runtime, acc)

    @post("/moves", sync_to_thread=True, status_code=202)
    def start(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[MoveIn],
    ) -> dict[str, Any]:
        """Move the records to another database: copied in the background while the workspace
        keeps working, then a short write freeze (503 with Retry-After), verification and the
        switch. Schema changes are refused (409) until the move ends. One move at a time."""
        acc = workspaces.access(runtime, principal, workspace_id)
        target = data.target if isinstance(data.target, str) else _spec(data.target)
        return data_moves.start(runtime, acc, target)

    @get("/moves/{move_id:int}", sync_to_thread=True)
    def status(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, move_id: int
    ) -> dict[str, Any]:
        """State (copying, switching, done, failed, cancelled), rows copied per table, error."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return data_moves.status(runtime, acc, move_id)

    @post("/moves/{move_id:int}/cancel", sync_to_thread=True, status_code=200)
    def cancel(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, move_id: int
    ) -> dict[str, Any]:
        """Give up an unfinished move: the records stay where they are, the copy is dropped."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return data_moves.cancel(runtime, acc, move_id)

    @post("/moves/{move_id:int}/retry", sync_to_thread=True, status_code=202)
    def retry(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, move_id: int
    ) -> dict[str, Any]:
        """Carry on with a failed move from where it stopped (differing tables afresh)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return data_moves.retry(runtime, acc, move_id)

    @post("/old-copy/retire", sync_to_thread=True, status_code=200)
    def retire(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """Drop the tables of the read-only copy the last move left behind."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return data_moves.retire_old_copy(runtime, acc)
