"""Files on records: upload, list, download, soft delete, restore, purge.

The bytes are stored once per content in the workspace's storage backend under
:func:`blob_name` of their SHA-256; a ``files`` row attaches them to a record (as a general
attachment or through a file field). The blob is always written before its row, and the row
is inserted only after the blob is confirmed under a shared lock on the workspace row that
:func:`purge` takes exclusively, so no row ever points at a missing object.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping

from storage_backends import StorageError
from workspace import activity
from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, TooLarge, Unavailable, ValidationFailed
from workspace.files.content import Scanned, scan
from workspace.principal import Access
from workspace.records import records
from workspace.records.file_values import FILE_FIELD_TYPE
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.storage import backends as file_storage
from workspace.storage import blobs as file_blobs
from workspace.storage.blobs import blob_name

log = logging.getLogger(__name__)
F = m.files
#: Most files in one upload request (the request may be this many times ``max_file_bytes``).
MAX_FILES = 10
#: How long a deleted file can be restored before ``purge`` removes it.
RESTORE_DAYS = 30


@dataclass(frozen=True)
class Incoming:
    """One file of an upload: the name the client gave and its bytes (a seekable file,
    e.g. the temporary file the web server spooled the upload to)."""

    name: str
    file: BinaryIO


@dataclass(frozen=True)
class Download:
    """A file's metadata and its verified bytes in a temporary file the caller closes."""

    file: dict[str, Any]
    content: IO[bytes]


# ---- writing ---------------------------------------------------------------------------


def upload(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    incoming: Sequence[Incoming],
    *,
    field_key: str | None = None,
) -> list[dict[str, Any]]:
    """Attach ``incoming`` to the record (through the file field ``field_key`` if given).

    Every file is checked before anything is stored; then the blobs are written (skipped
    when the same content is stored already), then the rows and their activity entries in
    one transaction. A failing backend gives 503 and leaves no row.
    """
    acc.require("member")
    if not incoming:
        raise ValidationFailed.single("files", "choose at least one file")
    if len(incoming) > MAX_FILES:
        raise ValidationFailed.single("files", f"at most {MAX_FILES} files per upload")
    field_id = _file_field(rt, field_key) if field_key else None
    records.get(runtime, acc, rt, record_id)  # exists and is not deleted (or merged)
    scanned = [scan(item.name, item.file) for item in incoming]
    return _store(runtime, acc, rt, record_id, field_id, scanned)


def _store(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    field_id: int | None,
    scanned: list[Scanned],
) -> list[dict[str, Any]]:
    stage(runtime, acc.workspace_id, scanned)
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, acc.workspace_id, exclusive=False)
        return attach_staged(conn, runtime, acc, rt, record_id, field_id, scanned)


def stage(runtime: Runtime, workspace_id: int, scanned: Sequence[Scanned]) -> None:
    """Write the bytes of ``scanned`` to the workspace's backend ahead of the rows that will
    name them (TooLarge, or 503 from a failing backend, before anything is written). Until
    :func:`attach_staged` runs, the blobs are unreferenced: nothing shows them, and
    :func:`discard` removes them when the write they were for does not happen."""
    limit = runtime.settings.max_file_bytes
    too_big = [s.name for s in scanned if s.size > limit]
    if too_big:
        reason = f"{', '.join(too_big)}: larger than the limit of {limit:,} bytes".replace(",", " ")
        raise TooLarge(f"nothing was stored; {reason}", fields={"files": reason})
    backend = file_storage.write_backend(runtime, workspace_id)
    for name, s in _blobs(scanned).items():
        file_blobs.store(backend, name, s.file, s.size)


def _blobs(scanned: Sequence[Scanned]) -> dict[str, Scanned]:
    return {blob_name(s.sha256): s for s in scanned}


def _file_field(rt: RecordTypeDef, key: str) -> int:
    f = rt.field_by_key(key)
    if f is None or f.type.name != FILE_FIELD_TYPE:
        raise ValidationFailed.single("field", f"{key!r} is not a file field of {rt.name}")
    return f.id


