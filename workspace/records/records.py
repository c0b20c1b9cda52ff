"""Records: create, read, update, delete, restore, list, bulk and upsert.

Every entry path (API, UI, forms, imports, connectors, automations) comes through here, so
validation, uniqueness, optimistic concurrency and the activity history hold everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from workspace import activity
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import Tx, is_deadlock, transaction
from workspace.errors import (
    BadRequest,
    Conflict,
    Merged,
    NotFound,
    Unavailable,
    ValidationFailed,
    VersionConflict,
)
from workspace.events import (
    RecordCreated,
    RecordDeleted,
    RecordEvent,
    RecordRestored,
    RecordUpdated,
)
from workspace.matching import RuleContext
from workspace.principal import Access
from workspace.records import (
    file_values,
    match_keys,
    ownership,
    restrictive,
    span_keys,
    tombstones,
)
from workspace.records import items as record_items
from workspace.records.write_items import Item, Outcome
from workspace.records.writes import write_batch
from workspace.runtime import Runtime
from workspace.schema import definitions, queries, rows
from workspace.schema.fields import ValueContext
from workspace.schema.record_values import load_records, parse_values
from workspace.schema.tables import RecordTypeDef

ATTEMPTS = 3
LIST_MAX = 200
T = TypeVar("T")
#: Writes of the caller in the same transaction as a batch, given its outcomes (an import
#: keeping its rows, an automation marking its step done): kept exactly when the records are.
After = Callable[[Tx, list[Outcome]], None]


class _StaleDefinition(Exception):
    def __init__(self, rt: RecordTypeDef) -> None:
        self.rt = rt


class _RolledBack(Exception):
    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes


# ---- reading ---------------------------------------------------------------------------


def get(runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int) -> dict[str, Any]:
    def read(rt: RecordTypeDef) -> dict[str, Any]:
        with transaction(runtime.data_engine(acc.workspace_id)) as conn:
            row = conn.execute(rt.select_by_id, {"record_id": record_id}).mappings().first()
            if row is None:
                raise NotFound("record not found")
            if row["deleted_at"] is not None:
                _raise_deleted(runtime, rt, record_id)
            record = load_records(conn, rt, [row])[0]
        file_values.fill(runtime, rt, [record])
        return record

    return _read(runtime, acc, rt, read)


def _raise_deleted(runtime: Runtime, rt: RecordTypeDef, record_id: int) -> None:
    """A merged record points at its survivor; any other deleted one can be restored."""
    with transaction(runtime.control) as conn:
        survivor = tombstones.merged_into(conn, rt.id, record_id)
    if survivor is not None:
        raise Merged(record_id, survivor)
    raise NotFound("record is deleted; restore it to see it again", details={"deleted": True})


def list_records(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    *,
    filter: Any = None,
    sort: str | None = None,
    search: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
    deleted: str = "exclude",
    with_total: bool = False,
) -> dict[str, Any]:
    """One page of records. ``cursor`` comes from the previous page's ``next_cursor``."""
    if not 1 <= limit <= LIST_MAX:
        raise BadRequest(f"limit: must be between 1 and {LIST_MAX}")
    if deleted not in {"exclude", "include", "only"}:
        raise BadRequest("deleted: must be exclude, include or only")

    def read(rt: RecordTypeDef) -> dict[str, Any]:
        ctx = ValueContext(acc.phone_region)
        where = queries.parse_filter(rt, filter, runtime.field_types, ctx) & queries.search_filter(
            rt, search or ""
        )
        keys = queries.parse_sort(rt, sort, runtime.field_types)
        spec = ",".join(("-" if k.descending else "") + k.field.key for k in keys)
        query = queries.base_select(rt, deleted).where(where)
        with transaction(runtime.data_engine(acc.workspace_id)) as conn:
            total = (
                conn.execute(queries.count_select(rt, query.whereclause)).scalar_one()
                if with_total
                else None
            )
            if cursor:
                query = query.where(
                    queries.after_row(conn, rt, keys, queries.decode_cursor(cursor, spec))
                )
            rows = (
                conn.execute(query.order_by(*queries.order_by(rt, keys)).limit(limit + 1))
                .mappings()
                .all()
            )
            page = load_records(conn, rt, rows[:limit])
        file_values.fill(runtime, rt, page)
        next_cursor = queries.encode_cursor(page[-1]["id"], spec) if len(rows) > limit else None
        result: dict[str, Any] = {"items": page, "next_cursor": next_cursor}
        if total is not None:
            result["total"] = total
        return result

    return _read(runtime, acc, rt, read)


