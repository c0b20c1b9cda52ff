"""Passwords and API tokens.

Passwords are hashed with Argon2id (argon2-cffi): slow on purpose. API tokens are 256 random
bits, so a single SHA-256 is enough to store them safely and lets every request check a token
with one indexed lookup.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotAuthenticated, NotFound, ValidationFailed
from workspace.principal import Principal
from workspace.runtime import Runtime

TOKEN_PREFIX = "wst_"
_hasher = PasswordHasher()
#: last_used_at is refreshed at most this often, so reads do not turn into writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValidationFailed.single("password", "must be at least 10 characters")
    return _hasher.hash(password)


@functools.cache
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Constant effort: an account without a password (or no account) costs a full Argon2
    check too, so response times do not tell which emails have accounts."""
    try:
        return _hasher.verify(stored or _decoy_hash(), password) and bool(stored)
    except (VerifyMismatchError, InvalidHashError):
        return False


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    runtime: Runtime, user_id: int, name: str, expires_at: dt.datetime | None = None
) -> tuple[dict[str, Any], str]:
    """Create a token; the raw value is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed.single("name", "must be 1-200 characters")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {
        "user_id": user_id,
        "name": name,
        "prefix": raw[:12],
        "token_hash": token_hash(raw),
        "created_at": utcnow(),
        "expires_at": expires_at,
    }
    with transaction(runtime.control, write=True) as conn:
        row["id"] = inserted_id(conn.execute(insert(m.api_tokens).values(row)))
    return _public(row), raw


def list_tokens(runtime: Runtime, user_id: int) -> list[dict[str, Any]]:
    query = select(m.api_tokens).where(m.api_tokens.c.user_id == user_id).order_by("id")
    with transaction(runtime.control) as conn:
        return [_public(row._mapping) for row in conn.execute(query)]


def revoke_token(runtime: Runtime, user_id: int, token_id: int) -> None:
    t = m.api_tokens
    with transaction(runtime.control, write=True) as conn:
        done = conn.execute(
            update(t)
            .where(t.c.id == token_id, t.c.user_id == user_id, t.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if done.rowcount == 0:
        raise NotFound("token not found")
    runtime.tokens.discard_where(lambda p: p.source_ref == f"token:{token_id}")


def cached_principal(runtime: Runtime, raw: str) -> Principal | None:
    """The principal of a token verified in the last few seconds by this process, if any."""
    return runtime.tokens.get(token_hash(raw))


def authenticate_token(runtime: Runtime, raw: str) -> Principal:
    t, u = m.api_tokens, m.users
    query = (
        select(t.c.id, t.c.expires_at, t.c.revoked_at, t.c.last_used_at, u.c.id.label("uid"))
        .add_columns(u.c.email, u.c.is_admin, u.c.disabled_at)
        .join(u, u.c.id == t.c.user_id)
        .where(t.c.token_hash == token_hash(raw))
    )
    now = utcnow()
    with transaction(runtime.control) as conn:
        row = conn.execute(query).first()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        raise NotAuthenticated("the API token is not valid")
    if row.expires_at is not None and row.expires_at <= now:
        raise NotAuthenticated("the API token has expired")
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(update(t).where(t.c.id == row.id).values(last_used_at=now))
    principal = Principal(
        user_id=row.uid,
        email=row.email,
        is_admin=bool(row.is_admin),
        source="api",
        source_ref=f"token:{row.id}",
    )
    left = (row.expires_at - now).total_seconds() if row.expires_at else None
    runtime.tokens.put(token_hash(raw), principal, left)
    return principal


def _public(row: Any) -> dict[str, Any]:
    keys = ("id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    return {key: row.get(key) for key in keys}
