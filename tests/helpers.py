"""Small helpers shared by tests: an authenticated API client and record-type builders."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

PREFIX = "/api/v1"


class Api:
    """JSON calls with a Bearer token; ``expect`` asserts the status and shows the body if not."""

    def __init__(self, client: TestClient[Any], token: str) -> None:
        self.client = client
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        response = self.client.request(
            method, PREFIX + path, json=body, headers=all_headers, params=params or None
        )
        self.last = response
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)


def field(name: str, type_: str, **config: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "type": type_}
    if config:
        spec["config"] = config
    return spec


def make_type(
    api: Api, ws: int, name: str, *fields: dict[str, Any], rows: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a record type (and records from ``rows``) through the API, in Baserow's
    build_table style: ``make_type(api, ws, "Customer", field("Name", "text"), rows=[...])``."""
    rt = api.post(f"/workspaces/{ws}/types", {"name": name, "fields": list(fields)}, expect=201)
    created = []
    if rows:
        result = api.post(
            f"/workspaces/{ws}/types/{rt['id']}/records/bulk",
            {"items": [{"fields": r} for r in rows]},
            expect=200,
        )
        created = [item["record"] for item in result["results"]]
    return rt, created


def records_path(ws: int, rt: dict[str, Any] | int) -> str:
    rt_id = rt if isinstance(rt, int) else rt["id"]
    return f"/workspaces/{ws}/types/{rt_id}/records"
