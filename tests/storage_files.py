"""Shared by the storage settings, migration and browser tests: files put straight into a
workspace the way the files service stores them (the servers are tests/storage_servers.py's
fixtures)."""

from __future__ import annotations

import hashlib
import uuid
from contextlib import aclosing

from sqlalchemy import insert

from storage_backends import StorageBackend, one_chunk
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.files.files import blob_name
from workspace.runtime import Runtime
from workspace.storage import backends
from workspace.storage.blobs import run_async

#: What each blob held, to put a damaged one right again.
PAYLOADS: dict[str, bytes] = {}


def payload(i: int, size: int = 20_000) -> bytes:
    return (f"file {i} {uuid.uuid4()} ".encode() * (size // 40 + 1))[:size]


def add_file(runtime: Runtime, ws: int, data: bytes, *, deleted: bool = False) -> str:
    """Store a blob where the files service would (the write backend), then its files row."""
    sha = hashlib.sha256(data).hexdigest()
    PAYLOADS[sha] = data
    backend = backends.write_backend(runtime, ws)
    run_async(backend.put, blob_name(sha), one_chunk(data))
    insert_row(runtime, ws, sha, len(data), deleted=deleted)
    return sha


def insert_row(runtime: Runtime, ws: int, sha: str, size: int, *, deleted: bool = False) -> None:
    now = utcnow()
    row = {
        "workspace_id": ws,
        "record_type_id": 1,
        "record_id": 1,
        "origin_record_id": 1,
        "name": f"{sha[:8]}.bin",
        "size": size,
        "content_type": "application/octet-stream",
        "sha256": sha,
        "created_at": now,
        "deleted_at": now if deleted else None,
    }
    with transaction(runtime.control, write=True) as conn:
        conn.execute(insert(m.files).values(row))


async def _read(backend: StorageBackend, name: str) -> bytes:
    async with aclosing(backend.get(name)) as chunks:
        return b"".join([chunk async for chunk in chunks])


def digest_on(backend: StorageBackend, sha: str) -> str:
    return hashlib.sha256(run_async(_read, backend, blob_name(sha))).hexdigest()


def all_verified(backend: StorageBackend, hashes: list[str]) -> None:
    """Every blob is on ``backend`` and reads back with its hash."""
    for sha in hashes:
        assert digest_on(backend, sha) == sha, f"{sha} missing or damaged on {backend.location}"
