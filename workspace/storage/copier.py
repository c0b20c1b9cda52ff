"""The copier of a storage migration: copy, verify and switch, under a lease.

It works through the migration's list of blobs in hash order; each blob is streamed from the
old backend into the new one while its hash is computed, read back from the new one and
hashed again, and only then marked done in the database (one transaction with the progress
counters). The switch is one transaction that checks every blob is done (and no file arrived
that is not on the list) and flips the roles: target -> active, active -> readonly.

The copier holds a lease on the migration row and renews it every HEARTBEAT seconds, also
while one large blob is copied; a process that dies leaves a lease that runs out after LEASE,
and whoever claims it next carries on from the done markers. A copier whose lease was taken
over stops without writing anything more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, suppress
from typing import Any

import anyio
from sqlalchemy import Connection, exists, false, func, insert, literal, select, update

from storage_backends import ObjectNotFound, StorageBackend, StorageError
from workspace import leases
from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import transaction
from workspace.leases import Claim, LeaseLost
from workspace.runtime import Runtime
from workspace.storage import backends, configs
from workspace.storage.blobs import blob_name, run_async

MG, IT, C, F = m.storage_migrations, m.storage_migration_items, m.storage_configs, m.files
#: A copier renews its lease every HEARTBEAT seconds; a lease older than LEASE means it died.
LEASE = dt.timedelta(seconds=10)
HEARTBEAT = 3.0
BATCH = 200


class MigrationStopped(Exception):
    """The copy cannot go on (damaged or missing blob, backend failure); the message says
    which blob, where, and why."""


def plan(conn: Connection, migration_id: int, workspace_id: int) -> int:
    """Add every blob of the workspace not yet on the list, with its size for the progress
    bar, and recount the totals; return how many were added."""
    listed = exists().where(IT.c.migration_id == migration_id, IT.c.sha256 == F.c.sha256)
    new = (
        select(literal(migration_id), F.c.sha256, func.max(F.c.size), false())
        .where(F.c.workspace_id == workspace_id, ~listed)
        .group_by(F.c.sha256)
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


def spawn(runtime: Runtime, claim: Claim) -> None:
    """Copy in a daemon thread: if the process ends, the lease runs out and the next start
    resumes the migration."""
    name = f"storage-migration-{claim.id}"
    threading.Thread(target=run, args=(runtime, claim), name=name, daemon=True).start()


def run(runtime: Runtime, claim: Claim) -> str:
    """Copy, verify and switch; return the final state (done, failed, or lost when another
    process took the migration over)."""
    return leases.outcome(
        f"storage migration {claim.id}",
        lambda: run_async(_run, runtime, claim),
        lambda reason: _fail(runtime, claim, reason),
        _stop_reason,
    )


def _stop_reason(exc: Exception) -> str | None:
    if isinstance(exc, StorageError):
        return exc.message
    return str(exc) if isinstance(exc, MigrationStopped) else None


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
        return conn.execute(select(MG).where(MG.c.id == claim.id)).one()


def _extend(conn: Connection, claim: Claim, **values: Any) -> None:
    """Extend the lease (and write ``values``); LeaseLost if another process holds it."""
    done = conn.execute(
        update(MG)
        .where(
            MG.c.id == claim.id,
            MG.c.lease_token == claim.token,
            MG.c.state == "running",
        )
        .values(lease_until=utcnow() + LEASE, **values)
    )
    if done.rowcount != 1:
        raise LeaseLost(claim.id)


async def _copy_all(runtime: Runtime, claim: Claim) -> None:
    migration = _renew(runtime, claim)
    ws = migration.workspace_id
    with transaction(runtime.control) as conn:
        rows = {r.id: r for r in configs.rows_in_use(conn, ws)}
    if migration.target_id not in rows:
        raise MigrationStopped("the target backend is no longer configured")
    target = backends.backend_of(runtime, ws, rows.pop(migration.target_id))
    # The old backend first, then older read-only ones (a blob written to one of them by an
    # upload that began before the migration is still found).
    ordered = sorted(rows.values(), key=lambda r: (r.id != migration.source_id, -r.id))
    sources = [backends.backend_of(runtime, ws, r) for r in ordered]
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
        .where(IT.c.migration_id == claim.id, IT.c.done.is_(False))
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
            update(IT).where(IT.c.migration_id == claim.id, IT.c.sha256 == sha256).values(done=True)
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
    """Make sure the target holds the blob, verified by reading it back; return its size.
    A source whose copy is damaged is passed over for the next one that has it intact."""
    name = blob_name(sha256)
    with suppress(ObjectNotFound):
        found, size = await _digest(target, name)
        if found == sha256:
            return size  # copied before a crash, or uploaded there during the migration
    damaged = []
    for source in sources:
        sha = hashlib.sha256()
        try:
            size = await target.put(name, _hashing(source.get(name), sha))
        except ObjectNotFound:
            continue
        if sha.hexdigest() != sha256:
            await target.delete(name)
            damaged.append(f"on {source.location} its content now hashes to {sha.hexdigest()}")
            continue
        found, _ = await _digest(target, name)
        if found != sha256:
            raise MigrationStopped(
                f"the copy of file {sha256} on {target.location} reads back with the hash "
                f"{found}. Nothing was switched; retry once the backend is healthy."
            )
        return size
    if damaged:
        raise MigrationStopped(
            f"file {sha256} is damaged: {'; '.join(damaged)}. Nothing was switched; restore "
            "the file and retry."
        )
    where = ", ".join(s.location for s in sources)
    raise MigrationStopped(f"file {sha256} is missing from {where}. Nothing was switched.")


def _switch(runtime: Runtime, claim: Claim) -> bool:
    """Flip the roles in one transaction once every blob is done; False if new files
    arrived meanwhile (they are added to the list and copied first)."""
    with transaction(runtime.control, write=True) as conn:
        ws = conn.execute(select(MG.c.workspace_id).where(MG.c.id == claim.id))
        gate.lock_workspace(conn, ws.scalar_one(), exclusive=True)
        row = conn.execute(
            select(MG).where(
                MG.c.id == claim.id,
                MG.c.lease_token == claim.token,
                MG.c.state == "running",
            )
        ).first()
        if row is None:
            raise LeaseLost(claim.id)
        if plan(conn, row.id, row.workspace_id):
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
            configs.describe(runtime, row.workspace_id, rows[i])
            for i in (row.source_id, row.target_id)
        )
        verified = f"{new} ({row.total_objects} files copied and verified)"
        configs.log(conn, row.workspace_id, None, "switched", old, verified)
    return True


def _fail(runtime: Runtime, claim: Claim, reason: str) -> None:
    with transaction(runtime.control, write=True) as conn:
        done = conn.execute(
            update(MG)
            .where(MG.c.id == claim.id, MG.c.lease_token == claim.token)
            .values(state="failed", error=reason[:2000], lease_token=None, lease_until=None)
        )
        if done.rowcount:
            ws = conn.execute(select(MG.c.workspace_id).where(MG.c.id == claim.id))
            configs.log(conn, ws.scalar_one(), None, "migration failed", None, reason)


def claim_orphans(runtime: Runtime) -> list[Claim]:
    """Take over every running migration whose copier's lease ran out."""
    return leases.claim_orphans(runtime.control, MG, MG.c.state == "running", LEASE)
