"""Moving a workspace's files to another backend: copy, verify, switch, resumable.

``start`` tests the new backend, makes it the *target* (new uploads go there from then on,
so nothing uploaded meanwhile stays behind) and writes down every blob to copy: the distinct
sha256 of the workspace's ``files`` rows, soft-deleted ones included. The copy then works
through that list in hash order; each blob is streamed from the old backend into the new one
while its hash is computed, read back from the new one and hashed again, and only then marked
done in the database. The switch is one transaction that checks every blob is done (and no
file arrived that is not on the list) and flips the roles: target -> active, active ->
readonly. Until then the old backend stays active for reads (after the target), and after it
stays read-only until an admin retires it.

Whoever copies holds a lease on the migration row and renews it; a process that dies leaves
a lease that runs out, and the next server start or ``workspace storage migrate --resume``
carries on from the done markers. A damaged blob (its content no longer matches its hash), a
missing one or a backend failure stops the migration as *failed* with the reason, switching
nothing; the admin can retry once it is fixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import (
    Connection,
    and_,
    column,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    update,
)

from storage_backends import ObjectNotFound, StorageBackend, StorageError
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import Conflict, NotFound
from workspace.runtime import Runtime
from workspace.services import file_storage, storage_settings
from workspace.services.file_blobs import run_async
from workspace.services.principal import Access

log = logging.getLogger(__name__)

MG, IT, C = m.storage_migrations, m.storage_migration_items, m.storage_configs
#: A copier renews its lease every HEARTBEAT; a lease older than LEASE means it died.
LEASE = dt.timedelta(seconds=10)
HEARTBEAT = 3.0
BATCH = 200
# The files service's table, by its contract (workspace_id, sha256); read, never written.
_FILES = table("files", column("workspace_id"), column("sha256"), column("size"))


def blob_name(sha256: str) -> str:
    """The object name of a blob: the files service's naming ("ab/cd/<sha256>")."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class MigrationStopped(Exception):
    """The copy cannot go on (damaged or missing blob, backend failure); the message says
    which blob, where, and why."""


class LeaseLost(Exception):
    """Another process took the migration over: this one stops without writing anything."""


@dataclass(frozen=True)
class Claim:
    """The right to work on a migration: its id and the lease token this process holds."""

    migration_id: int
    token: str


# ---- starting, retrying, looking -------------------------------------------------------


