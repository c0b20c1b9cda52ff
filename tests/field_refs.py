"""Shared by the field type tests: one-field record types and values that point at things.

Relation and user values are ids that exist only once a test has made the records or users,
so the parametrize tables hold ``lambda r: ...`` placeholders that :func:`resolve` fills in
from a :class:`Refs`, which creates each referenced thing on first use only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from tests.helpers import Api, field, make_type, records_path

#: The key of the one field each test type has (from its name "Value").
KEY = "value"


class Refs:
    """Lazily created things a value or config can point at, within one test's workspace."""

    def __init__(self, api: Api, ws: int, make_user: Callable[..., Any], owner_id: int) -> None:
        self.api, self.ws, self.make_user = api, ws, make_user
        self.owner_id = owner_id

    @cached_property
    def _companies(self) -> tuple[int, list[int]]:
        rt, rows = make_type(
            self.api,
            self.ws,
            "Company",
            field("Name", "text"),
            rows=[{"name": "Acme"}, {"name": "Globex"}, {"name": "Gone Ltd"}],
        )
        self.api.delete(f"{records_path(self.ws, rt)}/{rows[2]['id']}", expect=204)
        return rt["id"], [row["id"] for row in rows]

    @property
    def company_type(self) -> int:
        return self._companies[0]

    @property
    def companies(self) -> list[int]:
        """Two live companies, then one that was deleted."""
        return self._companies[1]

    @cached_property
    def member(self) -> dict[str, Any]:
        user, _ = self.make_user()
        self.api.post(
            f"/workspaces/{self.ws}/members", {"email": user["email"], "role": "member"}, expect=201
        )
        return user

    @cached_property
    def outsider(self) -> dict[str, Any]:
        """A user of the server who is not a member of this workspace."""
        return self.make_user()[0]

    @cached_property
    def foreign_type(self) -> int:
        """A record type in another workspace of the same owner."""
        other = self.api.post("/workspaces", {"name": "Elsewhere"}, expect=201)
        return int(make_type(self.api, other["id"], "Company")[0]["id"])


def resolve(value: Any, refs: Refs) -> Any:
    """Fill in placeholders, also inside a config dict."""
    if callable(value):
        return value(refs)
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    return value


def one_field_type(
    api: Api, ws: int, type_: str, config: dict[str, Any], rows: list[Any] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A record type with a single field "Value" and a record per value in ``rows``."""
    rt, created = make_type(
        api, ws, "Thing", field("Value", type_, **config), rows=[{KEY: v} for v in rows or []]
    )
    return records_path(ws, rt), created
