"""Inbound webhooks: a post to an automation's secret address starts a run with its payload.

Like a form submission, every post is kept with its outcome (accepted with the run it
started, or refused and why), and nothing else about the automation is revealed to the
poster: an unknown address is a plain 404.

Posts are limited per automation and per client address in the API's windows, counted
across server processes (``workspace.rate_limits``): a secret address that leaked must not
let anyone fill the database. A post over a limit is answered 429 with Retry-After and is
not kept: keeping it would be the very cost the limit is there to refuse.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update

from workspace import models as m
from workspace.automations import runs
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import (
    Conflict,
    NotFound,
    RateLimited,
    TooLarge,
    ValidationFailed,
    WorkspaceError,
)
from workspace.rate_limits import RateLimiter
from workspace.runtime import Runtime

A, IN = m.automations, m.automation_inbound
MAX_BYTES = 64_000


def receive(runtime: Runtime, secret: str, body: bytes, client: str) -> dict[str, Any]:
    """Keep the post of ``client`` (its address); start a run if the automation is on.
    Returns the inbound id and run."""
    settings = runtime.settings
    limiter = runtime.rate_limits
    if limiter is not None:  # before the lookup: a flood of guesses costs no query either
        bucket = "hook-addr:" + limiter.address_bucket(client).partition(":")[2][:38]
        _count(limiter, bucket, settings.automation_hook_address_rate_limit, "this address")
    with transaction(runtime.control) as conn:
        automation = conn.execute(select(A).where(A.c.hook_secret == secret)).mappings().first()
    if automation is None:
        raise NotFound("no such webhook")
    if limiter is not None:
        bucket = f"hook:{automation['id']}"
        _count(limiter, bucket, settings.automation_hook_rate_limit, "this webhook")
    payload, refused, error = _read(body)
    if refused is None and not automation["enabled"]:
        refused, error = "the automation is turned off", Conflict
    with transaction(runtime.control, write=True) as conn:
        inbound_id = inserted_id(
            conn.execute(
                insert(IN).values(
                    automation_id=automation["id"],
                    received_at=utcnow(),
                    payload=payload,
                    outcome="refused" if refused else "accepted",
                    reason=refused,
                )
            )
        )
        run_id = None
        if refused is None:
            cause = {"kind": "webhook", "inbound": inbound_id, "payload": payload}
            run_id = runs.start(conn, dict(automation), None, cause)
            conn.execute(update(IN).where(IN.c.id == inbound_id).values(run_id=run_id))
    if refused is not None:
        raise error(f"body: not accepted: {refused}", details={"inbound": inbound_id})
    return {"inbound": inbound_id, "run": run_id}


def _count(limiter: RateLimiter, bucket: str, limit: int, whose: str) -> None:
    """Count one post against ``limit``; refuse it as the API's limits do when over."""
    wait = limiter.admit(bucket, limit)
    if wait is not None:
        window = limiter.window
        raise RateLimited(
            f"too many posts to {whose}: at most {limit} every {window} seconds; "
            f"retry in {wait} seconds",
            retry_after=wait,
        )


def _read(body: bytes) -> tuple[Any, str | None, type[WorkspaceError]]:
    """The payload to keep, and why it is refused (with the error that says so)."""
    if len(body) > MAX_BYTES:
        return {"_size": len(body)}, f"larger than {MAX_BYTES} bytes", TooLarge
    try:
        return json.loads(body or b"null"), None, Conflict
    except (ValueError, UnicodeDecodeError):
        kept = {"_text": body[:2000].decode("utf-8", "replace")}
        return kept, "it is not JSON", ValidationFailed


def list_inbound(runtime: Runtime, automation_id: int, limit: int = 50) -> list[dict[str, Any]]:
    query = (
        select(IN).where(IN.c.automation_id == automation_id).order_by(IN.c.id.desc()).limit(limit)
    )
    with transaction(runtime.control) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
