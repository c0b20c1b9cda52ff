"""Connectors on the durable job queue (``workspace.jobs``): syncs, pushes and webhooks as
jobs, scheduled pulls as a periodic task, and pushes fed from the event outbox.

* ``connector.sync``: one pull of a connection, keyed by the connection, so at most one is
  queued or running per connection whichever process asks ("Sync now", the schedule). The
  sync's own lease still guards against a sync run outside the queue (the command line);
  when it is held, the job is tried again shortly.
* ``connector.push``: the changes of one record to one connection, keyed by both, and run
  a moment after the change, so a burst of edits to a record is one push. A change landing
  while the push runs is caught afterwards (the job queues itself again).
* ``connector.webhooks``: the webhook rows a running sync made wait, taken as soon as the
  connection is free.
* ``connectors.pull`` (every minute): queues a sync of every connection whose pull is due.
* The outbox consumer: a record created, updated or merged whose changed fields a
  connection pushes queues a push to that connection, never to the one that made the change.

Each sync, push and webhook keeps its own run and payloads (:mod:`runs`): the jobs only say
when they run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import engine, lease, push, webhooks
from workspace.connectors.engine import SYNC
from workspace.connectors.webhooks import WAITING
from workspace.db import transaction
from workspace.errors import Conflict, NotFound
from workspace.jobs import queue
from workspace.jobs.kinds import Job, JobKind, PeriodicTask
from workspace.outbox import OutboxEvent
from workspace.principal import Principal
from workspace.records.ownership import connection_of
from workspace.runtime import Runtime
from workspace.schema import definitions

PUSH = "connector.push"
CN, MP, F = m.connections, m.connection_mappings, m.fields
#: How long a push waits after a change, so that edits in a row go out as one.
PUSH_DELAY = dt.timedelta(seconds=2)
EVENTS = ("record.created", "record.updated", "record.merged")


def _soon(attempt: int) -> dt.timedelta:
    """The connection was busy (another sync or push holds it): try again shortly."""
    return dt.timedelta(seconds=min(5 * 2 ** (attempt - 1), 300))


def run_sync(runtime: Runtime, job: Job) -> None:
    try:
        engine.run_sync(
            runtime, job.payload["connection"], trigger=job.payload.get("trigger", "job")
        )
    except lease.SyncBusy:
        raise  # tried again after _soon
    except (NotFound, Conflict):  # disconnected or stopped meanwhile: nothing to do
        return


def run_push(runtime: Runtime, job: Job) -> None:
    payload = job.payload
    started = utcnow()
    try:
        push.push_records(runtime, payload["connection"], payload["type"], payload["records"])
    except lease.SyncBusy:
        raise
    except (NotFound, Conflict):
        return
    changed = _changed_since(runtime, job, started)
    with transaction(runtime.control, write=True) as conn:
        queue.finish(conn, job)
        if changed:  # edited while it ran: its key was taken, so queue the rest now
            queue.enqueue(
                conn,
                PUSH,
                payload,
                workspace_id=job.workspace_id,
                key=job.key,
                run_at=utcnow() + PUSH_DELAY,
            )


def _changed_since(runtime: Runtime, job: Job, started: dt.datetime) -> bool:
    workspace_id = job.workspace_id or 0
    with transaction(runtime.control) as conn:
        version = conn.execute(
            select(m.record_types.c.schema_version).where(
                m.record_types.c.id == job.payload["type"]
            )
        ).scalar()
        if version is None:
            return False
        rt = definitions.cached_def(runtime, conn, job.payload["type"], version)
    table = rt.table
    with transaction(runtime.data_engine(workspace_id)) as data:
        latest = data.execute(
            select(func.max(table.c.updated_at)).where(table.c.id.in_(job.payload["records"]))
        ).scalar()
    return latest is not None and latest > started


def run_webhooks(runtime: Runtime, job: Job) -> None:
    try:
        webhooks.take_waiting(runtime, job.payload["connection"])
    except lease.SyncBusy:
        raise
    except (NotFound, Conflict):
        return


def pull_due(runtime: Runtime) -> None:
    """Queue a sync of every connection whose scheduled pull is due, and set its next one
    (the sync sets it again from when it ends)."""
    with transaction(runtime.control) as conn:
        due = conn.execute(
            select(CN.c.id, CN.c.workspace_id, CN.c.pull_every).where(CN.c.id.in_(engine.due(conn)))
        ).all()
    for row in due:
        with transaction(runtime.control, write=True) as conn:
            engine.queue_sync(conn, row.workspace_id, row.id, "schedule")
            following = utcnow() + dt.timedelta(minutes=row.pull_every)
            conn.execute(update(CN).where(CN.c.id == row.id).values(next_pull_at=following))


KINDS = (
    JobKind(SYNC, run_sync, max_attempts=20, backoff=_soon),
    JobKind(PUSH, run_push, max_attempts=20, backoff=_soon),
    JobKind(WAITING, run_webhooks, max_attempts=20, backoff=_soon),
)
TASK = PeriodicTask("connectors.pull", dt.timedelta(minutes=1), pull_due)


class Consumer:
    """``consumer(conn, event)``: record changes to pushes. Reads the pushed fields of the
    event's record type once per dispatch batch."""

    def __init__(self) -> None:
        self._batch: tuple[Connection | None, dict[int, list[tuple[int, frozenset[str]]]]] = (
            None,
            {},
        )

    def __call__(self, conn: Connection, event: OutboxEvent) -> None:
        if event.kind not in EVENTS or event.record_type_id is None or event.record_id is None:
            return
        changed = {str(c.get("field")) for c in event.changes}
        maker = connection_of_event(event)
        for connection_id, keys in self._pushing(conn, event.record_type_id):
            if connection_id == maker:
                continue
            if event.kind != "record.merged" and not changed & keys:
                continue
            queue.enqueue(
                conn,
                PUSH,
                {
                    "connection": connection_id,
                    "type": event.record_type_id,
                    "records": [event.record_id],
                },
                workspace_id=event.workspace_id,
                key=f"push:{connection_id}:{event.record_type_id}:{event.record_id}",
                run_at=utcnow() + PUSH_DELAY,
            )

    def _pushing(self, conn: Connection, record_type_id: int) -> list[tuple[int, frozenset[str]]]:
        """The live connections pushing fields of the type, with the keys of those fields."""
        if self._batch[0] is not conn:
            self._batch = (conn, {})
        known = self._batch[1]
        if record_type_id not in known:
            rows = conn.execute(
                select(MP.c.connection_id, MP.c.properties)
                .join(CN, CN.c.id == MP.c.connection_id)
                .where(
                    MP.c.record_type_id == record_type_id,
                    MP.c.state == "active",
                    CN.c.deleted_at.is_(None),
                    CN.c.state == "active",
                )
            ).all()
            keys = dict(
                conn.execute(
                    select(F.c.id, F.c.key).where(F.c.record_type_id == record_type_id)
                ).all()
            )
            found = []
            for row in rows:
                pushed = {
                    keys[int(p["field"])]
                    for p in row.properties
                    if p["direction"] in {"push", "both"} and int(p["field"]) in keys
                }
                if pushed:
                    found.append((row.connection_id, frozenset(pushed)))
            known[record_type_id] = found
        return known[record_type_id]


def connection_of_event(event: OutboxEvent) -> int | None:
    """The connection that made a change (its pulls need no push back to it)."""
    return connection_of(Principal(0, "", source=event.source, source_ref=event.source_ref))
