"""Workspaces and their members.

A workspace is invisible to non-members: every lookup answers 404 as if it did not exist, so
ids of other tenants' workspaces cannot be probed.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import phonenumbers
from sqlalchemy import delete, func, insert, select, update

from workspace import models as m
from workspace.access import users
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from workspace.names import clean_name
from workspace.principal import RANK, ROLES, Access, Principal
from workspace.runtime import Runtime
from workspace.types import record_types

W, M = m.workspaces, m.memberships


def clean_region(region: Any) -> str | None:
    if region is None:
        return None
    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationFailed.single("phone_region", "must be a region code such as US or DE")
    return region.upper()


def clean_zone(zone: Any) -> str | None:
    """An IANA time zone name (``Europe/Berlin``); None is UTC."""
    if zone is None:
        return None
    if not isinstance(zone, str) or zone not in zoneinfo.available_timezones():
        raise ValidationFailed.single("time_zone", "must be a time zone such as Europe/Berlin")
    return zone


def access(runtime: Runtime, principal: Principal, workspace_id: int) -> Access:
    """The caller's membership in a workspace, or 404 if they are not a member."""
    query = (
        select(M.c.role, W.c.phone_region)
        .join(W, W.c.id == M.c.workspace_id)
        .where(
            M.c.workspace_id == workspace_id,
            M.c.user_id == principal.user_id,
            W.c.deleted_at.is_(None),
        )
    )
    with transaction(runtime.control) as conn:
        row = conn.execute(query).first()
    if row is None:
        raise NotFound("workspace not found")
    region = row.phone_region or runtime.settings.default_phone_region
    return Access(principal, workspace_id, row.role, region)


def create(
    runtime: Runtime, principal: Principal, name: Any, phone_region: Any = None
) -> dict[str, Any]:
    """Create a workspace; its creator becomes the owner."""
    now = utcnow()
    row = {
        "name": clean_name(name),
        "phone_region": clean_region(phone_region),
        "time_zone": None,
        "created_at": now,
        "created_by": principal.user_id,
    }
    with transaction(runtime.control, write=True) as conn:
        row["id"] = inserted_id(conn.execute(insert(W).values(row)))
        conn.execute(
            insert(M).values(
                workspace_id=row["id"], user_id=principal.user_id, role="owner", created_at=now
            )
        )
    return {**_public(row), "role": "owner"}


def list_for(runtime: Runtime, principal: Principal) -> list[dict[str, Any]]:
    query = (
        select(W, M.c.role)
        .join(M, M.c.workspace_id == W.c.id)
        .where(M.c.user_id == principal.user_id, W.c.deleted_at.is_(None))
        .order_by(W.c.id)
    )
    with transaction(runtime.control) as conn:
        return [{**_public(r._mapping), "role": r.role} for r in conn.execute(query)]


def get(runtime: Runtime, acc: Access) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        row = conn.execute(select(W).where(W.c.id == acc.workspace_id)).one()
    return {**_public(row._mapping), "role": acc.role}


def update_settings(runtime: Runtime, acc: Access, changes: dict[str, Any]) -> dict[str, Any]:
    acc.require("admin")
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = clean_name(changes["name"])
    if "phone_region" in changes:
        values["phone_region"] = clean_region(changes["phone_region"])
    if "time_zone" in changes:
        values["time_zone"] = clean_zone(changes["time_zone"])
    if values:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(update(W).where(W.c.id == acc.workspace_id).values(values))
    return get(runtime, acc)


def delete_workspace(runtime: Runtime, acc: Access) -> None:
    """Delete a workspace with all its record types and records.

    Hidden first, then its tables dropped, then its rows removed: a crash in between is
    finished by :func:`finish_deletions` at the next start.
    """
    acc.require("owner")
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(W).where(W.c.id == acc.workspace_id).values(deleted_at=utcnow()))
    _purge(runtime, acc.workspace_id)


def finish_deletions(runtime: Runtime) -> None:
    with transaction(runtime.control) as conn:
        ids = list(conn.execute(select(W.c.id).where(W.c.deleted_at.is_not(None))).scalars())
    for workspace_id in ids:
        _purge(runtime, workspace_id)