def _read(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, read: Callable[[RecordTypeDef], T]
) -> T:
    """Run a read; if a schema change dropped a column under it, retry once on the new one."""
    try:
        return read(rt)
    except DBAPIError:
        fresh = _fresh(runtime, acc, rt)
        if fresh.schema_version == rt.schema_version:
            raise
        return read(fresh)


def _fresh(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> RecordTypeDef:
    return definitions.open_type(runtime, acc.principal, acc.workspace_id, rt.id)[1]


# ---- writing ---------------------------------------------------------------------------


def create(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    fields: Any,
    *,
    override: match_keys.Override | None = None,
    after: After | None = None,
) -> dict[str, Any]:
    """Create a record. Dedupe rules may merge it into a record on file instead (the answer
    then has ``merged_into``) or list possible ``duplicates`` queued for review; an entry
    path with its own duplicate policy (a public form) passes an ``override``. ``after``
    writes in the same transaction as the record (an automation marking its step done)."""
    acc.require("member")
    outcome = _single(
        runtime,
        acc,
        rt,
        lambda rt, tx: [record_items.create_item(rt, acc, 0, fields)],
        override=override,
        after=after,
    )
    return with_dedupe(outcome)


def with_dedupe(outcome: Outcome) -> dict[str, Any]:
    """A written record with what dedupe did, in the API's words."""
    record = dict(outcome.record or {})
    if outcome.merged_into is not None:
        record["merged_into"] = outcome.merged_into
    if outcome.candidates:
        record["duplicates"] = [c.public() for c in outcome.candidates]
    if outcome.kept:
        record["kept"] = activity.jsonable(outcome.kept)
    return record


def check_duplicates(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, fields: Any, *, record_id: int | None = None
) -> list[dict[str, Any]]:
    """Would these values be a duplicate? The same rules as a write, without writing."""
    parsed = parse_values(rt, fields, ValueContext(acc.phone_region), partial=True)
    if parsed.errors:
        raise ValidationFailed("invalid values", fields=parsed.errors)
    op = "create" if record_id is None else "update"
    ctx = RuleContext(acc.phone_region)
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        found = match_keys.find(conn, rt, parsed.values, ctx, exclude=record_id, op=op)
        across = span_keys.find(conn, rt, parsed.values, ctx, exclude=record_id)
    return [
        {**c.public(), "mode": rd.on_create if op == "create" else rd.on_update}
        for rd, candidates in found
        for c in candidates
    ] + [
        {**c.public(), "mode": span.me.on_create if op == "create" else span.me.on_update}
        for span, c in across
    ]


def update_record(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    fields: Any,
    *,
    version: int | None = None,
    after: After | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Partial update. With ``version``, a record changed since then is refused with 409.
    ``after`` writes in the same transaction, as for :func:`create`. An admin editing the
    record may loosen a restrictive field, giving a ``reason`` the history keeps; for anyone
    else (and any automatic path) a loosening is refused with 409."""
    acc.require("member")
    direct = acc.principal.source in {"api", "ui"}
    loosen = restrictive.Loosening(
        allowed=direct and acc.can("admin"), reason=(reason or "").strip()[:500] or None
    )
    outcome = _single(
        runtime,
        acc,
        rt,
        lambda rt, tx: [record_items.update_item(rt, acc, 0, record_id, fields, version)],
        after=after,
        loosen=loosen,
    )
    return with_dedupe(outcome)


def delete(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int, *, version: int | None = None
) -> None:
    """Soft delete: the record leaves lists and lookups but can be restored."""
    acc.require("member")
    _set_deleted(runtime, acc, rt, record_id, deleted=True, version=version)


def restore(runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int) -> dict[str, Any]:
    acc.require("member")
    _set_deleted(runtime, acc, rt, record_id, deleted=False, version=None)
    return get(runtime, acc, rt, record_id)


def upsert(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, fields: Any, match_on: Any
) -> tuple[dict[str, Any], bool]:
    """Update the record matching ``match_on`` or create one; returns (record, created)."""
    acc.require("member")
    record_items.match_fields(rt, match_on)
    outcome = _single(
        runtime,
        acc,
        rt,
        lambda rt, tx: record_items.upsert_items(
            rt, acc, tx, [{"fields": fields}], record_items.match_fields(rt, match_on)
        ),
    )
    return outcome.record, outcome.status == "created"  # type: ignore[return-value]


def bulk(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    items: Any,
    *,
    mode: str = "create",
    match_on: Any = None,
    atomic: bool = True,
    after: After | None = None,
) -> dict[str, Any]:
    """Create, update or upsert up to ``bulk_limit`` records in one transaction.

    ``atomic``: one bad item writes nothing (the default). Otherwise good items are written
    and bad ones reported. Either way every item gets a result.
    """
    acc.require("member")
    limit = runtime.settings.bulk_limit
    if not isinstance(items, list) or not items:
        raise ValidationFailed.single("items", "must be a non-empty list")
    if len(items) > limit:
        raise ValidationFailed.single("items", f"holds at most {limit} items per call")
    if mode not in {"create", "update", "upsert"}:
        raise ValidationFailed.single("mode", "must be create, update or upsert")
    if mode == "upsert":
        record_items.match_fields(
            rt, match_on
        )  # refuse a bad match_on before opening a transaction

    def build(rt: RecordTypeDef, tx: Tx) -> list[Item]:
        if mode == "upsert":
            return record_items.upsert_items(
                rt, acc, tx, items, record_items.match_fields(rt, match_on)
            )
        if mode == "update":
            return [record_items.bulk_update_item(rt, acc, i, item) for i, item in enumerate(items)]
        return [record_items.bulk_create_item(rt, acc, i, item) for i, item in enumerate(items)]

    outcomes, written = _run(runtime, acc, rt, build, atomic=atomic, after=after)
    return _bulk_result(outcomes, written)


def create_from_texts(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    rows: list[dict[str, str]],
    *,
    override: match_keys.Override | None,
    after: After,
) -> list[Outcome]:
    """Create up to ``bulk_limit`` records from values written for people (an import's
    cells), each row on its own: good rows are written, bad ones get their errors. Dedupe
    applies as for any create, with ``override`` as the import's duplicate policy."""
    acc.require("member")
    if len(rows) > runtime.settings.bulk_limit:
        raise ValueError("more rows than one batch may hold")

    def build(rt: RecordTypeDef, tx: Tx) -> list[Item]:
        return [record_items.text_item(rt, acc, i, row) for i, row in enumerate(rows)]

    outcomes, _ = _run(runtime, acc, rt, build, atomic=False, override=override, after=after)
    return outcomes


def write_built(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    build: Callable[[RecordTypeDef, Tx], list[Item]],
    *,
    override: match_keys.Override | None,
    after: Callable[[Tx, list[Outcome]], None],
) -> list[Outcome]:
    """Write items that ``build`` makes inside the write transaction (a connector's page:
    which record a remote row is, is looked up there, so the answer holds until commit),
    each on its own like an import's rows; ``after`` records the outcomes in the same
    transaction. ``build`` runs again if the transaction is retried."""
    acc.require("member")
    outcomes, _ = _run(runtime, acc, rt, build, atomic=False, override=override, after=after)
    return outcomes


def _single(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    build: Callable[[RecordTypeDef, Tx], list[Item]],
    *,
    override: match_keys.Override | None = None,
    after: After | None = None,
    loosen: restrictive.Loosening | None = None,
) -> Outcome:
    outcomes, _ = _run(
        runtime, acc, rt, build, atomic=True, override=override, after=after, loosen=loosen
    )
    outcome = outcomes[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome


def _run(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    build: Callable[[RecordTypeDef, Tx], list[Item]],
    *,
    atomic: bool,
    override: match_keys.Override | None = None,
    after: After | None = None,
    loosen: restrictive.Loosening | None = None,
) -> tuple[list[Outcome], bool]:
    """Run a batch in one transaction, retrying on a changed definition, a unique index
    refusing a value (the retry names the clash per item), or a deadlock. Returns the
    outcomes and whether anything was written. ``after`` records the outcomes in the same
    transaction (an import's rows), so they are kept exactly when the writes are."""
    ctx = RuleContext(acc.phone_region)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with gate.record_writes(runtime, acc.workspace_id) as tx:
                current = definitions.current_def(runtime, tx.control, rt)
                if current is not rt:
                    raise _StaleDefinition(current)
                items = build(rt, tx)
                outcomes = write_batch(
                    tx,
                    acc.principal,
                    rt,
                    items,
                    check_clashes=attempt > 1,
                    ctx=ctx,
                    override=override,
                    loosen=loosen,
                )
                if atomic and any(o.error for o in outcomes):
                    raise _RolledBack(outcomes)
                if after is not None:
                    after(tx, outcomes)
        except _StaleDefinition as stale:
            rt = stale.rt
            continue
        except _RolledBack as rolled:
            return rolled.outcomes, False
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise Conflict("a concurrent write claimed the same unique value; retry") from None
            continue
        except Unavailable as exc:
            if attempt == ATTEMPTS or not is_deadlock(exc.__cause__):
                raise
            continue
        _emit_all(runtime, acc, rt, outcomes)
        file_values.fill(runtime, rt, [o.record for o in outcomes if o.record is not None])
        return outcomes, True
    raise Unavailable("the record type kept changing during the write; retry")


def _set_deleted(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    *,
    deleted: bool,
    version: int | None,
) -> None:
    with gate.record_writes(runtime, acc.workspace_id) as tx:
        rt = definitions.current_def(runtime, tx.control, rt)
        retired = ownership.retired_error(rt)
        if retired is not None:
            raise retired
        row = _lock_for_deletion(tx.data, rt, record_id, deleted=deleted, version=version)
        try:
            with tx.data.begin_nested():
                write_deletion(tx.data, rt, acc, record_id, row.version, deleted=deleted)
        except IntegrityError:
            raise Conflict(
                "another record now holds this record's unique values (or is the same "
                "customer by a dedupe rule); change one of them first"
            ) from None
        action = "delete" if deleted else "restore"
        entries = [activity.Entry(record_id, action, [])]
        activity.write(tx.control, acc.principal, acc.workspace_id, rt.id, entries)
    runtime.emit(_event(RecordDeleted if deleted else RecordRestored, acc, rt, record_id))


def _lock_for_deletion(
    conn: Connection, rt: RecordTypeDef, record_id: int, *, deleted: bool, version: int | None
) -> Any:
    table = rt.table
    row = conn.execute(
        select(table.c.version, table.c.deleted_at).where(table.c.id == record_id).with_for_update()
    ).first()
    if row is None or (row.deleted_at is not None) == deleted:
        raise NotFound("record not found" if row is None or deleted else "record is not deleted")
    if version is not None and version != row.version:
        raise VersionConflict(
            f"record {record_id} was changed by someone else (now version {row.version})",
            details={"current_version": row.version, "record": record_id},
        )
    return row


def write_deletion(
    conn: Connection,
    rt: RecordTypeDef,
    acc: Access,
    record_id: int,
    old_version: int,
    *,
    deleted: bool,
    check_duplicates: bool = True,
) -> None:
    """Soft-delete or restore one row. A deleted record holds no unique value and no dedupe
    key (so it blocks nobody); restoring takes them back, which may clash. Undoing a merge
    restores without the duplicate check: bringing the twin back is the point."""
    now = utcnow()
    values: dict[str, Any] = (
        {"deleted_at": now, "deleted_by": acc.user_id, "alive": None}
        if deleted
        else {"deleted_at": None, "deleted_by": None, "alive": True}
    )
    values.update(version=old_version + 1, updated_at=now, updated_by=acc.user_id)
    rows.update_row(conn, rt, record_id, old_version, values)
    if deleted:
        match_keys.drop_keys(conn, rt, [record_id])
        span_keys.drop_keys(conn, rt, [record_id])
        return
    row = conn.execute(rt.select_by_id, {"record_id": record_id}).mappings().one()
    restored = load_records(conn, rt, [row])
    ctx = RuleContext(acc.phone_region)
    if check_duplicates:
        for rd, matches in match_keys.find(conn, rt, restored[0]["fields"], ctx, exclude=record_id):
            if rd.enforced:  # the customer came back on file meanwhile: one of them must go
                raise match_keys.duplicate_error(rt, rd, matches[0])
        span_keys.refuse_restore(conn, rt, restored[0]["fields"], ctx, record_id)
    match_keys.write_keys(conn, rt, restored, ctx, lenient=not check_duplicates)
    span_keys.write_keys(conn, rt, restored, ctx, lenient=not check_duplicates)


# ---- results and events ----------------------------------------------------------------


def _bulk_result(outcomes: list[Outcome], written: bool) -> dict[str, Any]:
    results = []
    for o in outcomes:
        entry: dict[str, Any] = {"index": o.index}
        if o.error is not None:
            entry.update(status="error", error=o.error.to_dict()["error"])
        elif not written:
            entry.update(status="skipped", reason="not written: other items in the batch failed")
        else:
            record = with_dedupe(o)
            entry.update(status=o.status, id=record["id"], record=record)
            for key in ("merged_into", "duplicates"):
                if key in record:
                    entry[key] = record[key]
        results.append(entry)
    counts = {
        s: sum(1 for r in results if r["status"] == s)
        for s in ("created", "updated", "merged", "unchanged", "error", "skipped")
    }
    return {"written": written, **counts, "results": results}


def _emit_all(runtime: Runtime, acc: Access, rt: RecordTypeDef, outcomes: list[Outcome]) -> None:
    for o in outcomes:
        if o.status in {"created", "updated", "merged"} and o.record is not None:
            kind = RecordCreated if o.status == "created" else RecordUpdated
            runtime.emit(_event(kind, acc, rt, o.record["id"]))


def _event(kind: type[RecordEvent], acc: Access, rt: RecordTypeDef, record_id: int) -> RecordEvent:
    return kind(
        workspace_id=acc.workspace_id,
        actor_user_id=acc.user_id,
        source=acc.principal.source,
        record_type_id=rt.id,
        record_id=record_id,
    )
