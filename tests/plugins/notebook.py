"""The connector from docs/plugin_hooks.md, to prove a third-party connector plugs in: a
"notebook" web service listing people (``GET /people?after=<n>``, pages of ``{"people":
[{"id", "email", "name"}], "next": <n> | null}``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from workspace import (
    Api,
    Connector,
    Credential,
    Page,
    RemoteObject,
    RemoteProperty,
    RemoteRow,
    hookimpl,
    json_of,
)


class Notebook(Connector):
    kind = "notebook"
    label = "Notebook"
    default_base_url = "https://notebook.example"
    credentials = (Credential("token", "API token"),)
    objects = (
        RemoteObject(
            "people",
            "People",
            (RemoteProperty("email", "Email", "email"), RemoteProperty("name", "Name")),
        ),
    )

    def headers(self, config: Any) -> dict[str, str]:
        return {"Authorization": f"Token {config.get('token', '')}"}

    def check(self, api: Api) -> None:
        api.get("/people", params={"after": 0}, step="listing people")

    def pull(self, api: Api, object: str, cursor: Any) -> Iterator[Page]:
        after = int(cursor or 0)
        while True:
            body = json_of(api.get("/people", params={"after": after}, step="listing people"), "")
            rows = [
                RemoteRow(str(p["id"]), {"email": p.get("email"), "name": p.get("name")}, p)
                for p in body["people"]
            ]
            after = body["next"] if body["next"] is not None else after + len(rows)
            yield Page(rows, after)
            if body["next"] is None:
                return

    def fetch(self, api: Api, object: str, remote_ids: list[str]) -> list[RemoteRow]:
        return []


@hookimpl
def register_connectors(register: Any) -> None:
    register(Notebook)
