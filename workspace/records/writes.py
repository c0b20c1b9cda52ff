"""Writing a batch of record creates and updates inside one open transaction.

Single writes are batches of one, so bulk calls, upserts, the UI and forms share one path.
Each item ends as an :class:`Outcome`; the caller decides whether one failed item rolls back
the batch. Unique indexes are the arbiter of uniqueness; the checks here only exist to name
the field and the clashing record in the error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, tuple_

from workspace import activity
from workspace.clock import utcnow
from workspace.db import Tx
from workspace.errors import (
    Conflict,
    NotFound,
    UniqueViolation,
    ValidationFailed,
    VersionConflict,
)
from workspace.matching import RuleContext
from workspace.principal import Principal
from workspace.records import (
    dedupe_decisions,
    match_keys,
    ownership,
    propagation,
    restrictive,
    span_keys,
)
from workspace.records.match_keys import Candidate, Override, Verdict
from workspace.records.write_items import Item, Outcome, normalised, sent_values
from workspace.schema.fields import FieldDef
from workspace.schema.record_values import (
    make_lookup,
    record_out,
    resolve_references,
    to_columns,
    with_links,
)
from workspace.schema.rows import insert_rows, update_row
from workspace.schema.tables import RecordTypeDef


def write_batch(
    tx: Tx,
    principal: Principal,
    rt: RecordTypeDef,
    items: list[Item],
    *,
    check_clashes: bool,
    ctx: RuleContext,
    override: Override | None = None,
    check_owners: bool = True,
    loosen: restrictive.Loosening | None = None,
) -> list[Outcome]:
    """Validate, dedupe and write ``items``. Items that fail carry an error; the rest are
    written, with their activity entries and dedupe keys, in the caller's transaction.

    ``check_owners``: refuse items that would change a field another connection owns (off
    only for a merge, which chooses between values already on file).

    ``loosen``: leave to loosen restrictive fields (an admin editing the record, with a
    reason; a merge undone); without it they only tighten (see ``restrictive``).

    ``check_clashes`` looks up unique values first so each clashing item gets its own error
    naming the other record. The first attempt skips it: the unique index decides anyway, and
    the caller retries with the check when the index refuses.
    """
    _mark_parse_errors(items)
    _refuse_creates(rt, items)
    _refuse_retired(rt, items)
    lookup = make_lookup(tx.control, tx.data, rt.workspace_id)
    resolve_references(rt, [i.parsed for i in items if i.error is None], lookup)
    _mark_parse_errors(items)
    _lock_current(tx.data, rt, [i for i in items if not i.is_create and i.error is None])
    rules = override.apply(rt) if override is not None else None
    verdicts = dedupe_decisions.decide(tx.data, rt, items, ctx, rules) if rt.dedupe else {}
    if rt.spans:
        verdicts = verdicts or {i.index: Verdict() for i in items}
        values = {i.index: dedupe_decisions.prospective(rt, i) for i in items if i.error is None}
        span_keys.decide(tx.data, rt, items, verdicts, ctx, values)
    _turn_into_merges(tx.data, rt, items, verdicts)
    if check_owners:
        ownership.refuse_owned(rt, principal, items)
    guard = restrictive.Guard(rt, principal, loosen)
    for item in items:
        if not item.is_create:
            guard.check(item, matched=verdicts.get(item.index, Verdict()).merged_into is not None)
    if check_clashes:
        _mark_clashes(tx.data, rt, [i for i in items if i.error is None])
    batch = _Batch(tx.data, rt, principal, utcnow(), verdicts, guard)
    creates = [i for i in items if i.is_create and i.error is None and not batch.follows(i)]
    batch.insert(creates, propagation.inherit(tx.data, rt, creates, ctx))
    for item in items:
        if not item.is_create and item.error is None:
            batch.update(item)
    for item in items:
        if batch.follows(item) and item.error is None:
            batch.follow(item, items)
    match_keys.write_keys(tx.data, rt, batch.written(), ctx, created=batch.created)
    span_keys.write_keys(tx.data, rt, batch.written(), ctx, created=batch.created)
    match_keys.queue_pairs(tx.control, rt, batch.pairs(), principal)
    touch = {"updated_at": batch.now, "updated_by": principal.user_id}
    batch.entries += propagation.propagate(tx.data, rt, batch.rows, batch.entries, ctx, touch)
    activity.write(tx.control, principal, rt.workspace_id, rt.id, batch.entries)
    return [batch.outcomes.get(i.index) or Outcome(i.index, "error", error=i.error) for i in items]


class _Batch:
    """The writes of one batch and what they produced, in order."""

    def __init__(
        self,
        conn: Connection,
        rt: RecordTypeDef,
        principal: Principal,
        now: Any,
        verdicts: dict[int, Verdict],
        guard: restrictive.Guard,
    ) -> None:
        self.conn, self.rt, self.principal, self.now = conn, rt, principal, now
        self.verdicts, self.guard = verdicts, guard
        self.outcomes: dict[int, Outcome] = {}
        self.entries: list[activity.Entry] = []
        self.rows: dict[int, dict[str, Any]] = {}
        self.created: set[int] = set()

    def follows(self, item: Item) -> bool:
        verdict = self.verdicts.get(item.index)
        return verdict is not None and verdict.follows is not None

    def insert(self, creates: list[Item], reasons: dict[int, dict[str, str]]) -> None:
        """Insert ``creates``; ``reasons`` says why a value was not the one sent (per item
        index and field: a restrictive value taken from the person's other records)."""
        rows = _insert(self.conn, self.rt, creates, self.principal, self.now)
        for item, row in zip(creates, rows, strict=True):
            self.created.add(row["id"])
            self._done(item, "created", row)
            changes = _changes(self.rt, {}, sent_values(self.rt, item))
            why = reasons.get(item.index, {})
            changes = [
                {**c, "reason": why[c["field"]]} if c["field"] in why else c for c in changes
            ]
            self.entries.append(activity.Entry(row["id"], "create", changes))

    def update(self, item: Item) -> None:
        row, changes = _update(self.conn, self.rt, item, self.principal, self.now)
        merged = self.verdicts.get(item.index, Verdict()).merged_into is not None
        self._done(item, "merged" if merged else "updated" if changes else "unchanged", row)
        self.guard.annotate(item, changes)
        if changes:
            self.entries.append(activity.Entry(row["id"], "update", changes))

    def follow(self, item: Item, items: list[Item]) -> None:
        """A later duplicate in the batch: merge it into what its first occurrence wrote."""
        verdict = self.verdicts[item.index]
        leader = self.outcomes.get(verdict.follows)  # type: ignore[arg-type]
        if leader is None or leader.record is None:
            first = items[verdict.follows].error  # type: ignore[index]
            item.error = first or NotFound("its first occurrence in this batch was not written")
            return
        record_id = leader.record["id"]
        item.record_id, item.current = record_id, self.rows[record_id]
        _keep_by_policy(self.rt, item, verdict)
        verdict.merged_into = record_id
        self.guard.check(item, matched=True)
        if item.error is None:
            self.update(item)

    def _done(self, item: Item, status: str, row: dict[str, Any]) -> None:
        self.rows[row["id"]] = row
        verdict = self.verdicts.get(item.index, Verdict())
        self.outcomes[item.index] = Outcome(
            item.index,
            status,
            record_out(self.rt, row),
            merged_into=verdict.merged_into,
            candidates=verdict.candidates,
            kept=self.guard.kept.get(item.index, {}),
        )

    def written(self) -> list[dict[str, Any]]:
        return [record_out(self.rt, row) for row in self.rows.values()]

    def pairs(self) -> list[tuple[int, Candidate]]:
        return [
            (o.record["id"], c)
            for o in self.outcomes.values()
            if o.record is not None
            for c in o.candidates
            if c.record_id != o.record["id"] or c.record_type_id is not None
        ]


def _turn_into_merges(
    conn: Connection, rt: RecordTypeDef, items: list[Item], verdicts: dict[int, Verdict]
) -> None:
    """Creates that dedupe merges into a record on file become updates of it, keeping only
    the incoming values the rule's merge policy allows. Two creates merging into the same
    record: the second follows the first."""
    first_into: dict[int, Item] = {}
    merges = []
    for item in items:
        verdict = verdicts.get(item.index)
        if item.error is not None or verdict is None or verdict.merged_into is None:
            continue
        if verdict.merged_into in first_into:
            verdict.follows, verdict.merged_into = first_into[verdict.merged_into].index, None
            continue
        first_into[verdict.merged_into] = item
        item.record_id = verdict.merged_into
        merges.append(item)
    _lock_current(conn, rt, merges)
    for item in merges:
        if item.error is None:
            _keep_by_policy(rt, item, verdicts[item.index])


def _keep_by_policy(rt: RecordTypeDef, item: Item, verdict: Verdict) -> None:
    assert verdict.merge_rule is not None and item.current is not None
    item.parsed.values = match_keys.merged_values(
        rt, verdict.merge_rule, item.parsed.values, item.current
    )


def _refuse_creates(rt: RecordTypeDef, items: list[Item]) -> None:
    """An adopted table that cannot take new rows from us says why per item."""
    if rt.source is None or rt.source.no_create is None:
        return
    for item in items:
        if item.is_create and item.error is None:
            item.error = Conflict(f"records cannot be created in this table: {rt.source.no_create}")


def _refuse_retired(rt: RecordTypeDef, items: list[Item]) -> None:
    error = ownership.retired_error(rt)
    if error is None:
        return
    for item in items:
        if item.error is None:
            item.error = error


def _mark_parse_errors(items: list[Item]) -> None:
    for item in items:
        if item.error is None and item.parsed.errors:
            fields = item.parsed.errors
            message = "; ".join(f"{k}: {v}" for k, v in list(fields.items())[:5])
            item.error = ValidationFailed(message, fields=dict(fields))


def _lock_current(conn: Connection, rt: RecordTypeDef, items: list[Item]) -> None:
    """Load (and lock) the rows being updated; check existence and expected versions."""
    if not items:
        return
    ids = sorted({i.record_id for i in items})  # type: ignore[type-var]
    seen: set[int] = set()
    for item in items:
        if item.record_id in seen:
            item.error = ValidationFailed.single(
                "id", f"record {item.record_id} appears twice in this batch"
            )
        seen.add(item.record_id)  # type: ignore[arg-type]
    locked = conn.execute(rt.lock_by_ids, {"record_ids": ids}).mappings().all()
    current = {row["id"]: row for row in with_links(conn, rt, locked)}
    for item in items:
        row = current.get(item.record_id)
        if item.error is not None:
            continue
        if row is None or row["deleted_at"] is not None:
            item.error = NotFound(
                f"record {item.record_id} not found" + (" (it is deleted)" if row else "")
            )
        elif item.expected_version is not None and item.expected_version != row["version"]:
            item.error = VersionConflict(
                f"record {item.record_id} was changed by someone else "
                f"(now version {row['version']}); reload it and apply your change again",
                details={"current_version": row["version"], "record": item.record_id},
            )
        else:
            item.current = row


def _unique_groups(rt: RecordTypeDef) -> list[tuple[FieldDef, ...]]:
    groups: list[tuple[FieldDef, ...]] = [(f,) for f in rt.scalar_fields if f.unique]
    for combo in rt.unique_together:
        groups.append(tuple(rt.field_by_id(fid) for fid in combo.field_ids))  # type: ignore[misc]
    return groups


def key_columns(group: tuple[FieldDef, ...]) -> list[str]:
    """The columns a unique group's index covers (a money value is amount and currency)."""
    return [c for f in group for c in f.type.value_columns(f)]


def unique_key(row: dict[str, Any], group: tuple[FieldDef, ...]) -> tuple[Any, ...] | None:
    """A row's values for a unique group, or None if any is empty (empty never clashes)."""
    key = tuple(row.get(c) for c in key_columns(group))
    return None if any(v is None for v in key) else key


def _key_of(rt: RecordTypeDef, item: Item, group: tuple[FieldDef, ...]) -> tuple[Any, ...] | None:
    """The item's stored values for a unique group after the write."""
    merged = dict(item.current or {})
    merged.update(to_columns(rt, item.parsed.values))
    return unique_key(merged, group)


def _mark_clashes(conn: Connection, rt: RecordTypeDef, items: list[Item]) -> None:
    for group in _unique_groups(rt):
        touching = [
            i for i in items if i.error is None and any(f.key in i.parsed.values for f in group)
        ]
        keyed = [(i, k) for i in touching if (k := _key_of(rt, i, group)) is not None]
        if not keyed:
            continue
        existing = existing_keys(conn, rt, group, {k for _, k in keyed})
        seen: dict[tuple[Any, ...], Item] = {}
        for item, key in keyed:
            holder = existing.get(key)
            if holder is not None and holder != item.record_id:
                item.error = _clash(group, key, holder)
            elif key in seen:
                item.error = _clash(group, key, None, seen[key].index)
            else:
                seen[key] = item


def existing_keys(
    conn: Connection, rt: RecordTypeDef, group: tuple[FieldDef, ...], keys: set[tuple[Any, ...]]
) -> dict[tuple[Any, ...], int]:
    table = rt.table
    columns = [table.c[name] for name in key_columns(group)]
    found: dict[tuple[Any, ...], int] = {}
    wanted = sorted(keys, key=repr)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        match = (
            columns[0].in_([k[0] for k in chunk])
            if len(columns) == 1
            else tuple_(*columns).in_(chunk)
        )
        rows = conn.execute(select(table.c.id, *columns).where(match, table.c.alive.is_not(None)))
        for row in rows:
            found[tuple(row[1:])] = row[0]
    return found


def _clash(
    group: tuple[FieldDef, ...],
    key: tuple[Any, ...],
    record_id: int | None,
    index: int | None = None,
) -> UniqueViolation:
    keys = [f.key for f in group]
    where = f"record {record_id}" if record_id is not None else f"item {index} of this batch"
    reason = (
        f"is already used by {where}"
        if len(keys) == 1
        else f"together with {', '.join(keys)} is already used by {where}"
    )
    details: dict[str, Any] = {"fields_clashing": keys}
    if record_id is not None:
        details["record"] = record_id
    return UniqueViolation(
        f"{', '.join(keys)} {reason}", fields={k: reason for k in keys}, details=details
    )


def _insert(
    conn: Connection, rt: RecordTypeDef, items: list[Item], principal: Principal, now: Any
) -> list[dict[str, Any]]:
    """Insert the items; return their rows as stored (the values written, plus the ids)."""
    system = {
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": principal.user_id,
        "updated_by": principal.user_id,
        "alive": True,
    }
    rows = []
    for item in items:
        row = dict(system)
        for f in rt.scalar_fields:
            row.update(f.type.to_row(f, item.parsed.values.get(f.key)))
        rows.append(row)
    for row, record_id in zip(rows, insert_rows(conn, rt, rows), strict=True):
        row.update(id=record_id, deleted_at=None, deleted_by=None)
    for f in rt.link_fields:
        links: list[dict[str, Any]] = []
        for item, row in zip(items, rows, strict=True):
            values = normalised(f, item.parsed.values.get(f.key))
            row[f.column] = values
            links.extend({"record_id": row["id"], "value": v} for v in values)
        if links:
            conn.execute(insert(rt.link_table(f)), links)
    return rows


def _update(
    conn: Connection, rt: RecordTypeDef, item: Item, principal: Principal, now: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write only what differs; return the row as now stored and the activity changes."""
    current = item.current or {}
    old_values = {f.key: f.type.from_row(f, current) for f in rt.fields}
    new_values = {k: v for k, v in sent_values(rt, item).items() if v != old_values.get(k)}
    if not new_values:
        return current, []
    values = {
        **to_columns(rt, new_values),
        "version": current["version"] + 1,
        "updated_at": now,
        "updated_by": principal.user_id,
    }
    assert item.record_id is not None  # an update names its record
    done = update_row(conn, rt, item.record_id, current["version"], values)
    if done != 1:  # the row is locked: this would be a bug, not a race
        raise VersionConflict(f"record {item.record_id} changed during the update; retry")
    row = {**current, **values}
    for f in rt.link_fields:
        if f.key in new_values:
            link = rt.link_table(f)
            conn.execute(delete(link).where(link.c.record_id == item.record_id))
            links = [{"record_id": item.record_id, "value": v} for v in new_values[f.key]]
            if links:
                conn.execute(insert(link), links)
            row[f.column] = new_values[f.key]
    return row, _changes(rt, old_values, new_values)


def _changes(rt: RecordTypeDef, old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        activity.change(f.key, old.get(f.key), new[f.key])
        for f in rt.fields
        if f.key in new and not (f.key not in old and f.type.is_empty(new[f.key]))
    ]
