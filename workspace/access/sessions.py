"""Browser sessions: a random cookie value whose SHA-256 is kept in the database.

Sessions live in the database (not in a process), so any server process can serve any
request; a session expires after two weeks without use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update

from workspace import models as m
from workspace.access import auth
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import NotAuthenticated, ValidationFailed
from workspace.identity import InvalidEmail, account_email
from workspace.principal import Principal
from workspace.runtime import Runtime

S, U = m.sessions, m.users
LIFETIME = dt.timedelta(days=14)
#: last_seen_at (and so the expiry) moves at most this often: reads stay reads.
TOUCH_EVERY = dt.timedelta(minutes=5)
LOOKUP = (
    select(S.c.last_seen_at, S.c.expires_at, U.c.id, U.c.email, U.c.name, U.c.is_admin)
    .join(U, U.c.id == S.c.user_id)
    .where(S.c.id == bindparam("session"), U.c.disabled_at.is_(None))
)


@dataclass(frozen=True)
class SessionUser:
    principal: Principal
    name: str


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def log_in(runtime: Runtime, email: str, password: str) -> str:
    """Check the password and open a session; returns the cookie value.

    The same message for an unknown email and a wrong password, so the form does not tell
    which addresses have accounts.
    """
    try:
        address = account_email(email)
    except InvalidEmail:
        address = ""
    with transaction(runtime.control) as conn:
        row = conn.execute(
            select(U.c.id, U.c.password_hash, U.c.disabled_at).where(U.c.email == address)
        ).first()
    stored = row.password_hash if row is not None and row.disabled_at is None else None
    if not auth.verify_password(stored, password) or row is None:
        raise NotAuthenticated("the email or the password is not right")
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            insert(S).values(
                id=_digest(raw),
                user_id=row.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + LIFETIME,
            )
        )
        conn.execute(delete(S).where(S.c.expires_at < now))
    return raw


def lookup(runtime: Runtime, raw: str) -> SessionUser | None:
    """The user of a live session, or None (unknown, expired or disabled)."""
    now = utcnow()
    with transaction(runtime.control) as conn:
        row = conn.execute(LOOKUP, {"session": _digest(raw)}).first()
    if row is None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(
                update(S)
                .where(S.c.id == _digest(raw))
                .values(last_seen_at=now, expires_at=now + LIFETIME)
            )
    principal = Principal(row.id, row.email, bool(row.is_admin), source="ui")
    return SessionUser(principal, row.name or row.email)


def log_out(runtime: Runtime, raw: str) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(S).where(S.c.id == _digest(raw)))


def change_password(
    runtime: Runtime, principal: Principal, current: str, new: str, *, keep: str | None = None
) -> None:
    """Needs the current password; ends every session of the user but ``keep`` (the one
    making the change), so a stolen session dies with the old password."""
    with transaction(runtime.control) as conn:
        stored = conn.execute(select(U.c.password_hash).where(U.c.id == principal.user_id)).scalar()
    if not auth.verify_password(stored, current):
        raise ValidationFailed.single("current_password", "is not your current password")
    hashed = auth.hash_password(new)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(U).where(U.c.id == principal.user_id).values(password_hash=hashed))
        others = S.c.id != _digest(keep) if keep else S.c.id.is_not(None)
        conn.execute(delete(S).where(S.c.user_id == principal.user_id, others))
