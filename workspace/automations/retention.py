"""Pruning the run log: runs that ended long ago, with their steps and the webhook posts
that started them.

Runs are kept for ``WORKSPACE_AUTOMATION_RUNS_KEEP_DAYS`` after they ended (to explain what
happened to a record), then deleted in bounded batches so no delete holds locks for long,
like the queue's own pruning. Only runs that are over are ever deleted: a run still queued,
running, waiting or retrying has work left, and a dead run nobody has dismissed or replayed
is the dead letter someone has to look at. Refused webhook posts (they started no run) are
kept as long.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.jobs.kinds import PeriodicTask
from workspace.runtime import Runtime

R, S, IN = m.automation_runs, m.automation_steps, m.automation_inbound
#: Runs deleted per transaction.
BATCH = 1000
#: The states of a run that is over and needs no one's attention.
ENDED = ("done", "skipped", "stopped", "dismissed")


def prune(runtime: Runtime) -> None:
    """Delete runs (and refused posts) past keeping."""
    before = utcnow() - dt.timedelta(days=runtime.settings.automation_runs_keep_days)
    ended = R.c.state.in_(ENDED) & (R.c.finished_at < before)
    while True:
        with transaction(runtime.control, write=True) as conn:
            ids = list(conn.execute(select(R.c.id).where(ended).limit(BATCH)).scalars())
            if ids:
                # Steps explicitly: SQLite enforces the cascade only with its pragma on.
                conn.execute(delete(S).where(S.c.run_id.in_(ids)))
                conn.execute(delete(IN).where(IN.c.run_id.in_(ids)))
                conn.execute(delete(R).where(R.c.id.in_(ids)))
        if len(ids) < BATCH:
            break
    refused = IN.c.run_id.is_(None) & (IN.c.received_at < before)
    while True:
        with transaction(runtime.control, write=True) as conn:
            ids = list(conn.execute(select(IN.c.id).where(refused).limit(BATCH)).scalars())
            if ids:
                conn.execute(delete(IN).where(IN.c.id.in_(ids)))
        if len(ids) < BATCH:
            return


TASK = PeriodicTask("automations.prune", dt.timedelta(hours=1), prune)
