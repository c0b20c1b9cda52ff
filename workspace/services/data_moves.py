"""Moving a workspace's record data to another database and back (issue #6): copy while the
workspace keeps working, freeze for a moment, make the copy equal, verify, switch.

:func:`start` tests the target (a customer's MySQL, stored as a ``data_databases`` row in
role ``target``; or the managed database), records the move and runs it in a background
thread holding a lease on the move row (renewed after every batch, as storage migrations
do: :mod:`workspace.services.storage_copier`). The run:

1. copies every record, link and dedupe keys table in keyset batches
   (:mod:`workspace.services.data_copy`) while writes go on, then once more the ranges
   those writes changed;
2. freezes record writes (:mod:`workspace.services.data_gate`: 503 with Retry-After) and
   schema changes (409 for the whole move), copies again every range whose checksum differs,
   and verifies every table (row counts and per-range SHA-256);
3. switches in one control transaction: the target becomes active, the source becomes the
   read-only *old copy*, the workspace's data epoch is bumped (every process re-reads its
   route before its next write) and writes are let in again.

A difference verification still finds fails the move, naming the table and key range; the
source stays active and nothing is switched. A failed move is retried (it goes on from where
it stopped) or cancelled (the copied tables on the target are dropped). A process killed
half way leaves a lease that runs out; the next server start or ``workspace data move
--resume`` carries on (a move killed while frozen stays frozen until then).

The old copy is never written again; retiring it drops its tables. Moving back onto the
database that holds it drops those stale tables first and copies afresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, ValidationFailed, WorkspaceError
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.services import (
    data_copy,
    data_databases,
    data_gate,
    data_move_status,
    data_verify,
    data_views,
    definitions,
)
from workspace.services.principal import Access

log = logging.getLogger(__name__)

MOVES, TABLES, D, RT = m.data_moves, m.data_move_tables, m.data_databases, m.record_types
#: A mover renews its lease after every batch; a lease older than LEASE means it died.
LEASE = dt.timedelta(seconds=15)
#: States a mover works in.
RUNNING = ("copying", "switching")


class MoveStopped(Exception):
    """The move cannot finish (the copy differs from the source after copying it again);
    the message names the table and the key range."""


class LeaseLost(Exception):
    """The move was cancelled or taken over by another process: this one stops."""


@dataclass(frozen=True)
class Claim:
    """The right to work on a move: its id and the lease token this process holds."""

    move_id: int
    token: str


# ---- starting, looking, retrying, cancelling -------------------------------------------


def start(runtime: Runtime, acc: Access, target: Any) -> dict[str, Any]:
    """Move the workspace's records to ``target``: ``"managed"`` or the settings of a MySQL
    database (host, port, database, user, password, tls, ca_cert), tested first. Returns
    the move's status; the copy goes on in the background."""
    claim = begin(runtime, acc, target)
    spawn(runtime, claim)
    return status(runtime, acc, claim.move_id)


def begin(runtime: Runtime, acc: Access, target: Any) -> Claim:
    """Test the target, store it and record the move (one per workspace at a time)."""
    acc.require("admin")
    spec = None
    if isinstance(target, Mapping):
        spec = data_databases.checked(runtime, acc, target, before=_refuse_if_busy)
    elif target != "managed":
        raise ValidationFailed.single(
            "target", 'must be "managed" or the settings of a MySQL database'
        )
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        _refuse_if_busy(conn, acc.workspace_id)
        _refuse_adopted(conn, acc.workspace_id)
        source = data_databases.active_row(conn, acc.workspace_id)
        if spec is None and source is None:
            raise Conflict("the workspace's records are in the managed database already")
        here = (source.host, source.port, source.database_name) if source is not None else None
        if spec is not None and here == (spec.host, spec.port, spec.database):
            raise Conflict(
                f"the workspace's records are in {data_move_status.where(conn, source.id)} already"
            )
        target_id = None
        if spec is not None:
            target_id = data_databases.add_row(runtime, conn, acc, spec, "target")
        move_id = data_copy.start(
            conn,
            acc.workspace_id,
            source_id=source.id if source is not None else None,
            target_id=target_id,
            started_by=acc.user_id,
            lease_token=token,
            lease_until=utcnow() + LEASE,
        )
    return Claim(move_id, token)


