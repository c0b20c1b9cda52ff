"""Idempotency keys: a retried POST replays the first answer instead of writing twice.

Same key + same request within 24 hours replays the stored response; same key + a different
request is refused (422); a request whose first attempt is still running gets 409. Keys live
in the database, so the guarantee holds across server processes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import Conflict, ValidationFailed
from workspace.runtime import Runtime

K = m.idempotency_keys
RETENTION = dt.timedelta(hours=24)
#: A first attempt running longer than this is taken to have died with its process.
ABANDONED = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Stored:
    status: int
    headers: dict[str, str]
    body: bytes


def claim(runtime: Runtime, scope: str, key: str, request_hash: str) -> Stored | None:
    """Start a request under ``key``: None means go ahead, a Stored response means replay."""
    for _ in range(3):
        try:
            with transaction(runtime.control, write=True) as conn:
                conn.execute(
                    insert(K).values(
                        scope=scope,
                        key=key,
                        request_hash=request_hash,
                        state="in_flight",
                        created_at=utcnow(),
                    )
                )
            return None
        except IntegrityError:
            pass
        with transaction(runtime.control, write=True) as conn:
            row = conn.execute(select(K).where(K.c.scope == scope, K.c.key == key)).first()
            if row is None:
                continue
            age = utcnow() - row.created_at
            if age > RETENTION or (row.state == "in_flight" and age > ABANDONED):
                conn.execute(delete(K).where(K.c.scope == scope, K.c.key == key))
                continue
        if row.request_hash != request_hash:
            raise ValidationFailed.single(
                "Idempotency-Key", "was already used with a different request"
            )
        if row.state == "in_flight":
            raise Conflict("a request with this Idempotency-Key is still being processed")
        return Stored(
            row.status_code, dict(row.response_headers or {}), bytes(row.response_body or b"")
        )
    raise Conflict("could not claim the Idempotency-Key; retry")


def complete(runtime: Runtime, scope: str, key: str, stored: Stored) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(K)
            .where(K.c.scope == scope, K.c.key == key)
            .values(
                state="done",
                status_code=stored.status,
                response_headers=stored.headers,
                response_body=stored.body,
            )
        )


def release(runtime: Runtime, scope: str, key: str) -> None:
    """Forget a key whose request failed on our side, so the client's retry runs again."""
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(K).where(K.c.scope == scope, K.c.key == key))


def purge_expired(runtime: Runtime) -> int:
    with transaction(runtime.control, write=True) as conn:
        return conn.execute(delete(K).where(K.c.created_at < utcnow() - RETENTION)).rowcount
