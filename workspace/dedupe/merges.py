"""Merging two records of the same customer, and undoing it.

The survivor takes the values survivorship picks (or a person chose), the links other records
had to the loser, and shows the loser's history as its own. The loser stays as a deleted
tombstone pointing at the survivor, so old links and URLs still arrive somewhere. Everything
undo needs is written down with the merge, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from workspace import activity, outbox
from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import Tx, inserted_id, transaction
from workspace.dedupe import survivorship
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.files import files
from workspace.matching import RuleContext
from workspace.principal import Access
from workspace.records import external_ids, records, restrictive
from workspace.records.write_items import Item
from workspace.records.writes import write_batch
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import FieldError, ValueContext
from workspace.schema.record_values import Parsed, load_records
from workspace.schema.rows import touch_row
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.work import moves

MG, PAIRS = m.merges, m.duplicate_pairs


def merge(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    survivor_id: int,
    loser_id: int,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge ``loser_id`` into ``survivor_id``; returns the merge with the survivor as now."""
    acc.require("member")
    if survivor_id == loser_id:
        raise ValidationFailed.single("loser", "must be another record than the survivor")
    inbound = _inbound_links(runtime, acc, rt)
    with gate.record_writes(runtime, acc.workspace_id) as tx:
        rt = definitions.current_def(runtime, tx.control, rt)
        survivor, loser = _live(tx.data, rt, [survivor_id, loser_id])
        chosen = survivorship.pick(rt, survivor, loser, overrides)
        moved = _move_links(tx, acc, inbound, loser_id, survivor_id)
        moved.append(moves.move(tx.control, acc.workspace_id, rt.id, loser_id, survivor_id))
        files.move_for_merge(tx.control, rt.id, loser_id, survivor_id)
        external_ids.move_for_merge(tx.control, rt.id, loser_id, survivor_id)
        records.write_deletion(tx.data, rt, acc, loser_id, loser["version"], deleted=True)
        after = _write_survivor(tx, acc, rt, survivor_id, chosen)
        merge_id = inserted_id(
            tx.control.execute(
                insert(MG).values(
                    workspace_id=acc.workspace_id,
                    record_type_id=rt.id,
                    survivor_id=survivor_id,
                    loser_id=loser_id,
                    survivor_before=activity.jsonable(survivor["fields"]),
                    survivor_version=after["version"],
                    moved_links=moved,
                    created_at=utcnow(),
                    created_by=acc.user_id,
                )
            )
        )
        _note(tx, acc, rt, survivor_id, loser_id, "merge")
        _close_pairs(tx.control, rt, loser_id, acc.user_id, "merged")
        data = {"survivor_id": survivor_id, "loser_id": loser_id, "merge_id": merge_id}
        merged = outbox.by(
            acc.principal,
            acc.workspace_id,
            "record.merged",
            record_type_id=rt.id,
            record_id=survivor_id,
            data=data,
        )
        outbox.write(tx.control, [merged])
    return {"id": merge_id, "survivor": after, "loser": loser_id}


def undo(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, merge_id: int, *, force: bool = False
) -> dict[str, Any]:
    """Bring the loser back and give the survivor its values from before the merge.

    If the survivor changed since, undo would overwrite that change: it is refused (409)
    unless ``force``.
    """
    acc.require("member")
    inbound = _inbound_links(runtime, acc, rt)
    with gate.record_writes(runtime, acc.workspace_id) as tx:
        rt = definitions.current_def(runtime, tx.control, rt)
        done = (
            tx.control.execute(
                select(MG)
                .where(MG.c.id == merge_id, MG.c.record_type_id == rt.id)
                .with_for_update()
            )
            .mappings()
            .first()
        )
        if done is None or done["undone_at"] is not None:
            raise NotFound("merge not found (or already undone)")
        (survivor,) = _live(tx.data, rt, [done["survivor_id"]])
        if survivor["version"] != done["survivor_version"] and not force:
            raise Conflict(
                "the surviving record was changed after the merge; undoing would lose that "
                "change (repeat with force to undo anyway)",
                details={"record": survivor["id"], "forceable": True},
            )
        # The survivor first, while the loser is still a tombstone: its values were
        # checked against the loser before the merge already, and a rule that blocks edits
        # must not refuse them now because the loser, brought back, shares its email.
        before = {k: v for k, v in done["survivor_before"].items() if rt.field_by_key(k)}
        # Undo restores exactly what was on file, a looser restrictive value included.
        undone = restrictive.Loosening(allowed=True, reason=f"merge {merge_id} undone")
        _write_survivor(tx, acc, rt, survivor["id"], before, loosen=undone)
        loser_row = tx.data.execute(rt.select_by_id, {"record_id": done["loser_id"]}).mappings()
        loser_version = loser_row.one()["version"]
        records.write_deletion(
            tx.data, rt, acc, done["loser_id"], loser_version, deleted=False, check_duplicates=False
        )
        _restore_links(tx, acc, inbound, done["moved_links"], done["loser_id"], survivor["id"])
        moves.move_back(tx.control, done["moved_links"], done["loser_id"])
        files.move_back_for_undo(tx.control, rt.id, done["loser_id"], survivor["id"])
        external_ids.move_back_for_undo(tx.control, rt.id, done["loser_id"], survivor["id"])
        tx.control.execute(update(MG).where(MG.c.id == merge_id).values(undone_at=utcnow()))
        _note(tx, acc, rt, survivor["id"], done["loser_id"], "unmerge")
        _reopen_pair(tx.control, rt, survivor["id"], done["loser_id"])
    return {"id": merge_id, "undone": True, "survivor": survivor["id"], "loser": done["loser_id"]}


