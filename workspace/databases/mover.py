"""The mover of a data move: copy, freeze, make equal, verify and switch, under a lease
(started, retried and cancelled by :mod:`workspace.databases.moves`).

It copies every record, link and dedupe keys table in keyset batches
(:mod:`workspace.databases.copies`) while writes go on, then walks every table once more
on both sides, copying again a range whose checksum differs and comparing it again
(``data_verify.verify`` with repair); freezes record writes
(:mod:`workspace.databases.gate`) and copies again only the rows of records written
since that walk began, compares them and every table's row count (``data_verify.settle``),
so the freeze lasts as long as the latest writes take to copy; then switches in one control
transaction: the target becomes active, the source the read-only old copy, the workspace's
data epoch is bumped and writes are let in again. A difference that remains fails the move,
naming the table and key range, and switches nothing.

The mover holds a lease on the move row and renews it after every batch and range; a
process that dies leaves a lease that runs out, and whoever claims it next carries on from
the per-table progress (a move killed while frozen stays frozen until then, and is walked
in full again). A mover whose lease was taken over, or whose move was cancelled, stops
without writing anything more.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from workspace import leases
from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import connections, move_status, read_only, sql_views
from workspace.databases import copies as data_copy
from workspace.databases import gate as data_gate
from workspace.databases import verify as data_verify
from workspace.db import transaction
from workspace.errors import WorkspaceError
from workspace.leases import Claim, LeaseLost
from workspace.principal import Principal
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.tables import RecordTypeDef

MOVES, TABLES, D, RT = m.data_moves, m.data_move_tables, m.data_databases, m.record_types
#: A mover renews its lease after every batch; a lease older than LEASE means it died.
LEASE = dt.timedelta(seconds=15)
#: How far the clocks of server processes (which stamp ``updated_at``) may be apart: the
#: frozen step copies again the records written since the last walk began, less this.
CLOCK_SKEW = dt.timedelta(seconds=30)
#: States a mover works in.
RUNNING = ("copying", "switching")


class MoveStopped(Exception):
    """The move cannot finish (the copy differs from the source after copying it again);
    the message names the table and the key range."""


# ---- the move's databases and tables ------------------------------------------------


def table_names(conn: Connection, move_id: int) -> list[str]:
    """The tables a move copies (or copied): its source's, and the target's copies of them."""
    query = select(TABLES.c.table_name).where(TABLES.c.move_id == move_id)
    return list(conn.execute(query).scalars())


def engine_of(runtime: Runtime, data_database_id: int | None) -> Engine:
    """The engine of a data database by row id (None: the managed one)."""
    if data_database_id is None:
        return runtime.control
    with transaction(runtime.control) as conn:
        row = conn.execute(select(D).where(D.c.id == data_database_id)).one()
    return runtime.data_engines.engine_of(row)


def retire_old(conn: Connection, move: Any) -> None:
    """The move's old copy is gone (retired, or replaced by a move onto its database)."""
    now = utcnow()
    conn.execute(update(MOVES).where(MOVES.c.id == move.id).values(old_copy="retired"))
    if move.source_id is not None:
        conn.execute(
            update(D).where(D.c.id == move.source_id).values(role="retired", updated_at=now)
        )


def note(conn: Connection, move: Any, principal: Principal | None, what: str) -> None:
    """A workspace activity entry (action "database") for a step of a move: from where to
    where, and what happened; ``principal`` None is the mover itself."""
    source, target = (move_status.where(conn, i) for i in (move.source_id, move.target_id))
    new = f"{target} (move {move.id} {what})"
    connections.log(conn, move.workspace_id, principal, source, new)


# ---- running ---------------------------------------------------------------------------


def spawn(runtime: Runtime, claim: Claim) -> None:
    """Run the move in a daemon thread: if the process ends, the lease runs out and the
    next start resumes it."""
    name = f"data-move-{claim.id}"
    threading.Thread(target=run, args=(runtime, claim), name=name, daemon=True).start()


def run(runtime: Runtime, claim: Claim, *, batch_size: int = data_copy.DEFAULT_BATCH) -> str:
    """Copy, freeze, make equal, verify and switch; return the final state (done, failed,
    or lost when the move was cancelled or taken over meanwhile)."""
    return leases.outcome(
        f"data move {claim.id}",
        lambda: _run(runtime, claim, batch_size),
        lambda reason: _fail(runtime, claim, reason),
        _stop_reason,
    )