def attach_staged(
    conn: Connection,
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    field_id: int | None,
    scanned: Sequence[Scanned],
) -> list[dict[str, Any]]:
    """Inside the caller's write transaction, which holds the workspace's lock (shared, as
    record writes do): the rows and activity entries of staged files. A blob that a purge
    or discard took since it was staged is stored again first; the lock keeps them out
    from here to the commit, so no row ever points at a missing object."""
    backend = file_storage.write_backend(runtime, acc.workspace_id)
    blobs = _blobs(scanned)
    if not file_blobs.all_exist(backend, list(blobs)):
        for name, s in blobs.items():
            file_blobs.store(backend, name, s.file, s.size)
    now = utcnow()
    added = []
    for s in scanned:
        values = {
            "workspace_id": acc.workspace_id,
            "record_type_id": rt.id,
            "record_id": record_id,
            "origin_record_id": record_id,
            "field_id": field_id,
            "name": s.name,
            "size": s.size,
            "content_type": s.content_type,
            "sha256": s.sha256,
            "created_at": now,
            "created_by": acc.user_id,
        }
        file_id = inserted_id(conn.execute(insert(F).values(values)))
        added.append(public({"id": file_id, **values, "deleted_at": None}))
    _note(conn, acc, rt.id, [(record_id, "file_added", None, a) for a in added])
    return added


def delete_file(runtime: Runtime, acc: Access, file_id: int) -> dict[str, Any]:
    """Soft delete: the file disappears from the record and can be restored for 30 days."""
    acc.require("member")
    with transaction(runtime.control, write=True) as conn:
        row = _row(conn, acc, file_id, lock=True)
        if row["deleted_at"] is not None:
            return public(row)
        now = utcnow()
        conn.execute(
            update(F).where(F.c.id == file_id).values(deleted_at=now, deleted_by=acc.user_id)
        )
        before = public(row)
        _note(conn, acc, row["record_type_id"], [(row["record_id"], "file_deleted", before, None)])
    return {**before, "deleted_at": now}


def restore_file(runtime: Runtime, acc: Access, file_id: int) -> dict[str, Any]:
    """Bring back a file deleted less than 30 days ago."""
    acc.require("member")
    with transaction(runtime.control, write=True) as conn:
        row = _row(conn, acc, file_id, lock=True)
        if row["deleted_at"] is None:
            return public(row)
        conn.execute(update(F).where(F.c.id == file_id).values(deleted_at=None, deleted_by=None))
        after = public({**row, "deleted_at": None})
        _note(conn, acc, row["record_type_id"], [(row["record_id"], "file_restored", None, after)])
    return after


