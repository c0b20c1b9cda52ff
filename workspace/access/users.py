"""Server accounts: create, list, and the first admin on a fresh install."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.access import auth
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from workspace.identity import InvalidEmail, account_email
from workspace.principal import Principal
from workspace.runtime import Runtime

PUBLIC_COLUMNS = (m.users.c.id, m.users.c.email, m.users.c.name, m.users.c.is_admin)


def normalise_email(email: str) -> str:
    """The account form of ``email`` (:mod:`workspace.identity`), or a 422 naming the field."""
    try:
        return account_email(email)
    except InvalidEmail as exc:
        raise ValidationFailed.single("email", f"is not a valid email address: {exc}") from None


def create_user(
    runtime: Runtime, email: str, *, name: str = "", password: str | None, is_admin: bool = False
) -> dict[str, Any]:
    """Create an account. ``password=None`` makes an API-only account (tokens, no login)."""
    row: dict[str, Any] = {
        "email": normalise_email(email),
        "name": name.strip()[:200],
        "password_hash": auth.hash_password(password) if password is not None else None,
        "is_admin": is_admin,
        "created_at": utcnow(),
    }
    try:
        with transaction(runtime.control, write=True) as conn:
            row["id"] = inserted_id(conn.execute(insert(m.users).values(row)))
    except IntegrityError:
        raise Conflict(
            "a user with this email exists", fields={"email": "is already taken"}
        ) from None
    return {key: row[key] for key in ("id", "email", "name", "is_admin")}


def create_user_as(runtime: Runtime, actor: Principal, **kwargs: Any) -> dict[str, Any]:
    if not actor.is_admin:
        raise PermissionDenied("only server admins create accounts")
    return create_user(runtime, **kwargs)


def list_users(runtime: Runtime, actor: Principal) -> list[dict[str, Any]]:
    if not actor.is_admin:
        raise PermissionDenied("only server admins list every account")
    with transaction(runtime.control) as conn:
        rows = conn.execute(select(*PUBLIC_COLUMNS).order_by(m.users.c.id))
        return [dict(row._mapping) for row in rows]


def get_by_email(runtime: Runtime, email: str) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        row = conn.execute(
            select(*PUBLIC_COLUMNS).where(m.users.c.email == normalise_email(email))
        ).first()
    if row is None:
        raise NotFound(f"no user with email {email}")
    return dict(row._mapping)


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str
    token: str


def bootstrap_first_admin(runtime: Runtime, email: str = "admin@example.com") -> FirstAdmin | None:
    """On an empty install, create an admin with a random password and an API token.

    Returns the credentials to show once, or None when any account already exists.
    """
    with transaction(runtime.control) as conn:
        if conn.execute(select(func.count()).select_from(m.users)).scalar_one():
            return None
    password = secrets.token_urlsafe(12)
    try:
        user = create_user(runtime, email, name="Admin", password=password, is_admin=True)
    except Conflict:
        return None  # another process won the race and printed its own credentials
    _, token = auth.create_token(runtime, user["id"], "first admin token")
    return FirstAdmin(email=user["email"], password=password, token=token)
