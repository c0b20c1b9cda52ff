"""Submissions of public forms as stored: received first, then decided.

Nothing submitted is lost (DESIGN.md, invariant 2): a post is stored as ``received`` before
anything else happens, and then given its outcome (created, updated, refused, rejected,
spam or replay) with the record and the reason. The client address is kept only as an HMAC
with the server key, enough to count posts per address for the rate limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import models as m
from workspace import outbox
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import BadRequest, NotFound
from workspace.forms import forms
from workspace.principal import Access
from workspace.runtime import Runtime

S, F = m.form_submissions, m.forms
OUTCOMES = ("received", "created", "updated", "refused", "rejected", "spam", "replay")
#: Keys never stored: the CSRF token and the form's one-time token are secrets.
NOT_STORED = frozenset({"_csrf_token", "_form_token"})
#: What is kept of a post: enough to see what came in, bounded whatever was sent.
STORED_KEYS, STORED_CHARS = 100, 2000
#: What a post may hold before it is refused as too large.
MAX_KEYS, MAX_VALUE_CHARS, MAX_TOTAL_CHARS = 200, 10_000, 64_000
RATE_WINDOW = dt.timedelta(hours=1)
PAGE_MAX = 200


def ip_hash(runtime: Runtime, address: str) -> str:
    secret = runtime.settings.resolved_secret_key().encode()
    return hmac.new(secret, b"form-ip\x1f" + address.encode(), hashlib.sha256).hexdigest()


def stored_payload(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A bounded copy of a post: at most ``STORED_KEYS`` keys, each value cut to
    ``STORED_CHARS`` characters (``_truncated`` says when anything was cut)."""
    kept: dict[str, Any] = {}
    cut = False
    for key in list(raw)[: STORED_KEYS + len(NOT_STORED)]:
        if key in NOT_STORED:
            continue
        if len(kept) == STORED_KEYS:
            cut = True
            break
        value = raw[key]
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        short = [v[:STORED_CHARS] for v in values[:20]]
        cut = cut or short != values
        kept[str(key)[:100]] = short if isinstance(value, list) else short[0]
    if cut or len(raw) > len(kept) + len(NOT_STORED & set(raw)):
        kept["_truncated"] = True
    return kept


def too_large(raw: Mapping[str, Any]) -> bool:
    if len(raw) > MAX_KEYS:
        return True
    total = 0
    for value in raw.values():
        for v in value if isinstance(value, list) else [value]:
            size = len(str(v))
            total += size
            if size > MAX_VALUE_CHARS or total > MAX_TOTAL_CHARS:
                return True
    return False


def store_received(
    runtime: Runtime,
    form_id: int,
    kind: str,
    hashed_ip: str,
    raw: Mapping[str, Any],
    files: Mapping[str, Any] | None = None,
) -> tuple[int, str]:
    """Store a post before deciding anything; returns its id and public reference.
    ``files`` are the facts of the files sent (``form_files.facts``: never their bytes)."""
    ref = secrets.token_hex(16)
    row = {
        "form_id": form_id,
        "kind": kind,
        "ref": ref,
        "received_at": utcnow(),
        "ip_hash": hashed_ip,
        "payload": {**stored_payload(raw), **(files or {})},
        "outcome": "received",
    }
    with transaction(runtime.control, write=True) as conn:
        return inserted_id(conn.execute(insert(S).values(row))), ref


def decide(
    runtime: Runtime,
    submission_id: int,
    outcome: str,
    *,
    record_id: int | None = None,
    reason: str | None = None,
) -> None:
    assert outcome in OUTCOMES
    values = {
        "outcome": outcome,
        "record_id": record_id,
        "reason": reason[:1000] if reason else None,
        "decided_at": utcnow(),
    }
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(S).where(S.c.id == submission_id).values(values))
        outbox.write(conn, [_submitted(conn, submission_id, outcome, record_id)])


def _submitted(
    conn: Connection, submission_id: int, outcome: str, record_id: int | None
) -> outbox.OutboxEvent:
    """The ``form.submitted`` event of a decided submission, made by the form as the activity
    of its record is (its maker, source "form")."""
    form = conn.execute(
        select(F.c.id, F.c.workspace_id, F.c.record_type_id, F.c.created_by, S.c.kind)
        .join(S, S.c.form_id == F.c.id)
        .where(S.c.id == submission_id)
    ).one()
    data = {"form_id": form.id, "submission_id": submission_id, "outcome": outcome}
    return outbox.OutboxEvent(
        workspace_id=form.workspace_id,
        kind="form.submitted",
        record_type_id=form.record_type_id,
        record_id=record_id,
        actor_user_id=form.created_by,
        source="form",
        source_ref=forms.source_ref(form.id),
        data={**data, "kind": form.kind},
    )


def recent_count(runtime: Runtime, hashed_ip: str) -> int:
    """Posts from one address in the last hour, whatever became of them (an index on
    (ip_hash, received_at) keeps this one range read)."""
    since = utcnow() - RATE_WINDOW
    query = select(func.count()).where(S.c.ip_hash == hashed_ip, S.c.received_at >= since)
    with transaction(runtime.control) as conn:
        return int(conn.execute(query).scalar_one())


def get(runtime: Runtime, submission_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        row = conn.execute(select(S).where(S.c.id == submission_id)).mappings().first()
    if row is None:
        raise NotFound("submission not found")
    return dict(row)


def by_ref(runtime: Runtime, form_id: int, ref: str) -> dict[str, Any] | None:
    query = select(S).where(S.c.ref == ref, S.c.form_id == form_id)
    with transaction(runtime.control) as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def list_submissions(
    runtime: Runtime,
    acc: Access,
    form_id: int,
    *,
    outcome: str | None = None,
    limit: int = 50,
    before: int | None = None,
) -> dict[str, Any]:
    """A form's submissions, newest first; ``before`` is the last id of the previous page."""
    acc.require("member")
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequest(f"limit: must be between 1 and {PAGE_MAX}")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest("outcome: must be one of " + ", ".join(OUTCOMES))
    query = (
        select(S)
        .join(F, F.c.id == S.c.form_id)
        .where(S.c.form_id == form_id, F.c.workspace_id == acc.workspace_id)
        .order_by(S.c.id.desc())
        .limit(limit + 1)
    )
    if outcome is not None:
        query = query.where(S.c.outcome == outcome)
    if before is not None:
        query = query.where(S.c.id < before)
    with transaction(runtime.control) as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [_public(r) for r in rows], "next_before": rows[-1]["id"] if more else None}


def counts(runtime: Runtime, acc: Access, form_id: int) -> dict[str, int]:
    """How many submissions ended in each outcome."""
    acc.require("member")
    query = (
        select(S.c.outcome, func.count())
        .join(F, F.c.id == S.c.form_id)
        .where(S.c.form_id == form_id, F.c.workspace_id == acc.workspace_id)
        .group_by(S.c.outcome)
    )
    with transaction(runtime.control) as conn:
        return {outcome: int(n) for outcome, n in conn.execute(query)}


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "received_at": row["received_at"],
        "outcome": row["outcome"],
        "record": row["record_id"],
        "reason": row["reason"],
        "payload": row["payload"],
    }
