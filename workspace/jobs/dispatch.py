"""Handing outbox events to their consumers: a built-in step of every worker.

A batch of undispatched events is claimed in id order (``FOR UPDATE SKIP LOCKED``: two
workers take two batches), each is given to every consumer inside the same transaction, and
the batch is marked dispatched with what the consumers wrote (the jobs they enqueued), so an
event is handed on exactly when its consequences commit.

Within a batch events go in id order; two workers dispatching at once may interleave their
batches. A consumer that raises is logged by name and skipped for that event (its writes for
it rolled back to a savepoint): one broken consumer must not stop every other one. The fast
path runs a batch without savepoints and falls back to them only when something raised.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, select, update

from workspace import models as m
from workspace import outbox
from workspace.db import transaction
from workspace.jobs.kinds import EventConsumer, name_of
from workspace.outbox import OutboxEvent

log = logging.getLogger(__name__)
OUTBOX = m.event_outbox
PENDING = OUTBOX.c.dispatched_at.is_(None)


def dispatch(
    engine: Engine, consumers: Sequence[EventConsumer], *, limit: int, now: dt.datetime
) -> int:
    """Dispatch up to ``limit`` events; returns how many."""
    with transaction(engine) as conn:
        if conn.execute(select(OUTBOX.c.id).where(PENDING).limit(1)).first() is None:
            return 0
    try:
        return _batch(engine, consumers, limit, now, careful=False)
    except Exception:
        log.warning("an event consumer failed; dispatching this batch one consumer at a time")
        return _batch(engine, consumers, limit, now, careful=True)


def _batch(
    engine: Engine,
    consumers: Sequence[EventConsumer],
    limit: int,
    now: dt.datetime,
    *,
    careful: bool,
) -> int:
    with transaction(engine, write=True) as conn:
        rows = (
            conn.execute(
                select(OUTBOX)
                .where(PENDING)
                .order_by(OUTBOX.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            .mappings()
            .all()
        )
        for row in rows:
            event = outbox.from_row(dict(row))
            for consumer in consumers:
                if careful:
                    _guarded(conn, consumer, event)
                else:
                    consumer(conn, event)
        if rows:
            ids = [r["id"] for r in rows]
            conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(dispatched_at=now))
    return len(rows)


def _guarded(conn: Connection, consumer: EventConsumer, event: OutboxEvent) -> None:
    try:
        with conn.begin_nested():
            consumer(conn, event)
    except Exception:
        log.exception(
            "event consumer %s failed on event %s (%s)", name_of(consumer), event.id, event.kind
        )
