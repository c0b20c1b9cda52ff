"""A workspace's data database (admins only): where its record tables live, test connection,
connect the workspace to its own MySQL and back to the managed database."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody

from workspace.services import data_databases, workspaces
from workspace.web.api.bodies import Body
from workspace.web.api.deps import PrincipalDep, RuntimeDep

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
        whether it can be switched now and what is not available yet."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return data_databases.overview(runtime, acc)

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
        return data_databases.test_connection(runtime, acc, _spec(data))

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
        return data_databases.connect(runtime, acc, _spec(data))

    @delete("/", sync_to_thread=True, status_code=200)
    def disconnect(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """Back to the managed database (only while the workspace has no record types)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return data_databases.disconnect(runtime, acc)
