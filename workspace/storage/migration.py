"""Moving a workspace's files to another backend: copy, verify, switch, resumable.

``start`` tests the new backend, makes it the *target* (new uploads go there from then on,
so nothing uploaded meanwhile stays behind) and writes down every blob to copy: the distinct
sha256 of the workspace's ``files`` rows, soft-deleted ones included. The copier
(:mod:`workspace.storage.copier`) copies and verifies each, then switches in one
transaction. Until then the old backend stays active for reads (after the target), and after
it stays read-only until an admin retires it.

A process that dies while copying leaves a lease that runs out; the next server start or
``workspace storage migrate --resume`` carries on from the per-blob done markers. A damaged
blob (its content no longer matches its hash), a missing one or a backend failure stops the
migration as *failed* with the reason, switching nothing; the admin can retry once it is
fixed.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy import Connection, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, NotFound
from workspace.leases import Claim
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.storage import backends as file_storage
from workspace.storage import configs
from workspace.storage.blobs import run_async
from workspace.storage.copier import LEASE, claim_orphans, plan, run, spawn

log = logging.getLogger(__name__)

MG, C = m.storage_migrations, m.storage_configs


# ---- starting, retrying, looking -------------------------------------------------------


def overview(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """The storage settings page: backends in use, the draft and the latest migration."""
    return {**configs.status(runtime, acc), "migration": latest(runtime, acc.workspace_id)}


def begin(runtime: Runtime, acc: Access) -> Claim:
    """Test the draft backend, make it the target and write down the blobs to copy."""
    acc.require("admin")
    ws = acc.workspace_id
    with transaction(runtime.control) as conn:
        draft = configs.draft_row(conn, ws)
        _refuse_if_busy(conn, ws)
    if draft is None:
        raise Conflict("save the settings of the new backend before migrating to it")
    target = file_storage.backend_of(runtime, ws, draft)
    if target.location == file_storage.write_backend(runtime, ws).location:
        raise Conflict(f"the workspace already keeps its files in {target.location}")
    run_async(configs.probe, target)
    now = utcnow()
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, ws, exclusive=True)
        _refuse_if_busy(conn, ws)
        tested, draft = draft, configs.draft_row(conn, ws)
        if draft is None or (draft.id, draft.version) != (tested.id, tested.version):
            raise Conflict("the new backend's settings were changed meanwhile; try again")
        source_id = _active_id(conn, ws, acc.user_id)
        conn.execute(update(C).where(C.c.id == draft.id).values(role="target", updated_at=now))
        migration_id = inserted_id(
            conn.execute(
                insert(MG).values(
                    workspace_id=ws,
                    source_id=source_id,
                    target_id=draft.id,
                    state="running",
                    total_objects=0,
                    total_bytes=0,
                    done_objects=0,
                    done_bytes=0,
                    lease_token=token,
                    lease_until=now + LEASE,
                    started_by=acc.user_id,
                    started_at=now,
                )
            )
        )
        plan(conn, migration_id, ws)
        source = conn.execute(select(C).where(C.c.id == source_id)).one()
        where = configs.describe(runtime, ws, source)
        configs.log(conn, ws, acc.principal, "migration started", where, target.location)
    return Claim(migration_id, token)


def start(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """Begin a migration to the draft backend and copy in a background thread."""
    claim = begin(runtime, acc)
    spawn(runtime, claim)
    return progress(runtime, acc, claim.id)


def retry(runtime: Runtime, acc: Access, migration_id: int) -> dict[str, Any]:
    """Carry on with a failed migration (after its cause was fixed), from where it stopped."""
    acc.require("admin")
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = _migration(conn, acc.workspace_id, migration_id)
        if row.state != "failed":
            raise Conflict(f"only a failed migration can be retried; this one is {row.state}")
        conn.execute(
            update(MG)
            .where(MG.c.id == migration_id)
            .values(state="running", error=None, lease_token=token, lease_until=utcnow() + LEASE)
        )
        configs.log(conn, acc.workspace_id, acc.principal, "migration retried", None, None)
    spawn(runtime, Claim(migration_id, token))
    return progress(runtime, acc, migration_id)


def abandon(runtime: Runtime, acc: Access, migration_id: int) -> dict[str, Any]:
    """Give up a failed migration: the old backend stays active and takes new files again.
    The target is kept read-only, since files uploaded during the migration are there."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, acc.workspace_id, exclusive=True)
        row = _migration(conn, acc.workspace_id, migration_id)
        if row.state != "failed":
            raise Conflict(f"only a failed migration can be given up; this one is {row.state}")
        now = utcnow()
        conn.execute(update(MG).where(MG.c.id == row.id).values(state="abandoned", finished_at=now))
        conn.execute(
            update(C).where(C.c.id == row.target_id).values(role="readonly", updated_at=now)
        )
        target = conn.execute(select(C).where(C.c.id == row.target_id)).one()
        where = configs.describe(runtime, acc.workspace_id, target)
        configs.log(conn, acc.workspace_id, acc.principal, "migration abandoned", where, None)
    return progress(runtime, acc, migration_id)