def _purge(runtime: Runtime, workspace_id: int) -> None:
    record_types.purge_workspace(runtime, workspace_id)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(m.activity).where(m.activity.c.workspace_id == workspace_id))
        conn.execute(
            delete(m.idempotency_keys).where(m.idempotency_keys.c.scope == f"ws:{workspace_id}")
        )
        conn.execute(delete(W).where(W.c.id == workspace_id))


# ---- members ---------------------------------------------------------------------------


def list_members(runtime: Runtime, acc: Access) -> list[dict[str, Any]]:
    u = m.users
    query = (
        select(u.c.id.label("user_id"), u.c.email, u.c.name, M.c.role, M.c.created_at)
        .join(M, M.c.user_id == u.c.id)
        .where(M.c.workspace_id == acc.workspace_id)
        .order_by(u.c.id)
    )
    with transaction(runtime.control) as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def add_member(runtime: Runtime, acc: Access, email: Any, role: Any) -> dict[str, Any]:
    role = _check_role_change(acc, None, role)
    if not isinstance(email, str):
        raise ValidationFailed.single("email", "must be the email of an existing account")
    address = users.normalise_email(email)
    u = m.users
    with transaction(runtime.control, write=True) as conn:
        user = conn.execute(select(u.c.id).where(u.c.email == address)).first()
        if user is None:
            raise ValidationFailed.single("email", "no account has this email")
        exists = conn.execute(
            select(M.c.role).where(M.c.workspace_id == acc.workspace_id, M.c.user_id == user.id)
        ).first()
        if exists is not None:
            raise Conflict("already a member", fields={"email": "is already a member"})
        conn.execute(
            insert(M).values(
                workspace_id=acc.workspace_id, user_id=user.id, role=role, created_at=utcnow()
            )
        )
    return _member(runtime, acc, user.id)


def change_role(runtime: Runtime, acc: Access, user_id: int, role: Any) -> dict[str, Any]:
    with transaction(runtime.control, write=True) as conn:
        current = _member_role(conn, acc.workspace_id, user_id)
        role = _check_role_change(acc, current, role)
        if current == "owner" and role != "owner":
            _keep_an_owner(conn, acc.workspace_id)
        conn.execute(
            update(M)
            .where(M.c.workspace_id == acc.workspace_id, M.c.user_id == user_id)
            .values(role=role)
        )
    return _member(runtime, acc, user_id)


def remove_member(runtime: Runtime, acc: Access, user_id: int) -> None:
    with transaction(runtime.control, write=True) as conn:
        current = _member_role(conn, acc.workspace_id, user_id)
        if user_id != acc.user_id:  # anyone may leave; removing others needs rights
            _check_role_change(acc, current, None)
        if current == "owner":
            _keep_an_owner(conn, acc.workspace_id)
        conn.execute(delete(M).where(M.c.workspace_id == acc.workspace_id, M.c.user_id == user_id))


def _check_role_change(acc: Access, current: str | None, new: Any) -> str:
    """Admins manage members and viewers; only owners touch admins and owners."""
    if new is not None and new not in ROLES:
        raise ValidationFailed.single("role", f"must be one of {', '.join(ROLES)}")
    acc.require("admin")
    top = max(RANK[current] if current else 0, RANK[new] if new else 0)
    if top >= RANK["admin"] and not acc.can("owner"):
        raise PermissionDenied("only owners add, change or remove admins and owners")
    return str(new)


def _member_role(conn: Any, workspace_id: int, user_id: int) -> str:
    role = conn.execute(
        select(M.c.role).where(M.c.workspace_id == workspace_id, M.c.user_id == user_id)
    ).scalar()
    if role is None:
        raise NotFound("member not found")
    return str(role)


def _keep_an_owner(conn: Any, workspace_id: int) -> None:
    owners = conn.execute(
        select(func.count())
        .select_from(M)
        .where(M.c.workspace_id == workspace_id, M.c.role == "owner")
        .with_for_update()
    ).scalar_one()
    if owners <= 1:
        raise Conflict("a workspace needs at least one owner; make someone else owner first")


def _member(runtime: Runtime, acc: Access, user_id: int) -> dict[str, Any]:
    return next(r for r in list_members(runtime, acc) if r["user_id"] == user_id)


def _public(row: Any) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "name", "phone_region", "time_zone", "created_at")}
