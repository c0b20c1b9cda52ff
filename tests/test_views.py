"""Saved views: configs checked against the record type, and who may save and delete them."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, insert, select

from tests.helpers import Api, field, make_type
from workspace import migrate
from workspace import models as m
from workspace.access import users, workspaces
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.errors import NotFound, PermissionDenied, ValidationFailed
from workspace.principal import Access, Principal
from workspace.records import views
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.settings import Settings
from workspace.types import record_types


@pytest.fixture
def rt(api: Api, ws: int, runtime: Runtime, access: Access) -> RecordTypeDef:
    made, _ = make_type(
        api,
        ws,
        "Deal",
        field("Name", "text"),
        field("Amount", "number"),
        field("Stage", "single_choice", choices=[{"label": "New"}, {"label": "Won"}]),
        field("Tags", "multiple_choice", choices=[{"label": "vip"}]),
    )
    return record_types.get_type(runtime, access, made["id"])


@pytest.fixture
def join(runtime: Runtime, access: Access, make_user: Any) -> Any:
    """``join(role) -> Access`` of a new account added to the workspace with ``role``."""

    def add(role: str) -> Access:
        user, _ = make_user()
        workspaces.add_member(runtime, access, user["email"], role)
        return workspaces.access(runtime, Principal(user["id"], user["email"]), access.workspace_id)

    return add


GOOD = {
    "columns": ["name", "amount"],
    "sort": "-amount,name",
    "filter": [
        {"field": "stage", "op": "eq", "value": "Won"},
        {"field": "amount", "op": "between", "value": ["10", "20"]},
    ],
    "search": "ada",
}


def test_a_view_round_trips_and_is_listed_by_name(runtime, access, rt):
    views.create_view(runtime, access, rt, "Won deals", GOOD)
    views.create_view(runtime, access, rt, "  All   of them ", {})
    listed = views.list_views(runtime, access, rt)
    assert [v["name"] for v in listed] == ["All of them", "Won deals"]
    won = listed[1]
    assert won["config"] == GOOD
    assert won["created_by"] == access.user_id
    assert views.get_view(runtime, access, rt, won["id"])["config"] == GOOD
    assert listed[0]["config"] == {}


@pytest.mark.parametrize(
    ("config", "field_key", "names"),
    [
        ({"columns": ["name", "nope"]}, "columns", "'nope' is not a field of Deal"),
        ({"columns": ["name", "name"]}, "columns", "listed twice"),
        ({"columns": "name"}, "columns", "list of field keys"),
        ({"sort": "nope"}, "sort", "nope: no such field"),
        ({"sort": "name,-name"}, "sort", "name: appears twice"),
        ({"filter": [{"field": "nope", "op": "eq", "value": 1}]}, "filter", "nope: no such field"),
        (
            {"filter": [{"field": "stage", "op": "gt", "value": "New"}]},
            "filter",
            "stage: a single_choice field supports: eq, neq, in",
        ),
        (
            {"filter": [{"field": "amount", "op": "eq", "value": "lots"}]},
            "filter",
            "amount:",
        ),
        ({"filter": [{"field": "amount"}]}, "filter", "a condition is"),
        ({"search": "x" * 201}, "search", "at most 200"),
        ({"colour": "red"}, "config.colour", "is not a setting"),
    ],
)
def test_a_config_that_does_not_fit_the_type_is_refused_naming_the_field(
    runtime, access, rt, config, field_key, names
):
    with pytest.raises(ValidationFailed) as caught:
        views.create_view(runtime, access, rt, "Bad", config)
    assert caught.value.status == 422
    assert field_key in caught.value.fields
    assert names in caught.value.fields[field_key], caught.value.fields
    assert views.list_views(runtime, access, rt) == []


def test_names_are_required_and_unique_per_type(runtime, access, rt, api, ws):
    with pytest.raises(ValidationFailed) as caught:
        views.create_view(runtime, access, rt, "  ", {})
    assert caught.value.fields == {"name": "must not be empty"}
    views.create_view(runtime, access, rt, "Mine", {})
    with pytest.raises(ValidationFailed) as caught:
        views.create_view(runtime, access, rt, "Mine", {"sort": "name"})
    assert "name" in caught.value.fields
    other, _ = make_type(api, ws, "Other", field("Name", "text"))
    other_rt = record_types.get_type(runtime, access, other["id"])
    views.create_view(runtime, access, other_rt, "Mine", {})  # another type: no clash
    assert [v["name"] for v in views.list_views(runtime, access, other_rt)] == ["Mine"]


def test_viewers_use_views_members_save_them(runtime, access, rt, join):
    viewer, member = join("viewer"), join("member")
    views.create_view(runtime, access, rt, "Team view", GOOD)
    assert [v["name"] for v in views.list_views(runtime, viewer, rt)] == ["Team view"]
    with pytest.raises(PermissionDenied):
        views.create_view(runtime, viewer, rt, "Mine", {})
    made = views.create_view(runtime, member, rt, "Member's", {"sort": "name"})
    assert made["created_by"] == member.user_id
    assert len(views.list_views(runtime, viewer, rt)) == 2


def test_the_creator_or_an_admin_deletes_a_view(runtime, access, rt, join):
    member, other_member, admin = join("member"), join("member"), join("admin")
    first = views.create_view(runtime, member, rt, "First", {})
    second = views.create_view(runtime, member, rt, "Second", {})
    with pytest.raises(PermissionDenied):
        views.delete_view(runtime, other_member, rt, first["id"])
    assert views.can_delete(member, first) and not views.can_delete(other_member, first)
    views.delete_view(runtime, member, rt, first["id"])
    views.delete_view(runtime, admin, rt, second["id"])
    assert views.list_views(runtime, access, rt) == []
    with pytest.raises(NotFound):
        views.delete_view(runtime, admin, rt, first["id"])


def test_a_view_belongs_to_its_record_type(runtime, access, rt, api, ws):
    other, _ = make_type(api, ws, "Other", field("Name", "text"))
    other_rt = record_types.get_type(runtime, access, other["id"])
    view = views.create_view(runtime, access, rt, "Deals only", {})
    with pytest.raises(NotFound):
        views.get_view(runtime, access, other_rt, view["id"])
    with pytest.raises(NotFound):
        views.delete_view(runtime, access, other_rt, view["id"])
    assert len(views.list_views(runtime, access, rt)) == 1


def test_a_name_taken_by_a_simultaneous_save_is_the_same_422(runtime, access, rt, monkeypatch):
    views.create_view(runtime, access, rt, "Pipeline", {})
    # The rival's save commits between this save's check and its insert: the check misses
    # it, and the unique index referees.
    real, calls = views._name_taken, []

    def blind_at_first(*args: Any) -> bool:
        calls.append(args)
        return len(calls) > 1 and real(*args)

    monkeypatch.setattr(views, "_name_taken", blind_at_first)
    with pytest.raises(ValidationFailed) as caught:
        views.create_view(runtime, access, rt, "Pipeline", {"sort": "name"})
    assert caught.value.status == 422
    assert caught.value.fields == {"name": "another view of this record type has it"}
    assert len(calls) == 2  # the check before the insert, and the look after it failed
    assert [v["name"] for v in views.list_views(runtime, access, rt)] == ["Pipeline"]


def _downgrade(engine: Engine, revision: str) -> None:
    with engine.connect() as conn:
        config = migrate.alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def test_the_upgrade_makes_names_left_by_earlier_races_distinct(fresh_url, tmp_path):
    fresh = build_runtime(Settings(database_url=fresh_url, data_dir=tmp_path / "data"))
    try:
        migrate.upgrade(fresh.control)
        user = users.create_user(fresh, "race@example.com", password=None)
        principal = Principal(user["id"], user["email"])
        ws = workspaces.create(fresh, principal, "Races")
        acc = workspaces.access(fresh, principal, ws["id"])
        made = record_types.create_type(fresh, acc, {"name": "Deal"})
        _downgrade(fresh.control, "0003")
        names = ["Open", "Open", "Open", "Open (2)", "Won"]
        with fresh.control.begin() as conn:
            for name in names:
                row = {"record_type_id": made["id"], "name": name, "created_at": utcnow()}
                conn.execute(insert(m.views).values(config={}, **row))
        migrate.upgrade(fresh.control)
        with fresh.control.connect() as conn:
            kept = conn.execute(select(m.views.c.name).order_by(m.views.c.id)).scalars().all()
        assert kept == ["Open", "Open (3)", "Open (4)", "Open (2)", "Won"]
        rt = record_types.get_type(fresh, acc, made["id"])
        with pytest.raises(ValidationFailed):
            views.create_view(fresh, acc, rt, "Won", {})
    finally:
        fresh.close()