def status(runtime: Runtime, acc: Access, move_id: int) -> dict[str, Any]:
    """A move of the workspace: state, where from and to, progress per table, error."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        return data_move_status.public(conn, _move(conn, acc.workspace_id, move_id))


def retry(runtime: Runtime, acc: Access, move_id: int) -> dict[str, Any]:
    """Carry on with a failed move (after its cause was fixed): tables found different are
    copied again from the start, the others go on from where they stopped."""
    acc.require("admin")
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        data_gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = _move(conn, acc.workspace_id, move_id)
        if row.state != "failed":
            raise Conflict(f"only a failed move can be retried; this one is {row.state}")
        data_copy.retry(conn, move_id)
        conn.execute(
            update(MOVES)
            .where(MOVES.c.id == move_id)
            .values(lease_token=token, lease_until=utcnow() + LEASE)
        )
    spawn(runtime, Claim(move_id, token))
    return status(runtime, acc, move_id)


def cancel(runtime: Runtime, acc: Access, move_id: int) -> dict[str, Any]:
    """Give up an unfinished move: writes go on where the records are, and the tables
    copied to the target are dropped (the target never held live data)."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        data_gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = _move(conn, acc.workspace_id, move_id)
        if row.state not in data_gate.UNFINISHED:
            raise Conflict(f"only an unfinished move can be cancelled; this one is {row.state}")
        now = utcnow()
        conn.execute(
            update(MOVES)
            .where(MOVES.c.id == move_id)
            .values(state="cancelled", finished_at=now, lease_token=None, lease_until=None)
        )
        data_gate.unfreeze(conn, acc.workspace_id)
        if row.target_id is not None:
            conn.execute(
                update(D).where(D.c.id == row.target_id).values(role="retired", updated_at=now)
            )
        names = _table_names(conn, move_id)
    data_copy.drop_tables(_engine(runtime, row.target_id), names)
    return status(runtime, acc, move_id)


