"""Signed tokens of public forms: one per rendered form, claimed by its first post only.

A rendered form carries a token signed with the server key (nothing is stored on a page
view, so bots fetching pages fill no table). The first post that carries it claims its hash
in ``form_tokens``, whose primary key is the referee: a double click or a replayed post
finds the claim and is answered with the first post's result instead of writing again. A
post that failed (503) leaves its claim; sending the page again takes the claim over and is
taken like a first post.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.runtime import Runtime

T = m.form_tokens
#: A form left open longer than this asks to be sent again (what was typed is kept).
LIFETIME = dt.timedelta(hours=24)


def sign(secret: str, purpose: str, *parts: str) -> str:
    """HMAC-SHA256 of ``parts`` for one ``purpose`` (so a token of one kind never passes as
    another), shortened to 128 bits."""
    message = "\x1f".join((purpose, *parts)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def issue(runtime: Runtime, form_id: int, now: dt.datetime | None = None) -> str:
    """A fresh token for one rendering of a form."""
    issued = int((now or utcnow()).timestamp())
    body = f"{issued:x}.{secrets.token_urlsafe(12)}"
    return f"{body}.{sign(_secret(runtime), 'form-token', str(form_id), body)}"


def check(runtime: Runtime, form_id: int, token: str, now: dt.datetime | None = None) -> str:
    """``ok``, ``expired`` or ``invalid`` (missing, tampered, or for another form)."""
    body, _, signature = token.rpartition(".")
    expected = sign(_secret(runtime), "form-token", str(form_id), body)
    if not body or not hmac.compare_digest(signature.encode(), expected.encode()):
        return "invalid"
    try:
        issued = dt.datetime.fromtimestamp(int(body.split(".", 1)[0], 16), dt.UTC)
    except (ValueError, OverflowError):
        return "invalid"
    return "expired" if (now or utcnow()) - issued > LIFETIME else "ok"


def claim(runtime: Runtime, form_id: int, token: str, submission_id: int) -> int | None:
    """Claim ``token`` for ``submission_id``; if an earlier post claimed it, return that
    submission's id (the caller answers as it was answered)."""
    digest = _digest(token)
    now = utcnow()
    try:
        with transaction(runtime.control, write=True) as conn:
            conn.execute(
                insert(T).values(
                    token_hash=digest, form_id=form_id, submission_id=submission_id, used_at=now
                )
            )
            # Claims older than a token's life can never be replayed again: forget them.
            conn.execute(delete(T).where(T.c.used_at < now - LIFETIME - dt.timedelta(hours=1)))
    except IntegrityError:
        with transaction(runtime.control) as conn:
            first = conn.execute(select(T.c.submission_id).where(T.c.token_hash == digest))
            return first.scalar() or 0
    return None


def take_over(conn: Connection, token: str, first_id: int, submission_id: int) -> bool:
    """In the caller's transaction: move the claim of ``token`` from ``first_id`` (whose
    post failed) to ``submission_id``; False if another post took it over first."""
    moved = conn.execute(
        update(T)
        .where(T.c.token_hash == _digest(token), T.c.submission_id == first_id)
        .values(submission_id=submission_id, used_at=utcnow())
    )
    return bool(moved.rowcount)


def release(runtime: Runtime, token: str) -> None:
    """Give a token back: a post refused for its input wrote nothing, so sending the same
    page again is a new attempt, not a replay."""
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(T).where(T.c.token_hash == _digest(token)))


# ---- self-service edit links ------------------------------------------------------------


class LinkError(Exception):
    """An edit link that cannot be used: ``expired`` or ``invalid`` (tampered, or for
    another form)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def edit_token(runtime: Runtime, form_id: int, ref: str, now: dt.datetime | None = None) -> str:
    """The signed, expiring part of ``/f/<slug>/edit/<token>``: it names a submission by its
    random reference (never a record id) and lives ``form_edit_link_days``."""
    days = dt.timedelta(days=runtime.settings.form_edit_link_days)
    expires = int(((now or utcnow()) + days).timestamp())
    body = f"{ref}.{expires:x}"
    return f"{body}.{sign(_secret(runtime), 'form-edit', str(form_id), body)}"


def read_edit_token(
    runtime: Runtime, form_id: int, token: str, now: dt.datetime | None = None
) -> str:
    """The submission reference an edit link names; raises LinkError."""
    body, _, signature = token.rpartition(".")
    expected = sign(_secret(runtime), "form-edit", str(form_id), body)
    if not body or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise LinkError("invalid")
    ref, _, expires = body.partition(".")
    try:
        until = dt.datetime.fromtimestamp(int(expires, 16), dt.UTC)
    except (ValueError, OverflowError):
        raise LinkError("invalid") from None
    if (now or utcnow()) > until:
        raise LinkError("expired")
    return ref


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _secret(runtime: Runtime) -> str:
    return runtime.settings.resolved_secret_key()
