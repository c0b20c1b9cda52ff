"""Moving a workspace's record data to another database and back: copy while the
workspace keeps working, freeze for a moment, make the copy equal, verify, switch.

:func:`start` tests the target (a customer's MySQL, stored as a ``data_databases`` row in
role ``target``; or the managed database), records the move and runs it in a background
thread (:mod:`workspace.databases.mover`). Schema changes are refused (409) from the
start until the move is done or cancelled; record writes only while it switches (503 with
Retry-After).

A failed move is retried (it goes on from where it stopped) or cancelled (the copied tables
on the target are dropped). A process killed half way leaves a lease that runs out; the next
server start or ``workspace data move --resume`` carries on.

The database the records came from is kept as a read-only *old copy*, never written again;
retiring it drops its tables (and the readable views over them). Moving back onto the
database that holds it drops those stale tables first and copies afresh.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import connections, gate, move_status
from workspace.databases import copies as data_copy
from workspace.databases.mover import (
    LEASE,
    claim_orphans,
    engine_of,
    note,
    retire_old,
    run,
    same_place,
    spawn,
    table_names,
    unlock_source,
)
from workspace.databases.mover import RUNNING as RUNNING
from workspace.db import transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.leases import Claim
from workspace.principal import Access
from workspace.runtime import Runtime

log = logging.getLogger(__name__)

MOVES, TABLES, D, RT = m.data_moves, m.data_move_tables, m.data_databases, m.record_types


# ---- starting, looking, retrying, cancelling -------------------------------------------


def start(runtime: Runtime, acc: Access, target: Any) -> dict[str, Any]:
    """Move the workspace's records to ``target``: ``"managed"`` or the settings of a MySQL
    database (host, port, database, user, password, tls, ca_cert), tested first. Returns
    the move's status; the copy goes on in the background."""
    claim = begin(runtime, acc, target)
    spawn(runtime, claim)
    return status(runtime, acc, claim.id)


def begin(runtime: Runtime, acc: Access, target: Any) -> Claim:
    """Test the target, store it and record the move (one per workspace at a time)."""
    acc.require("admin")
    spec = None
    if isinstance(target, Mapping):
        spec = connections.checked(runtime, acc, target, before=_refuse_to_start)
    elif target != "managed":
        raise ValidationFailed.single(
            "target", 'must be "managed" or the settings of a MySQL database'
        )
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        _refuse_to_start(conn, acc.workspace_id)
        source = connections.active_row(conn, acc.workspace_id)
        if spec is None and source is None:
            raise Conflict("the workspace's records are in the managed database already")
        here = (source.host, source.port, source.database_name) if source is not None else None
        if spec is not None and here == (spec.host, spec.port, spec.database):
            raise Conflict(
                f"the workspace's records are in {move_status.where(conn, source.id)} already"
            )
        target_id = None
        if spec is not None:
            target_id = connections.add_row(runtime, conn, acc, spec, "target")
        move_id = data_copy.start(
            conn,
            acc.workspace_id,
            source_id=source.id if source is not None else None,
            target_id=target_id,
            started_by=acc.user_id,
            lease_token=token,
            lease_until=utcnow() + LEASE,
        )
        note(conn, _move(conn, acc.workspace_id, move_id), acc.principal, "started")
    return Claim(move_id, token)