def retire_old_copy(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """Drop the tables of the old copy the last move left (only this workspace's) and stop
    listing it. Returns the data database overview."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        move = data_move_status.old_copy_move(conn, acc.workspace_id)
        if move is None:
            raise NotFound("there is no old copy of this workspace's records to retire")
        _refuse_if_busy(conn, acc.workspace_id)
        names = _table_names(conn, move.id)
        active = data_databases.active_row(conn, acc.workspace_id)
        if _same_place(conn, move.source_id, active.id if active is not None else None):
            # The records live there again (switched back without a move, which takes an
            # empty workspace): whatever tables it has are live ones, never dropped here.
            names = []
    data_copy.drop_tables(_engine(runtime, move.source_id), names)
    with transaction(runtime.control, write=True) as conn:
        where = data_move_status.where(conn, move.source_id)
        _retire_old(conn, move)
        data_databases.log(
            conn, acc.workspace_id, acc.principal, f"old copy in {where}", "retired (dropped)"
        )
    return data_databases.overview(runtime, acc)


def _refuse_if_busy(conn: Connection, workspace_id: int) -> None:
    """Under the workspace's lock: no second move, and none while a schema change of the
    workspace is under way (its tables would be copied half changed)."""
    data_gate.lock_workspace(conn, workspace_id, exclusive=True)
    move = data_gate.unfinished_move(conn, workspace_id)
    if move is not None:
        raise Conflict(
            f"move {move.id} of this workspace's records is {move.state}: "
            + ("retry or cancel it first" if move.state == "failed" else "wait until it is done")
        )
    changing = conn.execute(
        # A claimed change holds a lease (pending_change is JSON: its "none" is JSON null).
        select(RT.c.name).where(RT.c.workspace_id == workspace_id, RT.c.lease_until.is_not(None))
    ).first()
    if changing is not None:
        raise Conflict(f"record type {changing.name!r} is being changed; retry when it is done")
    types = select(RT.c.name, RT.c.source).where(RT.c.workspace_id == workspace_id)
    adopted = next((r.name for r in conn.execute(types) if r.source), None)
    if adopted is not None:
        raise Conflict(
            f"record type {adopted!r} is a table adopted in this workspace's database, which "
            "stays there: delete that record type (its table and rows are kept) to move"
        )


def _refuse_adopted(conn: Connection, workspace_id: int) -> None:
    """An adopted table is the customer's own and other systems use it where it is: it is
    never copied elsewhere (nor are the record types beside it, whose relations need it)."""
    rows = conn.execute(select(RT.c.name, RT.c.source).where(RT.c.workspace_id == workspace_id))
    adopted = [row.name for row in rows if row.source is not None]
    if adopted:
        raise Conflict(
            f"record type {adopted[0]!r} is a table adopted from your database; a workspace "
            "with adopted tables stays on that database"
        )


def _move(conn: Connection, workspace_id: int, move_id: int) -> Any:
    row = conn.execute(
        select(MOVES).where(MOVES.c.id == move_id, MOVES.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound("move not found")
    return row


def _table_names(conn: Connection, move_id: int) -> list[str]:
    query = select(TABLES.c.table_name).where(TABLES.c.move_id == move_id)
    return list(conn.execute(query).scalars())


def _engine(runtime: Runtime, data_database_id: int | None) -> Engine:
    """The engine of a data database by row id (None: the managed one)."""
    if data_database_id is None:
        return runtime.control
    with transaction(runtime.control) as conn:
        row = conn.execute(select(D).where(D.c.id == data_database_id)).one()
    return runtime.data_engines.engine_of(row)


def _retire_old(conn: Connection, move: Any) -> None:
    now = utcnow()
    conn.execute(update(MOVES).where(MOVES.c.id == move.id).values(old_copy="retired"))
    if move.source_id is not None:
        conn.execute(
            update(D).where(D.c.id == move.source_id).values(role="retired", updated_at=now)
        )


# ---- running ---------------------------------------------------------------------------


def spawn(runtime: Runtime, claim: Claim) -> None:
    """Run the move in a daemon thread: if the process ends, the lease runs out and the
    next start resumes it."""
    name = f"data-move-{claim.move_id}"
    threading.Thread(target=run, args=(runtime, claim), name=name, daemon=True).start()


def run(runtime: Runtime, claim: Claim, *, batch_size: int = data_copy.DEFAULT_BATCH) -> str:
    """Copy, freeze, make equal, verify and switch; return the final state (done, failed,
    or lost when the move was cancelled or taken over meanwhile)."""
    try:
        _run(runtime, claim, batch_size)
    except LeaseLost:
        return "lost"
    except (MoveStopped, WorkspaceError) as exc:
        reason = exc.message if isinstance(exc, WorkspaceError) else str(exc)
        log.warning("data move %s failed: %s", claim.move_id, reason)
        _fail(runtime, claim, reason)
        return "failed"
    except Exception as exc:
        # A bug or a database outage: stop with the reason on the page rather than leave a
        # move that looks alive (and a workspace frozen); the admin can retry.
        log.exception("data move %s failed", claim.move_id)
        _fail(runtime, claim, f"unexpected error: {type(exc).__name__}: {exc}")
        return "failed"
    return "done"


def _run(runtime: Runtime, claim: Claim, batch_size: int) -> None:
    move = _renew(runtime, claim)
    ws = move.workspace_id
    source, target = _engine(runtime, move.source_id), _engine(runtime, move.target_id)
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
        # Catch up with the writes made during the copy while they still may go on, so the
        # frozen pass below has little left to do.
        data_copy.sync(source, target, types, batch_size=batch_size, beat=beat)
        with transaction(control, write=True) as conn:
            data_gate.freeze(conn, ws)
            _extend(conn, claim, state="switching")
    data_copy.sync(source, target, types, batch_size=batch_size, beat=beat)
    bad = data_verify.verify(
        control, move.id, source, target, types, batch_size=batch_size, beat=beat
    )
    if bad:
        raise MoveStopped(
            "the copy differs from the source after copying it again: "
            + "; ".join(str(b.mismatch) for b in bad)
            + ". Nothing was switched; the records stay where they were."
        )
    _switch(runtime, claim)
    runtime.data_engines.forget(ws)
    for rt in types:
        data_views.refresh_quietly(runtime, ws, rt.id)


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
        if _table_names(conn, move.id):
            return  # resumed: the tables there are this move's own
        earlier = conn.execute(
            select(MOVES).where(
                MOVES.c.workspace_id == move.workspace_id,
                MOVES.c.old_copy == "kept",
                MOVES.c.id != move.id,
            )
        ).all()
        stale = [e for e in earlier if _same_place(conn, e.source_id, move.target_id)]
        names = {e.id: _table_names(conn, e.id) for e in stale}
    for e in stale:
        data_copy.drop_tables(_engine(runtime, e.source_id), names[e.id])
        with transaction(runtime.control, write=True) as conn:
            _retire_old(conn, e)


def _same_place(conn: Connection, a: int | None, b: int | None) -> bool:
    """Whether two data databases (None: the managed one) are the same database."""
    if a is None or b is None:
        return a is None and b is None
    rows = conn.execute(select(D.c.host, D.c.port, D.c.database_name).where(D.c.id.in_((a, b))))
    return len({tuple(row) for row in rows}) == 1


def _renew(runtime: Runtime, claim: Claim) -> Any:
    """Extend the lease and return the move row."""
    with transaction(runtime.control, write=True) as conn:
        _extend(conn, claim)
        return conn.execute(select(MOVES).where(MOVES.c.id == claim.move_id)).one()


def _extend(conn: Connection, claim: Claim, **values: Any) -> None:
    """Extend the lease (and write ``values``); LeaseLost if the move is no longer ours."""
    done = conn.execute(
        update(MOVES)
        .where(
            MOVES.c.id == claim.move_id,
            MOVES.c.lease_token == claim.token,
            MOVES.c.state.in_(RUNNING),
        )
        .values(lease_until=utcnow() + LEASE, **values)
    )
    if done.rowcount != 1:
        raise LeaseLost(claim.move_id)


def _switch(runtime: Runtime, claim: Claim) -> None:
    """The target becomes the workspace's data database in one control transaction."""
    with transaction(runtime.control, write=True) as conn:
        row = conn.execute(select(MOVES).where(MOVES.c.id == claim.move_id)).one()
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
                state="done", old_copy="kept", finished_at=now, lease_token=None, lease_until=None
            )
        )
        moved = data_move_status.public(conn, row)
        old, new = moved["source"], moved["target"]
        copied = f"{new} ({moved['total_rows']} rows copied and verified; old copy kept)"
        data_databases.log(conn, row.workspace_id, None, old, copied)