# ---- reading (the review screens) ----------------------------------------------------


def get_merge(runtime: Runtime, acc: Access, rt: RecordTypeDef, merge_id: int) -> dict[str, Any]:
    """One merge of ``rt``: who survived (and its values before), who was merged into it,
    whether it was undone."""
    with transaction(runtime.control) as conn:
        row = (
            conn.execute(select(MG).where(MG.c.id == merge_id, MG.c.record_type_id == rt.id))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("merge not found")
    return _public_merge(row)


def find_merge(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, record_a: int, record_b: int
) -> dict[str, Any] | None:
    """The latest merge of these two records (either way round) that was not undone."""
    pair = {record_a, record_b}
    with transaction(runtime.control) as conn:
        row = (
            conn.execute(
                select(MG)
                .where(
                    MG.c.record_type_id == rt.id,
                    MG.c.survivor_id.in_(pair),
                    MG.c.loser_id.in_(pair),
                    MG.c.undone_at.is_(None),
                )
                .order_by(MG.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return _public_merge(row) if row is not None and len(pair) == 2 else None


def pair_records(runtime: Runtime, acc: Access, rt: RecordTypeDef, pair_id: int) -> tuple[int, int]:
    """The two records of a queued pair, older first (what a merge screen opens with)."""
    with transaction(runtime.control) as conn:
        row = conn.execute(
            select(PAIRS.c.record_a, PAIRS.c.record_b).where(
                PAIRS.c.id == pair_id, PAIRS.c.record_type_id == rt.id, PAIRS.c.type_b == 0
            )
        ).first()
    if row is None:
        raise NotFound("pair not found")
    return int(row[0]), int(row[1])


def _public_merge(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "survivor": row["survivor_id"],
        "loser": row["loser_id"],
        "survivor_before": row["survivor_before"],
        "at": row["created_at"],
        "by": row["created_by"],
        "undone": row["undone_at"] is not None,
    }


# ---- steps -----------------------------------------------------------------------------


def _live(conn: Connection, rt: RecordTypeDef, ids: list[int]) -> list[dict[str, Any]]:
    rows = conn.execute(rt.lock_by_ids, {"record_ids": ids}).mappings().all()
    by_id = {r["id"]: r for r in load_records(conn, rt, rows) if "deleted_at" not in r}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"record {missing[0]} not found (or deleted)")
    return [by_id[i] for i in ids]


def _write_survivor(
    tx: Tx,
    acc: Access,
    rt: RecordTypeDef,
    survivor_id: int,
    values: dict[str, Any],
    *,
    loosen: restrictive.Loosening | None = None,
) -> dict[str, Any]:
    """The survivor's new values through the ordinary write path: validation, uniqueness,
    dedupe keys and the activity history all apply."""
    item = Item(0, Parsed(values=_parsed(rt, values, acc)), record_id=survivor_id)
    # A merge chooses between values already on file: a field a connection owns may take
    # the loser's value (the owner wrote both), so ownership is not checked here.
    (outcome,) = write_batch(
        tx,
        acc.principal,
        rt,
        [item],
        check_clashes=True,
        ctx=RuleContext(acc.phone_region),
        check_owners=False,
        loosen=loosen,
    )
    if outcome.error is not None:
        raise outcome.error
    assert outcome.record is not None
    return outcome.record


def _parsed(rt: RecordTypeDef, values: dict[str, Any], acc: Access) -> dict[str, Any]:
    """Values from records (or a person's override) validated as input again."""
    ctx, parsed, errors = ValueContext(acc.phone_region), {}, {}
    for key, value in values.items():
        f = rt.field_by_key(key)
        if f is None or f.type.outside_record:  # a file field's files move with the merge
            continue
        try:
            parsed[key] = f.type.parse(f, activity.jsonable(value), ctx)
        except FieldError as exc:
            errors[key] = str(exc)
    if errors:
        raise ValidationFailed("invalid values", fields=errors)
    return parsed


def _inbound_links(
    runtime: Runtime, acc: Access, rt: RecordTypeDef
) -> list[tuple[RecordTypeDef, Any]]:
    """Every relation field in the workspace that points at records of ``rt``."""
    found = []
    for item in record_types.list_types(runtime, acc):
        other = record_types.get_type(runtime, acc, item["id"])
        for f in other.link_fields:
            if f.type.name == "relation" and f.config.get("target") == rt.id:
                found.append((other, f))
    return found


def _move_links(
    tx: Tx, acc: Access, inbound: list[tuple[RecordTypeDef, Any]], loser: int, survivor: int
) -> list[dict[str, Any]]:
    """Point links at the loser to the survivor; a record linked to both keeps one link."""
    moved = []
    for other, f in inbound:
        link = other.link_table(f)
        holders = set(
            tx.data.execute(select(link.c.record_id).where(link.c.value == loser)).scalars()
        )
        both = (
            set(
                tx.data.execute(
                    select(link.c.record_id).where(
                        link.c.value == survivor, link.c.record_id.in_(holders)
                    )
                ).scalars()
            )
            if holders
            else set()
        )
        for record_id in sorted(holders):
            mine = and_(link.c.record_id == record_id, link.c.value == loser)
            if record_id in both:
                tx.data.execute(delete(link).where(mine))
            else:
                tx.data.execute(update(link).where(mine).values(value=survivor))
            touch_row(tx.data, other, record_id, _touched(acc))
            moved.append({"field": f.id, "record": record_id, "dropped": record_id in both})
            change = activity.change(f.key, [loser], [survivor])
            entry = activity.Entry(record_id, "update", [change])
            activity.write(tx.control, acc.principal, acc.workspace_id, other.id, [entry])
    return moved


def _touched(acc: Access) -> dict[str, Any]:
    return {"updated_at": utcnow(), "updated_by": acc.user_id}


def _restore_links(
    tx: Tx,
    acc: Access,
    inbound: list[tuple[RecordTypeDef, Any]],
    moved: list[dict[str, Any]],
    loser: int,
    survivor: int,
) -> None:
    by_field = {f.id: (other, f) for other, f in inbound}
    for step in moved:
        if step.get("field") not in by_field:
            continue  # the relation field was deleted since (or a step of record_work)
        other, f = by_field[step["field"]]
        link = other.link_table(f)
        if step["dropped"]:
            tx.data.execute(insert(link).values(record_id=step["record"], value=loser))
        else:
            tx.data.execute(
                update(link)
                .where(link.c.record_id == step["record"], link.c.value == survivor)
                .values(value=loser)
            )
        touch_row(tx.data, other, step["record"], _touched(acc))
        entry = activity.Entry(
            step["record"], "update", [activity.change(f.key, [survivor], [loser])]
        )
        activity.write(tx.control, acc.principal, acc.workspace_id, other.id, [entry])


def _note(tx: Tx, acc: Access, rt: RecordTypeDef, survivor: int, loser: int, action: str) -> None:
    """History on both records: which one went into which."""
    entries = [
        activity.Entry(survivor, action, [activity.change("merged_record", None, loser)]),
        activity.Entry(loser, action, [activity.change("merged_into", None, survivor)]),
    ]
    activity.write(tx.control, acc.principal, acc.workspace_id, rt.id, entries)


def _close_pairs(
    conn: Connection, rt: RecordTypeDef, loser: int, user_id: int, status: str
) -> None:
    conn.execute(
        update(PAIRS)
        .where(
            PAIRS.c.status == "open",
            # the loser on either side, also of a pair across types
            ((PAIRS.c.record_type_id == rt.id) & (PAIRS.c.record_a == loser))
            | (
                (PAIRS.c.record_type_id == rt.id)
                & (PAIRS.c.type_b == 0)
                & (PAIRS.c.record_b == loser)
            )
            | ((PAIRS.c.type_b == rt.id) & (PAIRS.c.record_b == loser)),
        )
        .values(status=status, decided_at=utcnow(), decided_by=user_id)
    )


def _reopen_pair(conn: Connection, rt: RecordTypeDef, survivor: int, loser: int) -> None:
    a, b = sorted((survivor, loser))
    conn.execute(
        update(PAIRS)
        .where(
            PAIRS.c.record_type_id == rt.id,
            PAIRS.c.type_b == 0,
            PAIRS.c.record_a == a,
            PAIRS.c.record_b == b,
        )
        .values(status="open", decided_at=None, decided_by=None)
    )