def _stop_reason(exc: Exception) -> str | None:
    if isinstance(exc, WorkspaceError):
        return exc.message
    return str(exc) if isinstance(exc, MoveStopped) else None


def _run(runtime: Runtime, claim: Claim, batch_size: int) -> None:
    move = _renew(runtime, claim)
    ws = move.workspace_id
    source, target = engine_of(runtime, move.source_id), engine_of(runtime, move.target_id)
    types = _types(runtime, ws)
    control = runtime.control

    def beat(*_: Any) -> None:
        _renew(runtime, claim)

    if move.state == "copying":
        _clear_old_copy_on(runtime, move)
        data_copy.prepare_target(target, types)
        data_copy.copy_tables(
            control, move.id, source, target, types, batch_size=batch_size, progress=beat
        )
        # Catch up with the writes made during the copy while they still may go on, and
        # compare every range once more, so the frozen step below reads only what was
        # written since this walk began.
        since = _barrier(control, ws)
        began = time.monotonic()
        walked = data_verify.walk(source, target, types, batch_size=batch_size, beat=beat)
        walk = dt.timedelta(seconds=time.monotonic() - began)
        expected = data_verify.expected_freeze(source, types, since, walk)
        with transaction(control, write=True) as conn:
            data_gate.freeze(conn, ws, expected)
            _extend(conn, claim, state="switching")
        bad = data_verify.settle(control, move.id, source, target, types, since, walked, beat=beat)
    else:
        # Resumed while frozen: when the walk before the freeze began is not known, so the
        # whole copy is walked again (and repaired) on both sides.
        bad = data_verify.verify(
            control, move.id, source, target, types, batch_size=batch_size, beat=beat, repair=True
        )
    if bad:
        raise MoveStopped(
            "the copy differs from the source after copying it again: "
            + "; ".join(str(b.mismatch) for b in bad)
            + ". Nothing was switched; the records stay where they were."
        )
    # Writes are frozen: the source takes none from this server any more, and from now on
    # none from anyone else either (a move that fails or is cancelled drops the triggers).
    guard = _lock_old_copy(runtime, claim.id, source)
    _switch(runtime, claim, guard)
    runtime.data_engines.forget(ws)
    for rt in types:
        sql_views.refresh_quietly(runtime, ws, rt.id)


def _barrier(control: Engine, workspace_id: int) -> dt.datetime:
    """The time from which a write counts as "written since" the walk that follows: taking
    the workspace's gate exclusively for a moment waits for the writes in flight (they hold
    it shared), so each write either committed before the walk reads it, or took the gate,
    and stamped its ``updated_at``, after this time."""
    since = utcnow() - CLOCK_SKEW
    with transaction(control, write=True) as conn:
        data_gate.lock_workspace(conn, workspace_id, exclusive=True)
    return since


def _types(runtime: Runtime, workspace_id: int) -> list[RecordTypeDef]:
    with transaction(runtime.control) as conn:
        ids = conn.execute(
            select(RT.c.id).where(RT.c.workspace_id == workspace_id).order_by(RT.c.id)
        ).scalars()
        return [definitions.build_def(conn, i, runtime) for i in list(ids)]


def _clear_old_copy_on(runtime: Runtime, move: Any) -> None:
    """Before the first batch: an old copy of this workspace on the target (moving back) is
    stale; its tables are dropped so the copy starts from tables made afresh."""
    with transaction(runtime.control) as conn:
        if table_names(conn, move.id):
            return  # resumed: the tables there are this move's own
        earlier = conn.execute(
            select(MOVES).where(
                MOVES.c.workspace_id == move.workspace_id,
                MOVES.c.old_copy == "kept",
                MOVES.c.id != move.id,
            )
        ).all()
        stale = [e for e in earlier if same_place(conn, e.source_id, move.target_id)]
        names = {e.id: table_names(conn, e.id) for e in stale}
    for e in stale:
        data_copy.drop_tables(engine_of(runtime, e.source_id), names[e.id])
        with transaction(runtime.control, write=True) as conn:
            retire_old(conn, e)


def same_place(conn: Connection, a: int | None, b: int | None) -> bool:
    """Whether two data databases (None: the managed one) are the same database."""
    if a is None or b is None:
        return a is None and b is None
    rows = conn.execute(select(D.c.host, D.c.port, D.c.database_name).where(D.c.id.in_((a, b))))
    return len({tuple(row) for row in rows}) == 1


