"""The gate every write to a workspace's record data passes, and the freezes a move needs
.

A move copies the records while the workspace keeps working, then freezes record writes for
the few seconds it takes to make the copy equal and switch. Every write takes a shared lock
on its workspace's row in the control transaction of its unit of work
(:func:`record_writes`); the mover sets ``data_frozen`` under the exclusive lock
(:func:`freeze`), so it waits for writes in flight, and writes arriving later see the flag
and answer 503 with Retry-After instead of writing to a database about to be left behind.
Retry-After counts down to the end the mover expects (``data_frozen_until``, at least one
second, the header's unit), so a client that obeys it waits about as long as the freeze.
On SQLite the control database's write transactions take turns anyway.

The same lock carries ``data_epoch``, bumped at every switch: a process whose cached route
(:class:`workspace.data_engines.DataEngines`) was read at another epoch reads it again before
writing, so no write lands on the old copy, even seconds after the switch.

Schema changes are refused (409 naming the move) from the start of a move until it ends,
checked under the same lock in the transaction that claims the change
(:func:`refuse_schema_change`); starting a move takes the lock exclusively.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import Tx, connected, joined, transaction
from workspace.errors import Conflict, DataMoving, NotFound
from workspace.runtime import Runtime

W, MOVES, RT = m.workspaces, m.data_moves, m.record_types
#: States of a move that is not over yet: one at a time, and no schema change meanwhile.
UNFINISHED = ("copying", "switching", "failed")


def lock_workspace(conn: Connection, workspace_id: int, *, exclusive: bool) -> Any:
    """Lock the workspace's row (shared or exclusive) and return its gate: ``data_frozen``
    and ``data_epoch``. Writers of a workspace's data or blobs share it; whoever must wait for
    them all takes it exclusively."""
    query = select(W.c.id, W.c.data_frozen, W.c.data_frozen_until, W.c.data_epoch).where(
        W.c.id == workspace_id
    )
    found = conn.execute(query.with_for_update(read=not exclusive)).first()
    if found is None:
        raise NotFound("workspace not found")
    return found


@contextmanager
def record_writes(runtime: Runtime, workspace_id: int) -> Iterator[Tx]:
    """A write unit of work on the workspace's record data (control transaction first, the
    data database's inside), through the gate: 503 while frozen, and the data database as of
    the epoch seen under the lock."""
    routed = runtime.data_engines.engine_for(runtime.control, workspace_id)
    # A customer's database is connected to before the control transaction takes its
    # connection and the workspace's lock: one that does not answer holds neither.
    with connected(routed) as early, transaction(runtime.control, write=True) as control:
        gate = lock_workspace(control, workspace_id, exclusive=False)
        if gate.data_frozen:
            raise DataMoving(retry_after=seconds_left(gate.data_frozen_until, utcnow()))
        own = runtime.data_engines.engine_for(runtime.control, workspace_id, gate.data_epoch)
        ready = early if own is routed else None
        data = own or runtime.control
        with joined(control, runtime.control, data, write=True, connection=ready) as tx:
            yield tx


def freeze(conn: Connection, workspace_id: int, expected: dt.timedelta | None = None) -> None:
    """Inside the caller's transaction: stop record writes for about ``expected`` (unknown:
    the shortest wait is asked for). Taking the lock exclusively waits for the writes in
    flight (they hold it shared)."""
    lock_workspace(conn, workspace_id, exclusive=True)
    until = None if expected is None else utcnow() + expected
    values = {"data_frozen": True, "data_frozen_until": until}
    conn.execute(update(W).where(W.c.id == workspace_id).values(values))


def unfreeze(conn: Connection, workspace_id: int) -> None:
    """Inside the caller's transaction: let record writes in again."""
    values = {"data_frozen": False, "data_frozen_until": None}
    conn.execute(update(W).where(W.c.id == workspace_id).values(values))


def seconds_left(until: dt.datetime | None, now: dt.datetime) -> int:
    """Whole seconds to wait for a freeze expected to end at ``until``: at least 1 (a
    freeze that outlasts its estimate asks for the shortest wait, again and again)."""
    if until is None:
        return 1
    return max(1, math.ceil((until - now).total_seconds()))


def bump_epoch(conn: Connection, workspace_id: int) -> None:
    """Inside the transaction that switches the workspace's data database: every process
    reads its route afresh before its next write."""
    conn.execute(update(W).where(W.c.id == workspace_id).values(data_epoch=W.c.data_epoch + 1))


def unfinished_move(conn: Connection, workspace_id: int) -> Any:
    """The workspace's move that is not over yet (copying, switching or failed), or None."""
    query = select(MOVES.c.id, MOVES.c.state).where(
        MOVES.c.workspace_id == workspace_id, MOVES.c.state.in_(UNFINISHED)
    )
    return conn.execute(query.order_by(MOVES.c.id.desc())).first()


def refuse_schema_change(conn: Connection, workspace_id: int) -> None:
    """Inside the transaction that changes a definition: 409 while a move of the workspace
    is unfinished. The shared lock serialises this with the start of a move."""
    lock_workspace(conn, workspace_id, exclusive=False)
    move = unfinished_move(conn, workspace_id)
    if move is not None:
        raise Conflict(
            f"the workspace's records are being moved to another database (move {move.id}, "
            f"{move.state}); record types, fields and dedupe rules cannot be changed until "
            "the move is done or cancelled",
            details={"move": move.id},
        )


def refuse_type_change(conn: Connection, record_type_id: int) -> None:
    """:func:`refuse_schema_change` for the workspace of a record type."""
    found = conn.execute(select(RT.c.workspace_id).where(RT.c.id == record_type_id)).scalar()
    if found is not None:
        refuse_schema_change(conn, int(found))