def progress(runtime: Runtime, acc: Access, migration_id: int) -> dict[str, Any]:
    acc.require("admin")
    with transaction(runtime.control) as conn:
        return _public(_migration(conn, acc.workspace_id, migration_id))


def latest(runtime: Runtime, workspace_id: int) -> dict[str, Any] | None:
    query = select(MG).where(MG.c.workspace_id == workspace_id).order_by(MG.c.id.desc())
    with transaction(runtime.control) as conn:
        row = conn.execute(query.limit(1)).first()
    return _public(row) if row else None


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "source": row.source_id,
        "target": row.target_id,
        "total_objects": row.total_objects,
        "done_objects": row.done_objects,
        "total_bytes": row.total_bytes,
        "done_bytes": row.done_bytes,
        "error": row.error,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }


def _migration(conn: Connection, workspace_id: int, migration_id: int) -> Any:
    row = conn.execute(
        select(MG).where(MG.c.id == migration_id, MG.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound("migration not found")
    return row


def _refuse_if_busy(conn: Connection, workspace_id: int) -> None:
    busy = conn.execute(
        select(MG.c.state).where(
            MG.c.workspace_id == workspace_id, MG.c.state.in_(("running", "failed"))
        )
    ).first()
    if busy is not None and busy.state == "running":
        raise Conflict("a migration of this workspace's files is already running")
    if busy is not None:
        raise Conflict("the last migration failed: retry it once its cause is fixed")


def _active_id(conn: Connection, workspace_id: int, user_id: int | None) -> int:
    """The active settings row, written down first if the workspace still runs on its
    default folder (so that folder can become the read-only old backend)."""
    found = conn.execute(
        select(C.c.id).where(C.c.workspace_id == workspace_id, C.c.role == "active")
    ).first()
    if found is not None:
        return int(found.id)
    now = utcnow()
    default = {"kind": "local", "config": {}, "role": "active", "version": 1}
    row = {**default, "workspace_id": workspace_id, "created_by": user_id}
    return inserted_id(conn.execute(insert(C).values(created_at=now, updated_at=now, **row)))


# ---- running ---------------------------------------------------------------------------


# ---- resuming --------------------------------------------------------------------------


def resume_all(runtime: Runtime) -> None:
    """At server start: carry on, in the background, with migrations a dead process left."""
    for claim in claim_orphans(runtime):
        log.info("resuming storage migration %s", claim.id)
        spawn(runtime, claim)


def running_ids(runtime: Runtime) -> list[int]:
    with transaction(runtime.control) as conn:
        return list(conn.execute(select(MG.c.id).where(MG.c.state == "running")).scalars())


def resume_here(runtime: Runtime, wait: float = 2 * LEASE.total_seconds()) -> dict[int, str]:
    """For the command line: wait until the leases of dead copiers run out, then finish
    every running migration in this process. Returns each migration's final state."""
    results: dict[int, str] = {}
    deadline = time.monotonic() + wait
    while running_ids(runtime):
        for claim in claim_orphans(runtime):
            results[claim.id] = run(runtime, claim)
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return results


def summary(runtime: Runtime, migration_id: int) -> str:
    """One line for the command line: state, counts, and the reason of a failure."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(MG).where(MG.c.id == migration_id)).one()
    line = (
        f"migration {row.id} of workspace {row.workspace_id}: {row.state}, "
        f"{row.done_objects} of {row.total_objects} files ({row.done_bytes} of "
        f"{row.total_bytes} bytes) copied and verified"
    )
    return f"{line}: {row.error}" if row.error else line
