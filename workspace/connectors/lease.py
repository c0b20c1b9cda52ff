"""One sync per connection at a time, across processes: a lease on the connection row.

Whoever syncs a connection holds ``lease_token`` and renews ``lease_until`` (a heartbeat while
it waits on the tool, and every page's transaction, which also checks the lease is still its
own before it commits). A process that dies leaves a lease that runs out; the next sync takes
over. See :mod:`workspace.leases` for the same idea on storage migrations.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import or_, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import Tx, transaction
from workspace.errors import Conflict, NotFound
from workspace.leases import LeaseLost
from workspace.runtime import Runtime

log = logging.getLogger(__name__)

CN = m.connections
LEASE = dt.timedelta(seconds=8)
HEARTBEAT = 2.0


class SyncBusy(Conflict):
    """Another process is syncing this connection now."""

    code = "sync_running"


def claim(runtime: Runtime, connection_id: int, token: str) -> Any:
    now = utcnow()
    free = or_(CN.c.lease_token.is_(None), CN.c.lease_until < now)
    with transaction(runtime.control, write=True) as conn:
        taken = conn.execute(
            update(CN)
            .where(CN.c.id == connection_id, CN.c.deleted_at.is_(None), free)
            .values(lease_token=token, lease_until=now + LEASE)
        ).rowcount
        row = conn.execute(select(CN).where(CN.c.id == connection_id)).first()
    if row is None or row.deleted_at is not None:
        raise NotFound("connection not found")
    if taken != 1:
        raise SyncBusy("a sync of this connection is running; it shows on the connection page")
    if row.state == "stopped":
        release(runtime, connection_id, token)
        raise Conflict(f"this connection is stopped: {row.problem}; save working credentials")
    return row


def check(tx: Tx, connection_id: int, token: str) -> None:
    """In a page's transaction: still ours (else the page rolls back, and the sync ends)."""
    held = tx.control.execute(
        update(CN)
        .where(CN.c.id == connection_id, CN.c.lease_token == token)
        .values(lease_until=utcnow() + LEASE)
    ).rowcount
    if held != 1:
        raise LeaseLost()


@contextmanager
def heartbeat(runtime: Runtime, connection_id: int, token: str) -> Iterator[None]:
    """Renew the lease while the sync waits on the tool (a rate limit, a slow answer)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            try:
                with transaction(runtime.control, write=True) as conn:
                    conn.execute(
                        update(CN)
                        .where(CN.c.id == connection_id, CN.c.lease_token == token)
                        .values(lease_until=utcnow() + LEASE)
                    )
            except Exception:  # the next page's own check decides
                log.warning("could not renew the lease of connection %s", connection_id)

    thread = threading.Thread(target=beat, name=f"sync-{connection_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def release(runtime: Runtime, connection_id: int, token: str) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(CN)
            .where(CN.c.id == connection_id, CN.c.lease_token == token)
            .values(lease_token=None, lease_until=None)
        )
