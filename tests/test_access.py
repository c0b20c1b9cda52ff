"""Who may do what: API tokens, accounts, workspaces, member roles and tenant isolation.

Every refusal is checked twice: the status and error code, and that nothing changed.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from tests.helpers import PREFIX, Api, field, make_type, records_path

ROLES = ("owner", "admin", "member", "viewer")
PW = "long enough pw"
#: Which roles an actor may add, change (from and to) and remove: the spec of the matrix below.
MANAGES = {
    "owner": {"owner", "admin", "member", "viewer"},
    "admin": {"member", "viewer"},
    "member": set(),
    "viewer": set(),
}


@pytest.fixture
def join(api: Api, as_user: Any, make_user: Any) -> Any:
    """``join(ws, role) -> (user dict, Api)``: a new account added to ``ws`` by its owner."""

    def add(ws: int, role: str) -> tuple[dict[str, Any], Api]:
        user, token = make_user()
        api.post(f"/workspaces/{ws}/members", {"email": user["email"], "role": role}, expect=201)
        return user, as_user(token)

    return add


@pytest.fixture
def customers(api: Api, ws: int) -> dict[str, Any]:
    """A record type with one record in ``ws``."""
    rt, rows = make_type(
        api, ws, "Customer", field("Name", "text", unique=True), rows=[{"name": "Ada"}]
    )
    return {"rt": rt, "record": rows[0]}


def members(api: Api, ws: int) -> dict[int, str]:
    return {m["user_id"]: m["role"] for m in api.get(f"/workspaces/{ws}/members", expect=200)}


def error(api: Api) -> dict[str, Any]:
    body = api.last.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


# ---- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwdw==", "Bearer wst_garbled", "Token wst_x"],
    ids=["missing", "empty", "scheme-only", "blank", "basic", "garbled", "wrong-scheme"],
)
def test_bad_token_gets_401_with_clear_message(client: Any, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.get(PREFIX + "/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "not_authenticated"
    assert "token" in response.json()["error"]["message"].lower()


def test_token_is_shown_once_and_revocation_takes_effect(api: Api, as_user: Any) -> None:
    created = api.post("/tokens", {"name": "ci"}, expect=201)
    raw = created["token"]
    assert raw.startswith("wst_") and raw[:12] == created["prefix"]
    mine = as_user(raw)
    assert mine.get("/me", expect=200)["id"] == api.get("/me", expect=200)["id"]

    listed = api.get("/tokens", expect=200)
    assert [t["name"] for t in listed if t["id"] == created["id"]] == ["ci"]
    assert raw not in api.last.text and all("token" not in t for t in listed)

    api.delete(f"/tokens/{created['id']}", expect=204)
    mine.get("/me", expect=401)
    assert "not valid" in error(mine)["message"]
    revoked = [t["revoked_at"] for t in api.get("/tokens", expect=200) if t["id"] == created["id"]]
    assert revoked != [None] and len(revoked) == 1
    api.delete(f"/tokens/{created['id']}", expect=404)  # revoking twice is not found


def test_another_users_token_cannot_be_revoked(api: Api, make_user: Any, as_user: Any) -> None:
    _, other_raw = make_user()
    other = as_user(other_raw)
    theirs = other.post("/tokens", {"name": "theirs"}, expect=201)
    api.delete(f"/tokens/{theirs['id']}", expect=404)
    assert error(api)["code"] == "not_found"
    assert theirs["id"] not in [t["id"] for t in api.get("/tokens", expect=200)]
    as_user(theirs["token"]).get("/me", expect=200)


# ---- accounts --------------------------------------------------------------------------


def test_only_server_admins_list_and_create_users(api: Api, make_user: Any, as_user: Any) -> None:
    api.get("/users", expect=403)
    api.post("/users", {"email": "new@example.com", "password": PW}, expect=403)
    admin = as_user(make_user(admin=True)[1])
    assert "new@example.com" not in [u["email"] for u in admin.get("/users", expect=200)]

    made = admin.post("/users", {"email": "New@Example.com", "password": PW})
    assert admin.last.status_code == 201 and made["email"] == "new@example.com"
    assert "password" not in admin.last.text and "hash" not in admin.last.text
    assert made["id"] in [u["id"] for u in admin.get("/users", expect=200)]


BAD_USERS = {
    "duplicate": ({"email": "{taken}", "password": PW}, 409, "email"),
    "duplicate-other-case": ({"email": "{taken_upper}", "password": PW}, 409, "email"),
    "weak-password": ({"email": "fresh@example.com", "password": "short"}, 422, "password"),
    "bad-email": ({"email": "not an email", "password": PW}, 422, "email"),
    "unknown-key": ({"email": "fresh@example.com", "password": PW, "role": "x"}, 422, "role"),
    "no-email": ({"password": PW}, 422, "email"),
}


@pytest.mark.parametrize(("body", "status", "key"), BAD_USERS.values(), ids=BAD_USERS.keys())
def test_bad_new_user_is_refused_by_field(
    make_user: Any, as_user: Any, body: dict[str, Any], status: int, key: str
) -> None:
    admin_user, token = make_user(admin=True)
    admin = as_user(token)
    fill = {"taken": admin_user["email"], "taken_upper": admin_user["email"].upper()}
    before = admin.get("/users", expect=200)
    admin.post("/users", _fill(body, fill), expect=status)
    assert key in error(admin).get("fields", {}), admin.last.text
    assert admin.get("/users", expect=200) == before


# ---- workspaces ------------------------------------------------------------------------


def test_workspace_lifecycle_and_list_shows_only_own(
    api: Api, ws: int, make_user: Any, as_user: Any
) -> None:
    stranger = as_user(make_user()[1])
    theirs = stranger.post("/workspaces", {"name": "Theirs"}, expect=201)
    assert theirs["role"] == "owner"
    assert [w["id"] for w in api.get("/workspaces", expect=200)] == [ws]
    assert [w["id"] for w in stranger.get("/workspaces", expect=200)] == [theirs["id"]]

    renamed = api.patch(f"/workspaces/{ws}", {"name": "Renamed", "phone_region": "de"}, expect=200)
    assert (renamed["name"], renamed["phone_region"]) == ("Renamed", "DE")
    assert api.get(f"/workspaces/{ws}", expect=200)["name"] == "Renamed"

    api.delete(f"/workspaces/{ws}", expect=204)
    api.get(f"/workspaces/{ws}", expect=404)
    assert api.get("/workspaces", expect=200) == []
    assert stranger.get(f"/workspaces/{theirs['id']}", expect=200)["name"] == "Theirs"


def test_deleting_a_workspace_drops_its_tables(
    api: Api, ws: int, runtime: Any, customers: dict[str, Any]
) -> None:
    other = api.post("/workspaces", {"name": "Kept"}, expect=201)["id"]
    kept, _ = make_type(api, other, "Kept", field("Name", "text"))
    table, kept_table = f"rt_{customers['rt']['id']}", f"rt_{kept['id']}"
    assert {table, kept_table} <= set(inspect(runtime.control).get_table_names())

    api.delete(f"/workspaces/{ws}", expect=204)
    tables = set(inspect(runtime.control).get_table_names())
    assert table not in tables and kept_table in tables
    api.get(records_path(ws, customers["rt"]), expect=404)


@pytest.mark.parametrize(
    ("role", "rename", "delete"),
    [("admin", 200, 403), ("member", 403, 403), ("viewer", 403, 403)],
)
def test_workspace_settings_need_admin_and_deletion_needs_owner(
    api: Api, ws: int, join: Any, role: str, rename: int, delete: int
) -> None:
    _, actor = join(ws, role)
    actor.patch(f"/workspaces/{ws}", {"name": f"by {role}"}, expect=rename)
    actor.delete(f"/workspaces/{ws}", expect=delete)
    assert api.get(f"/workspaces/{ws}", expect=200)["name"] == (
        f"by {role}" if rename == 200 else "Test workspace"
    )


# ---- members and roles -----------------------------------------------------------------


def actor_in(ws: int, role: str, api: Api, join: Any) -> Api:
    return api if role == "owner" else join(ws, role)[1]


@pytest.mark.parametrize("new_role", ROLES)
@pytest.mark.parametrize("actor_role", ROLES)
def test_add_member_matrix(
    api: Api, ws: int, join: Any, make_user: Any, actor_role: str, new_role: str
) -> None:
    actor = actor_in(ws, actor_role, api, join)
    newcomer, _ = make_user()
    before = members(api, ws)
    allowed = new_role in MANAGES[actor_role]
    body = {"email": newcomer["email"], "role": new_role}
    added = actor.post(f"/workspaces/{ws}/members", body, expect=201 if allowed else 403)
    if allowed:
        assert (added["user_id"], added["role"]) == (newcomer["id"], new_role)
        assert members(api, ws) == {**before, newcomer["id"]: new_role}
    else:
        assert error(actor)["code"] == "permission_denied"
        assert members(api, ws) == before


@pytest.mark.parametrize(
    ("old", "new"), [(a, b) for a in ROLES for b in (*ROLES, None) if a != b]
)  # new=None means removal
@pytest.mark.parametrize("actor_role", ROLES)
def test_change_and_remove_member_matrix(
    api: Api, ws: int, join: Any, actor_role: str, old: str, new: str | None
) -> None:
    actor = actor_in(ws, actor_role, api, join)
    target, _ = join(ws, old)
    before = members(api, ws)
    allowed = old in MANAGES[actor_role] and (new is None or new in MANAGES[actor_role])
    path = f"/workspaces/{ws}/members/{target['id']}"
    if new is None:
        actor.delete(path, expect=204 if allowed else 403)
    else:
        actor.patch(path, {"role": new}, expect=200 if allowed else 403)
    expected = dict(before)
    if allowed and new is None:
        del expected[target["id"]]
    elif allowed:
        expected[target["id"]] = new
    assert members(api, ws) == expected


@pytest.mark.parametrize("how", ["demote", "leave"])
def test_last_owner_cannot_go(api: Api, ws: int, owner: Any, join: Any, how: str) -> None:
    me = owner[0]["id"]
    second, second_api = join(ws, "owner")
    path = f"/workspaces/{ws}/members/{me}"
    do = {"demote": lambda a, p: a.patch(p, {"role": "admin"}), "leave": lambda a, p: a.delete(p)}
    do[how](api, path)  # with two owners, one may go
    assert api.last.status_code in {200, 204}

    before = members(second_api, ws)
    do[how](second_api, f"/workspaces/{ws}/members/{second['id']}")
    assert second_api.last.status_code == 409, second_api.last.text
    assert "owner" in error(second_api)["message"]
    assert members(second_api, ws) == before


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_any_member_may_leave(api: Api, ws: int, join: Any, role: str) -> None:
    user, leaver = join(ws, role)
    leaver.delete(f"/workspaces/{ws}/members/{user['id']}", expect=204)
    leaver.get(f"/workspaces/{ws}", expect=404)
    assert user["id"] not in members(api, ws)


@pytest.mark.parametrize(
    ("body", "status", "key"),
    [
        ({"email": "{email}", "role": "boss"}, 422, "role"),
        ({"email": "nobody@example.com"}, 422, "email"),
        ({"email": "{owner}"}, 409, "email"),
        ({"email": "{email}", "role": "member", "admin": True}, 422, "admin"),
    ],
    ids=["unknown-role", "unknown-account", "already-member", "unknown-key"],
)
def test_bad_member_input_names_the_field(
    api: Api, ws: int, owner: Any, make_user: Any, body: dict[str, Any], status: int, key: str
) -> None:
    fill = {"email": make_user()[0]["email"], "owner": owner[0]["email"]}
    before = members(api, ws)
    api.post(f"/workspaces/{ws}/members", _fill(body, fill), expect=status)
    assert key in error(api).get("fields", {}), api.last.text
    assert members(api, ws) == before


# ---- what each role may write ----------------------------------------------------------

REC = "/workspaces/{ws}/types/{rt}/records"
RECORD_WRITES = [
    ("post", REC, {"fields": {"name": "Bo"}}),
    ("patch", REC + "/{record}", {"fields": {"name": "Bo"}}),
    ("delete", REC + "/{record}", None),
    ("post", REC + "/bulk", {"items": [{"fields": {"name": "Bo"}}]}),
    ("post", REC + "/upsert", {"match_on": "name", "fields": {"name": "Ada"}}),
]
TYPE_WRITES = [
    ("post", "/workspaces/{ws}/types", {"name": "Order", "fields": []}),
    ("patch", "/workspaces/{ws}/types/{rt}", {"name": "Client"}),
    ("post", "/workspaces/{ws}/types/{rt}/fields", {"name": "Email", "type": "email"}),
    ("delete", "/workspaces/{ws}/types/{rt}/fields/{field}", None),
    ("delete", "/workspaces/{ws}/types/{rt}", None),
]


def ids_of(ws: int, data: dict[str, Any], **more: Any) -> dict[str, Any]:
    rt = data["rt"]
    ids = {"ws": ws, "rt": rt["id"], "field": rt["fields"][0]["id"], "record": data["record"]["id"]}
    return {**ids, **more}


def call(actor: Api, ids: dict[str, Any], method: str, path: str, body: Any, **kw: Any) -> Any:
    args = () if body is None else (_fill(body, ids),)
    return getattr(actor, method)(_fill(path, ids), *args, **kw)


def snapshot(api: Api, ws: int, data: dict[str, Any]) -> Any:
    return (
        members(api, ws),
        api.get(f"/workspaces/{ws}/types", expect=200),
        api.get(records_path(ws, data["rt"]), deleted="include", expect=200)["items"],
        api.get(f"/workspaces/{ws}/activity", expect=200)["items"],
    )


@pytest.mark.parametrize(
    ("role", "write"),
    [("viewer", w) for w in RECORD_WRITES + TYPE_WRITES] + [("member", w) for w in TYPE_WRITES],
    ids=lambda v: v if isinstance(v, str) else f"{v[0]} {v[1]}",
)
def test_role_cannot_write(
    api: Api, ws: int, join: Any, customers: dict[str, Any], role: str, write: tuple[Any, ...]
) -> None:
    _, actor = join(ws, role)
    actor.get(records_path(ws, customers["rt"]), expect=200)  # reading is fine
    before = snapshot(api, ws, customers)
    call(actor, ids_of(ws, customers), *write, expect=403)
    assert error(actor)["code"] == "permission_denied"
    assert snapshot(api, ws, customers) == before


@pytest.mark.parametrize("write", RECORD_WRITES, ids=lambda w: f"{w[0]} {w[1]}")
def test_member_writes_records(
    api: Api, ws: int, join: Any, customers: dict[str, Any], write: tuple[Any, ...]
) -> None:
    _, actor = join(ws, "member")
    call(actor, ids_of(ws, customers), *write)
    assert actor.last.status_code in {200, 201, 204}, actor.last.text


# ---- tenant isolation ------------------------------------------------------------------

FOREIGN = [
    ("get", "/workspaces/{ws}", None),
    ("patch", "/workspaces/{ws}", {"name": "Mine now"}),
    ("delete", "/workspaces/{ws}", None),
    ("get", "/workspaces/{ws}/activity", None),
    ("get", "/workspaces/{ws}/members", None),
    ("post", "/workspaces/{ws}/members", {"email": "{me}", "role": "owner"}),
    ("patch", "/workspaces/{ws}/members/{owner}", {"role": "viewer"}),
    ("delete", "/workspaces/{ws}/members/{owner}", None),
    ("get", "/workspaces/{ws}/types", None),
    *TYPE_WRITES,
    ("get", "/workspaces/{ws}/types/{rt}", None),
    ("get", REC, None),
    ("post", REC + "/query", {}),
    ("get", REC + "/{record}", None),
    ("get", REC + "/{record}/activity", None),
    *RECORD_WRITES,
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN, ids=lambda v: str(v))
def test_other_tenant_sees_404_and_changes_nothing(
    api: Api,
    ws: int,
    owner: Any,
    customers: dict[str, Any],
    make_user: Any,
    as_user: Any,
    method: str,
    path: str,
    body: Any,
) -> None:
    me, token = make_user()
    intruder = as_user(token)
    intruder.post("/workspaces", {"name": "Own"}, expect=201)  # a tenant with data of its own
    ids = ids_of(ws, customers, owner=owner[0]["id"], me=me["email"])
    before = snapshot(api, ws, customers)
    call(intruder, ids, method, path, body, expect=404)
    leaked = error(intruder)
    # A workspace that does not exist at all answers exactly the same.
    call(intruder, {**ids, "ws": 10**9}, method, path, body, expect=404)
    assert error(intruder) == leaked
    assert snapshot(api, ws, customers) == before


@pytest.mark.parametrize(
    ("method", "path", "body"), [c for c in FOREIGN if "{rt}" in c[1]], ids=lambda v: str(v)
)
def test_type_of_one_workspace_is_not_found_through_another(
    api: Api, ws: int, customers: dict[str, Any], method: str, path: str, body: Any
) -> None:
    """The caller owns both workspaces; ids of one are not valid in the other."""
    other = api.post("/workspaces", {"name": "Other"}, expect=201)["id"]
    make_type(api, other, "Customer", field("Name", "text"), rows=[{"name": "Bo"}])
    before = snapshot(api, ws, customers)
    call(api, ids_of(other, customers), method, path, body, expect=404)
    assert error(api)["code"] == "not_found"
    assert snapshot(api, ws, customers) == before