def _fail(runtime: Runtime, claim: Claim, reason: str) -> None:
    """Stop the move as failed and let writes in again where the records are."""
    with transaction(runtime.control, write=True) as conn:
        row = conn.execute(select(MOVES).where(MOVES.c.id == claim.move_id)).one()
        data_gate.lock_workspace(conn, row.workspace_id, exclusive=True)
        done = conn.execute(
            update(MOVES)
            .where(MOVES.c.id == claim.move_id, MOVES.c.lease_token == claim.token)
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


# ---- resuming --------------------------------------------------------------------------


def claim_orphans(runtime: Runtime) -> list[Claim]:
    """Take over every running move whose mover's lease ran out."""
    expired = and_(
        MOVES.c.state.in_(RUNNING),
        or_(MOVES.c.lease_until.is_(None), MOVES.c.lease_until < utcnow()),
    )
    with transaction(runtime.control) as conn:
        ids = list(conn.execute(select(MOVES.c.id).where(expired)).scalars())
    claims = []
    for move_id in ids:
        token = uuid.uuid4().hex
        with transaction(runtime.control, write=True) as conn:
            taken = conn.execute(
                update(MOVES)
                .where(MOVES.c.id == move_id, expired)
                .values(lease_token=token, lease_until=utcnow() + LEASE)
            ).rowcount
        if taken == 1:
            claims.append(Claim(move_id, token))
    return claims


def resume_all(runtime: Runtime) -> None:
    """At server start: carry on, in the background, with moves a dead process left."""
    for claim in claim_orphans(runtime):
        log.info("resuming data move %s", claim.move_id)
        spawn(runtime, claim)


def running_ids(runtime: Runtime) -> list[int]:
    with transaction(runtime.control) as conn:
        return list(conn.execute(select(MOVES.c.id).where(MOVES.c.state.in_(RUNNING))).scalars())


def resume_here(runtime: Runtime, wait: float = 2 * LEASE.total_seconds()) -> dict[int, str]:
    """For the command line: wait until the leases of dead movers run out, then finish every
    running move in this process. Returns each move's final state."""
    results: dict[int, str] = {}
    deadline = time.monotonic() + wait
    while running_ids(runtime):
        for claim in claim_orphans(runtime):
            results[claim.move_id] = run(runtime, claim)
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return results


def summary(runtime: Runtime, move_id: int) -> str:
    """One line for the command line: state, rows, and the reason of a failure."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(MOVES).where(MOVES.c.id == move_id)).one()
        moved = data_move_status.public(conn, row)
    line = (
        f"move {row.id} of workspace {row.workspace_id}: {row.state}, "
        f"{moved['copied_rows']} of {moved['total_rows']} rows copied "
        f"({moved['source']} -> {moved['target']})"
    )
    return f"{line}: {row.error}" if row.error else line
