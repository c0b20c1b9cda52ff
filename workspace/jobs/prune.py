"""Pruning what the queue has finished with: done and cancelled jobs, dispatched events.

Kept for ``WORKSPACE_JOBS_KEEP_DAYS`` (to see what ran), then deleted in bounded batches so
no delete holds locks for long (Oban's Pruner). Dead jobs stay until replayed or cancelled:
they are the dead letter someone has to look at.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Table, delete, select

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.jobs.kinds import PeriodicTask
from workspace.runtime import Runtime

BATCH = 5000
J, OUTBOX = m.jobs, m.event_outbox


def prune(runtime: Runtime) -> None:
    """Delete what is past keeping."""
    before = utcnow() - dt.timedelta(days=runtime.settings.jobs_keep_days)
    finished = J.c.state.in_(("done", "cancelled")) & (J.c.finished_at < before)
    dispatched = OUTBOX.c.dispatched_at < before
    _delete(runtime, J, finished)
    _delete(runtime, OUTBOX, dispatched)


def _delete(runtime: Runtime, table: Table, old: ColumnElement[bool]) -> int:
    gone = 0
    while True:
        with transaction(runtime.control, write=True) as conn:
            ids = list(conn.execute(select(table.c.id).where(old).limit(BATCH)).scalars())
            if ids:
                conn.execute(delete(table).where(table.c.id.in_(ids)))
        gone += len(ids)
        if len(ids) < BATCH:
            return gone


TASK = PeriodicTask("jobs.prune", dt.timedelta(hours=1), prune)