def status(runtime: Runtime, acc: Access, move_id: int) -> dict[str, Any]:
    """A move of the workspace: state, where from and to, progress per table, error."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        return move_status.public(conn, _move(conn, acc.workspace_id, move_id))


def retry(runtime: Runtime, acc: Access, move_id: int) -> dict[str, Any]:
    """Carry on with a failed move (after its cause was fixed): tables found different are
    copied again from the start, the others go on from where they stopped."""
    acc.require("admin")
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = _move(conn, acc.workspace_id, move_id)
        if row.state != "failed":
            raise Conflict(f"only a failed move can be retried; this one is {row.state}")
        data_copy.retry(conn, move_id)
        note(conn, row, acc.principal, "retried")
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
        gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = _move(conn, acc.workspace_id, move_id)
        if row.state not in gate.UNFINISHED:
            raise Conflict(f"only an unfinished move can be cancelled; this one is {row.state}")
        now = utcnow()
        conn.execute(
            update(MOVES)
            .where(MOVES.c.id == move_id)
            .values(state="cancelled", finished_at=now, lease_token=None, lease_until=None)
        )
        gate.unfreeze(conn, acc.workspace_id)
        if row.target_id is not None:
            conn.execute(
                update(D).where(D.c.id == row.target_id).values(role="retired", updated_at=now)
            )
        names = table_names(conn, move_id)
        note(conn, row, acc.principal, "cancelled: the records stay where they were")
    data_copy.drop_tables(engine_of(runtime, row.target_id), names)
    unlock_source(runtime, row)
    return status(runtime, acc, move_id)


def retire_old_copy(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """Drop the tables of the old copy the last move left (only this workspace's) and stop
    listing it. Returns the data database overview."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        move = move_status.old_copy_move(conn, acc.workspace_id)
        if move is None:
            raise NotFound("there is no old copy of this workspace's records to retire")
        _refuse_if_busy(conn, acc.workspace_id)
        names = table_names(conn, move.id)
        active = connections.active_row(conn, acc.workspace_id)
        if same_place(conn, move.source_id, active.id if active is not None else None):
            # The records live there again (switched back without a move, which takes an
            # empty workspace): whatever tables it has are live ones, never dropped here.
            names = []
    data_copy.drop_tables(engine_of(runtime, move.source_id), names)
    with transaction(runtime.control, write=True) as conn:
        where = move_status.where(conn, move.source_id)
        retire_old(conn, move)
        connections.log(
            conn, acc.workspace_id, acc.principal, f"old copy in {where}", "retired (dropped)"
        )
    return connections.overview(runtime, acc)


def _refuse_if_busy(conn: Connection, workspace_id: int) -> None:
    """Under the workspace's lock: no second move, and none while a schema change of the
    workspace is under way (its tables would be copied half changed)."""
    gate.lock_workspace(conn, workspace_id, exclusive=True)
    move = gate.unfinished_move(conn, workspace_id)
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


def _refuse_to_start(conn: Connection, workspace_id: int) -> None:
    """:func:`_refuse_if_busy`, and no move of a workspace with an adopted table: the table
    is the customer's own and other systems use it where it is (and the record types beside
    it may point at it); nor of one with dedupe rules across types, whose key tables the
    copy does not know."""
    _refuse_if_busy(conn, workspace_id)
    types = select(RT.c.name, RT.c.source).where(RT.c.workspace_id == workspace_id)
    adopted = next((r.name for r in conn.execute(types) if r.source), None)
    if adopted is not None:
        raise Conflict(
            f"record type {adopted!r} is a table adopted in this workspace's database, which "
            "stays there: delete that record type (its table and rows are kept) to move"
        )
    spans = select(m.dedupe_spans.c.id).where(m.dedupe_spans.c.workspace_id == workspace_id)
    if conn.execute(spans.limit(1)).first() is not None:
        raise Conflict(
            "a move does not take the keys of dedupe rules across record types yet: delete "
            "those rules, move, then add them again (adding one keys the records on file)"
        )


def _move(conn: Connection, workspace_id: int, move_id: int) -> Any:
    row = conn.execute(
        select(MOVES).where(MOVES.c.id == move_id, MOVES.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound("move not found")
    return row


# ---- resuming --------------------------------------------------------------------------


def resume_all(runtime: Runtime) -> None:
    """At server start: carry on, in the background, with moves a dead process left."""
    for claim in claim_orphans(runtime):
        log.info("resuming data move %s", claim.id)
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
            results[claim.id] = run(runtime, claim)
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return results


def summary(runtime: Runtime, move_id: int) -> str:
    """One line for the command line: state, rows, and the reason of a failure."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(MOVES).where(MOVES.c.id == move_id)).one()
        moved = move_status.public(conn, row)
    line = (
        f"move {row.id} of workspace {row.workspace_id}: {row.state}, "
        f"{moved['copied_rows']} of {moved['total_rows']} rows copied "
        f"({moved['source']} -> {moved['target']})"
    )
    return f"{line}: {row.error}" if row.error else line