def _note(
    conn: Connection,
    acc: Access,
    record_type_id: int,
    items: list[tuple[int, str, dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    """Activity entries: ``key`` (the attachment's own), ``field`` as every other change has."""
    entries = [
        activity.Entry(
            record_id,
            action,
            [{"key": "file", "field": "file", "old": _brief(old), "new": _brief(new)}],
        )
        for record_id, action, old, new in items
    ]
    activity.write(conn, acc.principal, acc.workspace_id, record_type_id, entries)


def _brief(file: dict[str, Any] | None) -> dict[str, Any] | None:
    if file is None:
        return None
    brief = {k: file[k] for k in ("id", "name", "size", "content_type")}
    if file.get("field") is not None:  # the file field it belongs to, by id (keys change)
        brief["field"] = file["field"]
    return brief


# ---- reading ---------------------------------------------------------------------------


def list_files(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int, *, deleted: bool = False
) -> list[dict[str, Any]]:
    """The record's files, oldest first; ``deleted`` lists the restorable deleted ones."""
    query = select(F).where(F.c.record_type_id == rt.id, F.c.record_id == record_id)
    if deleted:
        query = query.where(F.c.deleted_at >= _restore_cutoff()).order_by(F.c.deleted_at.desc())
    else:
        query = query.where(F.c.deleted_at.is_(None)).order_by(F.c.id)
    with transaction(runtime.control) as conn:
        rows = conn.execute(query.where(F.c.workspace_id == acc.workspace_id)).mappings().all()
    return [public(r) for r in rows]


def has_files(conn: Connection, record_type_id: int, record_id: int, field_id: int) -> bool:
    """Whether the record has a file (not deleted) in the file field ``field_id``."""
    query = select(F.c.id).where(
        F.c.record_type_id == record_type_id,
        F.c.record_id == record_id,
        F.c.field_id == field_id,
        F.c.deleted_at.is_(None),
    )
    return conn.execute(query.limit(1)).first() is not None


def get_file(runtime: Runtime, acc: Access, file_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        return public(_row(conn, acc, file_id))


def open_file(runtime: Runtime, acc: Access, file_id: int) -> Download:
    """The file and its bytes, verified against the hash before any of them is handed out.
    A deleted file is not served (restore it first)."""
    file = get_file(runtime, acc, file_id)
    if file["deleted_at"] is not None:
        raise NotFound("file is deleted; restore it to download it", details={"deleted": True})
    backends = file_storage.read_backends(runtime, acc.workspace_id)
    label = f"{file['name']!r} (file {file_id})"
    content = file_blobs.fetch(backends, blob_name(file["sha256"]), file["sha256"], label)
    return Download(file, content)


def _row(conn: Connection, acc: Access, file_id: int, *, lock: bool = False) -> RowMapping:
    query = select(F).where(F.c.id == file_id, F.c.workspace_id == acc.workspace_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None or (row["deleted_at"] is not None and row["deleted_at"] < _restore_cutoff()):
        raise NotFound("file not found")
    return row


def public(row: Any) -> dict[str, Any]:
    """A file as the API shows it."""
    return {
        "id": row["id"],
        "workspace": row["workspace_id"],
        "record_type": row["record_type_id"],
        "record": row["record_id"],
        "field": row["field_id"],
        "name": row["name"],
        "size": row["size"],
        "content_type": row["content_type"],
        "sha256": row["sha256"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "deleted_at": row["deleted_at"],
    }


# ---- merges ----------------------------------------------------------------------------


def move_for_merge(conn: Connection, record_type_id: int, loser_id: int, survivor_id: int) -> None:
    """A merge: the loser's files (its own and those of records merged into it) go to the
    survivor."""
    conn.execute(
        update(F)
        .where(F.c.record_type_id == record_type_id, F.c.record_id == loser_id)
        .values(record_id=survivor_id)
    )


def move_back_for_undo(
    conn: Connection, record_type_id: int, loser_id: int, survivor_id: int
) -> None:
    """Undoing a merge: the files uploaded to the loser, or to records still merged into it,
    go back to it; files added to the survivor since stay there."""
    origins = [loser_id, *activity.losers_of(conn, record_type_id, loser_id)]
    conn.execute(
        update(F)
        .where(
            F.c.record_type_id == record_type_id,
            F.c.record_id == survivor_id,
            F.c.origin_record_id.in_(origins),
        )
        .values(record_id=loser_id)
    )


# ---- purge -----------------------------------------------------------------------------


def purge(runtime: Runtime, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Remove files deleted more than 30 days ago, and every blob no file refers to any
    more. A backend that fails leaves its rows for the next run (which is then reported)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=RESTORE_DAYS)
    expired = F.c.deleted_at < cutoff
    with transaction(runtime.control) as conn:
        blobs = conn.execute(select(F.c.workspace_id, F.c.sha256).where(expired).distinct()).all()
    done = {"files": 0, "blobs": 0, "failed": 0}
    for workspace_id, sha256 in blobs:
        try:
            files_gone, blob_gone = _drop(runtime, workspace_id, sha256, expired)
        except StorageError as exc:
            log.error("purging blob %s of workspace %s failed: %s", sha256, workspace_id, exc)
            done["failed"] += 1
            continue
        done["files"] += files_gone
        done["blobs"] += blob_gone
    return done


def discard(runtime: Runtime, workspace_id: int, sha256s: Iterable[str]) -> None:
    """Remove staged blobs that no file row refers to (the write they were staged for was
    refused or failed). Best effort: a blob left behind is unreferenced, shown nowhere, and
    stored under its content's hash, so nothing is wrong, only space taken."""
    for sha256 in set(sha256s):
        try:
            _drop(runtime, workspace_id, sha256, None)
        except (StorageError, Unavailable) as exc:
            log.warning("staged blob %s of workspace %s left: %s", sha256, workspace_id, exc)


def _drop(
    runtime: Runtime, workspace_id: int, sha256: str, expired: ColumnElement[bool] | None
) -> tuple[int, int]:
    """Delete the ``expired`` rows of a blob, then the blob if no row is left: under the
    workspace's lock taken exclusively, so no upload attaches it meanwhile. Returns how
    many rows and blobs went."""
    backend = file_storage.write_backend(runtime, workspace_id)
    mine = (F.c.workspace_id == workspace_id) & (F.c.sha256 == sha256)
    with transaction(runtime.control, write=True) as conn:
        gate.lock_workspace(conn, workspace_id, exclusive=True)
        gone = conn.execute(delete(F).where(mine & expired)).rowcount if expired is not None else 0
        left = conn.execute(select(func.count()).select_from(F).where(mine)).scalar_one()
        if left:
            return gone, 0
        file_blobs.delete(backend, blob_name(sha256))
        return gone, 1


def _restore_cutoff() -> dt.datetime:
    return utcnow() - dt.timedelta(days=RESTORE_DAYS)