def overview(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """The storage settings page: backends in use, the draft and the latest migration."""
    return {**storage_settings.status(runtime, acc), "migration": latest(runtime, acc.workspace_id)}


def begin(runtime: Runtime, acc: Access) -> Claim:
    """Test the draft backend, make it the target and write down the blobs to copy."""
    acc.require("admin")
    ws = acc.workspace_id
    with transaction(runtime.control) as conn:
        draft = storage_settings.draft_row(conn, ws)
        _refuse_if_busy(conn, ws)
    if draft is None:
        raise Conflict("save the settings of the new backend before migrating to it")
    target = file_storage.backend_of(runtime, ws, draft)
    run_async(storage_settings.probe, target)
    now = utcnow()
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        storage_settings.lock_workspace(conn, ws)
        _refuse_if_busy(conn, ws)
        draft = storage_settings.draft_row(conn, ws)
        if draft is None:
            raise Conflict("the draft backend was changed meanwhile; try again")
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
        _plan(conn, migration_id, ws)
        source = conn.execute(select(C).where(C.c.id == source_id)).one()
        where = storage_settings.describe(runtime, ws, source)
        storage_settings.log(conn, ws, acc.principal, "migration started", where, target.location)
    return Claim(migration_id, token)


def start(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """Begin a migration to the draft backend and copy in a background thread."""
    claim = begin(runtime, acc)
    spawn(runtime, claim)
    return progress(runtime, acc, claim.migration_id)


def retry(runtime: Runtime, acc: Access, migration_id: int) -> dict[str, Any]:
    """Carry on with a failed migration (after its cause was fixed), from where it stopped."""
    acc.require("admin")
    token = uuid.uuid4().hex
    with transaction(runtime.control, write=True) as conn:
        storage_settings.lock_workspace(conn, acc.workspace_id)
        row = _migration(conn, acc.workspace_id, migration_id)
        if row.state != "failed":
            raise Conflict(f"only a failed migration can be retried; this one is {row.state}")
        conn.execute(
            update(MG)
            .where(MG.c.id == migration_id)
            .values(state="running", error=None, lease_token=token, lease_until=utcnow() + LEASE)
        )
        storage_settings.log(conn, acc.workspace_id, acc.principal, "migration retried", None, None)
    spawn(runtime, Claim(migration_id, token))
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


def _plan(conn: Connection, migration_id: int, workspace_id: int) -> int:
    """Add every blob of the workspace not yet on the list, with its size for the progress
    bar, and recount the totals; return how many were added."""
    listed = exists().where(IT.c.migration_id == migration_id, IT.c.sha256 == _FILES.c.sha256)
    new = (
        select(literal(migration_id), _FILES.c.sha256, func.max(_FILES.c.size), false())
        .where(_FILES.c.workspace_id == workspace_id, ~listed)
        .group_by(_FILES.c.sha256)
    )
    added = conn.execute(
        insert(IT).from_select(["migration_id", "sha256", "size", "done"], new)
    ).rowcount
    if added:
        mine = IT.c.migration_id == migration_id
        conn.execute(
            update(MG)
            .where(MG.c.id == migration_id)
            .values(
                total_objects=select(func.count()).where(mine).scalar_subquery(),
                total_bytes=select(func.coalesce(func.sum(IT.c.size), 0))
                .where(mine)
                .scalar_subquery(),
            )
        )
    return int(added or 0)


# ---- running ---------------------------------------------------------------------------


def spawn(runtime: Runtime, claim: Claim) -> None:
    """Copy in a daemon thread: if the process ends, the lease runs out and the next start
    resumes the migration."""
    name = f"storage-migration-{claim.migration_id}"
    threading.Thread(target=run, args=(runtime, claim), name=name, daemon=True).start()


def run(runtime: Runtime, claim: Claim) -> str:
    """Copy, verify and switch; return the final state (done, failed, or lost when another
    process took the migration over)."""
    try:
        run_async(_run, runtime, claim)
    except LeaseLost:
        return "lost"
    except Exception as exc:
        # Anything else unexpected also stops the migration, with the reason on the page.
        reason = exc.args[0] if isinstance(exc, MigrationStopped) else _explain(exc)
        log.warning("storage migration %s failed: %s", claim.migration_id, reason)
        _fail(runtime, claim, reason)
        return "failed"
    return "done"


def _explain(exc: Exception) -> str:
    if isinstance(exc, StorageError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


async def _run(runtime: Runtime, claim: Claim) -> None:
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_heartbeat, runtime, claim)
            await _copy_all(runtime, claim)
            tasks.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The copy or the heartbeat stopped; the first reason is the one to report.
        raise group.exceptions[0] from None


async def _heartbeat(runtime: Runtime, claim: Claim) -> None:
    while True:
        await anyio.sleep(HEARTBEAT)
        _renew(runtime, claim)


def _renew(runtime: Runtime, claim: Claim) -> Any:
    """Extend the lease and return the migration row."""
    with transaction(runtime.control, write=True) as conn:
        _extend(conn, claim)
        return conn.execute(select(MG).where(MG.c.id == claim.migration_id)).one()


def _extend(conn: Connection, claim: Claim, **values: Any) -> None:
    """Extend the lease (and write ``values``); LeaseLost if another process holds it."""
    done = conn.execute(
        update(MG)
        .where(
            MG.c.id == claim.migration_id,
            MG.c.lease_token == claim.token,
            MG.c.state == "running",
        )
        .values(lease_until=utcnow() + LEASE, **values)
    )
    if done.rowcount != 1:
        raise LeaseLost(claim.migration_id)


async def _copy_all(runtime: Runtime, claim: Claim) -> None:
    migration = _renew(runtime, claim)
    ws = migration.workspace_id
    with transaction(runtime.control) as conn:
        rows = {r.id: r for r in storage_settings.rows_in_use(conn, ws)}
    if migration.target_id not in rows:
        raise MigrationStopped("the target backend is no longer configured")
    target = file_storage.backend_of(runtime, ws, rows.pop(migration.target_id))
    # The old backend first, then older read-only ones (a blob written to one of them by an
    # upload that began before the migration is still found).
    ordered = sorted(rows.values(), key=lambda r: (r.id != migration.source_id, -r.id))
    sources = [file_storage.backend_of(runtime, ws, r) for r in ordered]
    while True:
        while batch := _todo(runtime, claim):
            for sha256 in batch:
                copied = await _copy(sources, target, sha256)
                _mark_done(runtime, claim, sha256, copied)
        if _switch(runtime, claim):
            return


def _todo(runtime: Runtime, claim: Claim) -> list[str]:
    query = (
        select(IT.c.sha256)
        .where(IT.c.migration_id == claim.migration_id, IT.c.done.is_(False))
        .order_by(IT.c.sha256)
        .limit(BATCH)
    )
    with transaction(runtime.control) as conn:
        return list(conn.execute(query).scalars())


def _mark_done(runtime: Runtime, claim: Claim, sha256: str, size: int) -> None:
    """The done marker and the progress counters, in one transaction with the lease check."""
    with transaction(runtime.control, write=True) as conn:
        _extend(conn, claim, done_objects=MG.c.done_objects + 1, done_bytes=MG.c.done_bytes + size)
        conn.execute(
            update(IT)
            .where(IT.c.migration_id == claim.migration_id, IT.c.sha256 == sha256)
            .values(done=True)
        )


async def _digest(backend: StorageBackend, name: str) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    async with aclosing(backend.get(name)) as chunks:
        async for chunk in chunks:
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


async def _hashing(chunks: AsyncGenerator[bytes], sha: Any) -> AsyncIterator[bytes]:
    async with aclosing(chunks):
        async for chunk in chunks:
            sha.update(chunk)
            yield chunk


async def _copy(sources: list[StorageBackend], target: StorageBackend, sha256: str) -> int:
    """Make sure the target holds the blob, verified by reading it back; return its size."""
    name = blob_name(sha256)
    with suppress(ObjectNotFound):
        found, size = await _digest(target, name)
        if found == sha256:
            return size  # copied before a crash, or uploaded there during the migration
    for source in sources:
        sha = hashlib.sha256()
        try:
            size = await target.put(name, _hashing(source.get(name), sha))
        except ObjectNotFound:
            continue
        if sha.hexdigest() != sha256:
            await target.delete(name)
            raise MigrationStopped(
                f"file {sha256} is damaged on {source.location}: its content now hashes to "
                f"{sha.hexdigest()}. Nothing was switched; restore the file there and retry."
            )
        found, _ = await _digest(target, name)
        if found != sha256:
            raise MigrationStopped(
                f"the copy of file {sha256} on {target.location} reads back with the hash "
                f"{found}. Nothing was switched; retry once the backend is healthy."
            )
        return size
    where = ", ".join(s.location for s in sources)
    raise MigrationStopped(f"file {sha256} is missing from {where}. Nothing was switched.")


def _switch(runtime: Runtime, claim: Claim) -> bool:
    """Flip the roles in one transaction once every blob is done; False if new files
    arrived meanwhile (they are added to the list and copied first)."""
    with transaction(runtime.control, write=True) as conn:
        ws = conn.execute(select(MG.c.workspace_id).where(MG.c.id == claim.migration_id))
        storage_settings.lock_workspace(conn, ws.scalar_one())
        row = conn.execute(
            select(MG).where(
                MG.c.id == claim.migration_id,
                MG.c.lease_token == claim.token,
                MG.c.state == "running",
            )
        ).first()
        if row is None:
            raise LeaseLost(claim.migration_id)
        if _plan(conn, row.id, row.workspace_id):
            return False
        left = conn.execute(
            select(func.count()).where(IT.c.migration_id == row.id, IT.c.done.is_(False))
        ).scalar_one()
        if left:
            return False
        now = utcnow()
        conn.execute(
            update(C).where(C.c.id == row.source_id).values(role="readonly", updated_at=now)
        )
        conn.execute(update(C).where(C.c.id == row.target_id).values(role="active", updated_at=now))
        conn.execute(
            update(MG)
            .where(MG.c.id == row.id)
            .values(state="done", finished_at=now, lease_token=None, lease_until=None)
        )
        rows = {
            r.id: r for r in conn.execute(select(C).where(C.c.workspace_id == row.workspace_id))
        }
        old, new = (
            storage_settings.describe(runtime, row.workspace_id, rows[i])
            for i in (row.source_id, row.target_id)
        )
        verified = f"{new} ({row.total_objects} files copied and verified)"
        storage_settings.log(conn, row.workspace_id, None, "switched", old, verified)
    return True


def _fail(runtime: Runtime, claim: Claim, reason: str) -> None:
    with transaction(runtime.control, write=True) as conn:
        done = conn.execute(
            update(MG)
            .where(MG.c.id == claim.migration_id, MG.c.lease_token == claim.token)
            .values(state="failed", error=reason[:2000], lease_token=None, lease_until=None)
        )
        if done.rowcount:
            ws = conn.execute(select(MG.c.workspace_id).where(MG.c.id == claim.migration_id))
            storage_settings.log(conn, ws.scalar_one(), None, "migration failed", None, reason)


# ---- resuming --------------------------------------------------------------------------


def claim_orphans(runtime: Runtime) -> list[Claim]:
    """Take over every running migration whose copier's lease ran out."""
    now = utcnow()
    expired = and_(MG.c.state == "running", or_(MG.c.lease_until.is_(None), MG.c.lease_until < now))
    with transaction(runtime.control) as conn:
        ids = list(conn.execute(select(MG.c.id).where(expired)).scalars())
    claims = []
    for migration_id in ids:
        token = uuid.uuid4().hex
        with transaction(runtime.control, write=True) as conn:
            taken = conn.execute(
                update(MG)
                .where(MG.c.id == migration_id, expired)
                .values(lease_token=token, lease_until=utcnow() + LEASE)
            ).rowcount
        if taken == 1:
            claims.append(Claim(migration_id, token))
    return claims


def resume_all(runtime: Runtime) -> None:
    """At server start: carry on, in the background, with migrations a dead process left."""
    for claim in claim_orphans(runtime):
        log.info("resuming storage migration %s", claim.migration_id)
        spawn(runtime, claim)


def running_ids(runtime: Runtime) -> list[int]:
    with transaction(runtime.control) as conn:
        return list(conn.execute(select(MG.c.id).where(MG.c.state == "running")).scalars())


def resume_here(
    runtime: Runtime, wait: float = LEASE.total_seconds() + HEARTBEAT
) -> dict[int, str]:
    """For the command line: wait until the leases of dead copiers run out, then finish
    every running migration in this process. Returns each migration's final state."""
    results: dict[int, str] = {}
    deadline = time.monotonic() + wait
    while running_ids(runtime):
        for claim in claim_orphans(runtime):
            results[claim.migration_id] = run(runtime, claim)
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