def _renew(runtime: Runtime, claim: Claim) -> Any:
    """Extend the lease and return the move row."""
    with transaction(runtime.control, write=True) as conn:
        _extend(conn, claim)
        return conn.execute(select(MOVES).where(MOVES.c.id == claim.id)).one()


def _extend(conn: Connection, claim: Claim, **values: Any) -> None:
    """Extend the lease (and write ``values``); LeaseLost if the move is no longer ours."""
    done = conn.execute(
        update(MOVES)
        .where(
            MOVES.c.id == claim.id,
            MOVES.c.lease_token == claim.token,
            MOVES.c.state.in_(RUNNING),
        )
        .values(lease_until=utcnow() + LEASE, **values)
    )
    if done.rowcount != 1:
        raise LeaseLost(claim.id)


def _switch(runtime: Runtime, claim: Claim, guard: str) -> None:
    """The target becomes the workspace's data database in one control transaction."""
    with transaction(runtime.control, write=True) as conn:
        row = conn.execute(select(MOVES).where(MOVES.c.id == claim.id)).one()
        data_gate.lock_workspace(conn, row.workspace_id, exclusive=True)
        _extend(conn, claim)
        now = utcnow()
        if row.source_id is not None:
            conn.execute(
                update(D).where(D.c.id == row.source_id).values(role="old", updated_at=now)
            )
        if row.target_id is not None:
            conn.execute(
                update(D).where(D.c.id == row.target_id).values(role="active", updated_at=now)
            )
        data_gate.unfreeze(conn, row.workspace_id)
        data_gate.bump_epoch(conn, row.workspace_id)
        conn.execute(
            update(MOVES)
            .where(MOVES.c.id == row.id)
            .values(
                state="done",
                old_copy="kept",
                old_copy_guard=guard,
                finished_at=now,
                lease_token=None,
                lease_until=None,
            )
        )
        rows = move_status.public(conn, row)["total_rows"]
        kept = "read-only by triggers" if guard == read_only.ENFORCED else guard
        note(conn, row, None, f"switched: {rows} rows copied and verified; old copy kept, {kept}")


def _lock_old_copy(runtime: Runtime, move_id: int, source: Engine) -> str:
    """Make the source, about to become the old copy, refuse changes in its own database too
    (:mod:`workspace.databases.read_only`); returns how the old copy is kept read-only."""
    with transaction(runtime.control) as conn:
        move = conn.execute(select(MOVES).where(MOVES.c.id == move_id)).one()
        names = table_names(conn, move_id)
        live = move_status.where(conn, move.target_id)
    message = (
        f"read-only old copy: since {utcnow():%Y-%m-%d %H:%M} UTC the live records are in "
        f"{live} (move {move_id})"
    )
    return read_only.refuse_writes(source, names, message)


def unlock_source(runtime: Runtime, move: Any) -> None:
    """A move that did not switch: its source stays live, so it takes changes again."""
    with transaction(runtime.control) as conn:
        names = table_names(conn, move.id)
    read_only.allow_writes(engine_of(runtime, move.source_id), names)


def _fail(runtime: Runtime, claim: Claim, reason: str) -> None:
    """Stop the move as failed and let writes in again where the records are."""
    with transaction(runtime.control, write=True) as conn:
        row = conn.execute(select(MOVES).where(MOVES.c.id == claim.id)).one()
        data_gate.lock_workspace(conn, row.workspace_id, exclusive=True)
        done = conn.execute(
            update(MOVES)
            .where(MOVES.c.id == claim.id, MOVES.c.lease_token == claim.token)
            .values(
                state="failed",
                error=reason[:2000],
                finished_at=utcnow(),
                lease_token=None,
                lease_until=None,
            )
        )
        if done.rowcount:
            data_gate.unfreeze(conn, row.workspace_id)
            note(conn, row, None, f"failed, nothing switched: {reason}")
    if done.rowcount:
        unlock_source(runtime, row)


def claim_orphans(runtime: Runtime) -> list[Claim]:
    """Take over every running move whose mover's lease ran out."""
    return leases.claim_orphans(runtime.control, MOVES, MOVES.c.state.in_(RUNNING), LEASE)
