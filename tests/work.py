"""A team for the comment, task and notification tests: an owner, a member, a viewer and an
outsider, with a Customer record type, all made through the API as a client would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path


@dataclass
class Team:
    ws: int
    owner: Api
    owner_user: dict[str, Any]
    bob: Api
    bob_user: dict[str, Any]
    viewer: Api
    outsider: Api
    rt: dict[str, Any]
    ada: dict[str, Any]
    grace: dict[str, Any]

    @property
    def records(self) -> str:
        return records_path(self.ws, self.rt)

    def comments(self, record: dict[str, Any] | int) -> str:
        rid = record if isinstance(record, int) else record["id"]
        return f"{self.records}/{rid}/comments"

    @property
    def tasks(self) -> str:
        return f"/workspaces/{self.ws}/tasks"

    @property
    def notifications(self) -> str:
        return f"/workspaces/{self.ws}/notifications"

    def handle(self, user: dict[str, Any]) -> str:
        return "@" + str(user["email"]).split("@")[0]

    def activity(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.owner.get(f"{self.records}/{record['id']}/activity")["items"])


@pytest.fixture
def team(api: Api, ws: int, make_user: Any, as_user: Any, owner: Any) -> Team:
    members = {}
    for role, name in (("member", "Bob Builder"), ("viewer", "Vera Viewer")):
        user, token = make_user(name=name)
        api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": role}, expect=201)
        members[role] = (user, as_user(token))
    _, stranger = make_user(name="Olaf Outsider")
    rt, (ada, grace) = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text"),
        rows=[{"name": "Ada Lovelace"}, {"name": "Grace Hopper"}],
    )
    return Team(
        ws=ws,
        owner=api,
        owner_user=owner[0],
        bob=members["member"][1],
        bob_user=members["member"][0],
        viewer=members["viewer"][1],
        outsider=as_user(stranger),
        rt=rt,
        ada=ada,
        grace=grace,
    )
