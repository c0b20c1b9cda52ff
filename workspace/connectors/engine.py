"""The sync engine: pull every mapped object of a connection, page by page.

``run_sync(runtime, connection_id)`` is a plain function: an admin's "Sync now", the
schedule (:func:`run_due`) and, once background jobs exist, a job call it. One sync per
connection at a time, across processes: the sync holds a lease on the connection row (like
storage migrations, :mod:`workspace.leases`), renewed by a heartbeat and checked again in the
transaction of every page it commits. A process that dies leaves a lease that runs out; the
next sync of the connection takes the unfinished run over and goes on from the cursor of the
last committed page, so no remote row is taken twice.

Errors end the run with the reason on the connection page: credentials rejected (401) stops
the connection until an admin saves working ones; rate limits are waited out and server
errors retried by :mod:`workspace.remote_http` before a sync gives up.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import connections, lease, mappings, runs, webhooks
from workspace.connectors.batches import Pulled, Sync, connector_access, write_page
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, WorkspaceError
from workspace.jobs import queue
from workspace.leases import LeaseLost
from workspace.principal import Access
from workspace.remote import Connector, CredentialsRejected, RemoteError
from workspace.remote_http import Api
from workspace.runtime import Runtime
from workspace.schema import definitions

log = logging.getLogger(__name__)

CN, RUNS = m.connections, m.sync_runs
SyncBusy = lease.SyncBusy


def run_sync(
    runtime: Runtime,
    connection_id: int,
    *,
    trigger: str = "manual",
    by: int | None = None,
    api: Api | None = None,
) -> dict[str, Any]:
    """Pull every active mapping of the connection (first fully, then what changed), then
    the webhooks that waited. Raises SyncBusy when another sync holds the connection."""
    token = uuid.uuid4().hex
    row = lease.claim(runtime, connection_id, token)
    run_id = _run_for(runtime, row, trigger, by)
    with lease.heartbeat(runtime, connection_id, token):
        state, error = _pull_all(runtime, row, run_id, token, api)
    return _end(runtime, row, run_id, token, state, error)


SYNC = "connector.sync"


def sync_key(connection_id: int) -> str:
    return f"sync:{connection_id}"


def queue_sync(conn: Connection, workspace_id: int, connection_id: int, trigger: str) -> bool:
    """Queue a sync of the connection as a background job, in the caller's transaction;
    False when one is queued or running already (the job's key is the connection)."""
    payload = {"connection": connection_id, "trigger": trigger}
    key = sync_key(connection_id)
    return queue.enqueue(conn, SYNC, payload, workspace_id=workspace_id, key=key) is not None


def start(runtime: Runtime, acc: Access, connection_id: int) -> dict[str, Any]:
    """An admin's "Sync now": queue a sync job (a worker runs it; its run shows its
    progress). 409 when one is queued or running."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        row = connections.load(conn, acc.workspace_id, connection_id)
        if row.state == "stopped":
            raise Conflict(f"this connection is stopped: {row.problem}; save working credentials")
        if not queue_sync(conn, acc.workspace_id, connection_id, "manual"):
            raise SyncBusy("a sync of this connection is queued or running already")
    return {"connection": connection_id, "queued": True}


def waiting(runtime: Runtime, connection_id: int) -> bool:
    """Whether a sync job of the connection is queued or running."""
    J = m.jobs
    with transaction(runtime.control) as conn:
        found = conn.execute(
            select(J.c.id).where(J.c.kind == SYNC, J.c.live_key == sync_key(connection_id))
        ).first()
    return found is not None


def _pull_all(
    runtime: Runtime, row: Any, run_id: int, token: str, api: Api | None
) -> tuple[str, str | None]:
    try:
        connector, api = (
            (runtime.connectors.get(row.kind), api) if api else connections.open_api(runtime, row)
        )
    except WorkspaceError as exc:
        return "failed", exc.message
    sync = Sync(
        runtime,
        connector_access(runtime, row),
        row.id,
        connector.label,
        run_id,
        lambda tx: lease.check(tx, row.id, token),
    )
    try:
        with transaction(runtime.control) as conn:
            todo = mappings.active(conn, row.id)
        for mapping in todo:
            _pull(sync, connector, api, mapping)
        webhooks.process_pending(sync, connector, api)
    except LeaseLost:
        return "lost", "another process took this sync over"
    except CredentialsRejected as exc:
        return "stopped", str(exc)
    except RemoteError as exc:
        return "failed", str(exc)
    except WorkspaceError as exc:
        return "failed", exc.message
    except Exception as exc:  # a bug or an outage: the run says so rather than look alive
        log.exception("sync of connection %s failed", row.id)
        return "failed", f"unexpected error: {type(exc).__name__}: {exc}"
    finally:
        api.client.close()
    return "done", None


def _pull(sync: Sync, connector: Connector, api: Api, mapping: mappings.MappingDef) -> None:
    acc = sync.acc
    rt = definitions.get_type(sync.runtime, acc, mapping.record_type_id)
    pages = rows = 0
    progress = {"object": mapping.remote_object, "full": mapping.cursor is None}
    for page in connector.pull(api, mapping.remote_object, mapping.cursor):
        pages, rows = pages + 1, rows + len(page.rows)
        done = {**progress, "pages": pages, "rows": rows, **api.waits.public()}
        # A changed definition is picked up by the records service inside the page's
        # transaction; the progress commits with the page.
        write_page(sync, mapping, rt, [Pulled(r) for r in page.rows], page.cursor, done)


def _run_for(runtime: Runtime, row: Any, trigger: str, by: int | None) -> int:
    """The connection's unfinished run (its process died: taken over), or a new one."""
    with transaction(runtime.control, write=True) as conn:
        left = conn.execute(
            select(RUNS.c.id).where(
                RUNS.c.connection_id == row.id,
                RUNS.c.kind == "pull",
                RUNS.c.state == "running",
            )
        ).scalar()
        if left is not None:
            return int(left)
        return runs.start(conn, row.workspace_id, row.id, kind="pull", trigger=trigger, by=by)


def _end(
    runtime: Runtime, row: Any, run_id: int, token: str, state: str, error: str | None
) -> dict[str, Any]:
    if state != "lost":
        runs.finish(runtime, run_id, state, error)
    values: dict[str, Any] = {"problem": error}
    if state == "stopped":
        values["state"] = "stopped"
    if row.pull_every:
        values["next_pull_at"] = utcnow() + dt.timedelta(minutes=row.pull_every)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(CN).where(CN.c.id == row.id, CN.c.lease_token == token).values(values))
    lease.release(runtime, row.id, token)
    return runs.summary(runtime, run_id)


def due(conn: Connection) -> list[int]:
    """Connections whose scheduled pull is due and that nobody is syncing."""
    now = utcnow()
    query = select(CN.c.id).where(
        CN.c.deleted_at.is_(None),
        CN.c.state == "active",
        CN.c.pull_every.is_not(None),
        CN.c.next_pull_at <= now,
        or_(CN.c.lease_token.is_(None), and_(CN.c.lease_until < now)),
    )
    return list(conn.execute(query.order_by(CN.c.next_pull_at)).scalars())


def run_due(runtime: Runtime) -> list[dict[str, Any]]:
    """Run every scheduled pull that is due (what a periodic task calls); a connection
    another process took meanwhile is left to it."""
    with transaction(runtime.control) as conn:
        ids = due(conn)
    done = []
    for connection_id in ids:
        try:
            done.append(run_sync(runtime, connection_id, trigger="schedule"))
        except (Conflict, NotFound):
            continue
    return done
